"""Day-1 readiness harness: the core (inventory, engine, results, reports, CLI).

The core knows nothing about LDAP, SIP or any other protocol: check families in
``readiness_checks`` (the ``checks/`` folder) and third-party plug-ins do.
"""

__version__ = "0.2.0"
