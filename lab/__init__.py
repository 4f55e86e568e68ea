"""The lab: an estate of real servers for two merging organisations.

Installed as ``readiness_lab``. The readiness engine never imports it: the lab is a
tool for trying the product, rehearsing a sweep and testing check families against
the real server software organisations run (slapd, Samba AD, BIND, nginx, Postfix,
kamailio/SIPp, OpenSSH, network namespaces).
"""
