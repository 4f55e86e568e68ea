"""`readiness sweep`, unchanged, with the operations it sent counted (used by the benchmarks).

    .venv/bin/python bench/counted_sweep.py COUNTS.json sweep INVENTORY [sweep options]

Runs the real command line (``readiness.cli.main``) in this process and, when it ends,
writes COUNTS.json: the counters the core and the families already keep (DNS queries:
``readiness.net.dns.QUERIES``; LDAP operations by kind: the identity family's
``OPERATIONS``; SMTP sessions and RCPTs: the mail family's ``STATS``; HTTP requests: the
applications family's ``REQUESTS``; SIP transactions, transmissions and sockets: the
telephony family's ``STATS``), plus two this wrapper adds because no family keeps them
for all families at once: TLS handshakes (every ``ssl`` handshake this process ran, any
family, counted on ``SSLSocket.do_handshake`` / ``SSLObject.do_handshake``) and SSH
channels (paramiko ``Transport.open_channel``). It also writes the process's peak RSS
(``getrusage``), its CPU time and the exit code. Nothing of the sweep is changed.
"""

from __future__ import annotations

import json
import resource
import ssl
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_added: dict[str, int] = {"tls_handshakes": 0, "ssh_channels": 0}


def _bump(key: str) -> None:
    with _lock:
        _added[key] += 1


def _instrument() -> None:
    """Count TLS handshakes and SSH channels without changing what they do."""
    plain_socket = ssl.SSLSocket.do_handshake
    plain_object = ssl.SSLObject.do_handshake

    def socket_handshake(self: ssl.SSLSocket, *args: Any, **kwargs: Any) -> None:
        _bump("tls_handshakes")  # blocking: one call is one handshake, whatever it ends in
        plain_socket(self, *args, **kwargs)

    def object_handshake(self: ssl.SSLObject) -> None:
        try:
            plain_object(self)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # not finished yet: counted when it ends
        except ssl.SSLError:
            _bump("tls_handshakes")
            raise
        _bump("tls_handshakes")

    ssl.SSLSocket.do_handshake = socket_handshake  # type: ignore[method-assign]
    ssl.SSLObject.do_handshake = object_handshake  # type: ignore[method-assign]

    import paramiko

    plain_channel: Callable[..., Any] = paramiko.Transport.open_channel

    def open_channel(self: paramiko.Transport, *args: Any, **kwargs: Any) -> Any:
        _bump("ssh_channels")
        return plain_channel(self, *args, **kwargs)

    paramiko.Transport.open_channel = open_channel  # type: ignore[method-assign]


def counts() -> dict[str, Any]:
    """Every counter, as plain numbers."""
    from readiness.net.dns import QUERIES
    from readiness_checks.applications.http import REQUESTS
    from readiness_checks.identity.client import OPERATIONS
    from readiness_checks.mail.people import STATS as MAIL
    from readiness_checks.telephony.sip import STATS as SIP

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "dns_queries": QUERIES.total,
        "ldap_searches": OPERATIONS.total(op="search"),
        "ldap_pages": OPERATIONS.total(op="page"),
        "ldap_operations": OPERATIONS.total(),
        "smtp_sessions": MAIL.sessions,
        "smtp_rcpts": MAIL.rcpts,
        "http_requests": REQUESTS.count,
        "sip_transactions": SIP.transactions,
        "sip_transmissions": SIP.transmissions,
        **_added,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    out = Path(sys.argv[1])
    _instrument()
    from readiness.cli import main as readiness

    started = time.perf_counter()
    code = readiness(sys.argv[2:])
    wall = time.perf_counter() - started
    out.write_text(json.dumps({**counts(), "wall_s": wall, "exit_code": code}), "utf-8")
    sys.exit(code)


if __name__ == "__main__":
    main()
