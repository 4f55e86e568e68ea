"""Real servers for the mail family's tests, on a slot claimed for the session.

* ``mail_estate``: BIND with two views (two resolver addresses that disagree on one
  domain's MX), zones with every SPF, DMARC and DKIM case the tests need, a zone that
  does not load (SERVFAIL), and three Postfix instances built by the lab's own mail
  module: ``main`` (known, rejected and greylisted mailboxes, drops the session after
  5 errors), ``catchall`` (accepts any address; a certificate for another name; no
  PIPELINING) and
  ``badtls`` (STARTTLS offered, a handshake modern clients refuse; one session per
  client at a time, so a second gets 421 at the banner), and ``plain`` (no STARTTLS).
  Plus an address where nothing
  listens (refused), a listener that resets every connection, and a resolver that
  never answers (timeout).
"""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from readiness_lab import mail
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor, run, tcp_ready
from readiness_lab.slot import Slot
from tests.checks.conftest import free_port
from tests.listeners import resetting_listener

USERS = [f"user{i:04d}@ok.test" for i in range(300)]
REJECTED = ["carol@ok.test", "nobody1@ok.test"]
DEFERRED = ["grey@ok.test"]
KNOWN = ["alice@ok.test", "bob@ok.test", "old.alice@legacy.test", "known@fallback.test", *USERS]


def _dkim(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _txt(value: str) -> str:
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


@dataclass
class MailEstate:
    slot: Slot
    resolver: str  # the first view
    second: str  # the second view: another MX for split.test
    silent: str  # a resolver that never answers
    ca: Path
    addresses: dict[str, str]  # role -> address (main, catchall, badtls, refused, reset)
    base: Path
    log: Path

    def queries(self) -> list[tuple[str, str]]:
        import re

        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [(m[0].lower(), m[1]) for m in re.findall(r"query: (\S+) IN (\S+) ", text)]


def _zones(a: dict[str, str], weak: str, strong: str) -> dict[str, str]:
    head = (
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n"
    )
    includes = " ".join(f"include:i{n}.ok.test" for n in range(1, 12))
    big = "\n".join(f'big IN TXT "filler record {n:02d} {"x" * 60}"' for n in range(12))
    ok = (
        head
        + f"""
@ IN MX 10 mx1
mx1 IN A {a["main"]}
sender IN A 192.0.2.7
stranger IN A 192.0.2.99
@ IN TXT "v=spf1 a:mx1.ok.test include:_spf.ok.test -all"
_spf IN TXT "v=spf1 a:sender.ok.test -all"
_dmarc IN TXT "v=DMARC1; p=reject; sp=quarantine; pct=100; rua=mailto:d@ok.test"
s1._domainkey IN TXT {_txt(f"v=DKIM1; k=rsa; p={strong}")}
weak._domainkey IN TXT {_txt(f"v=DKIM1; k=rsa; p={weak}")}
alias._domainkey IN CNAME s1._domainkey
revoked._domainkey IN TXT "v=DKIM1; p="
autodiscover IN CNAME mx1
_mta-sts IN TXT "v=STSv1; id=20260101"
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls@ok.test"
two IN MX 10 mx1.ok.test.
two IN TXT "v=spf1 a:sender.ok.test -all"
two IN TXT "v=spf1 -all"
loop IN MX 10 mx1.ok.test.
loop IN TXT "v=spf1 include:loop2.ok.test -all"
loop2 IN TXT "v=spf1 include:loop.ok.test -all"
redirect IN MX 10 mx1.ok.test.
redirect IN TXT "v=spf1 redirect=_spf.ok.test"
void IN MX 10 mx1.ok.test.
void IN TXT "v=spf1 a:nx1.ok.test a:nx2.ok.test a:nx3.ok.test a:sender.ok.test -all"
many IN MX 10 mx1.ok.test.
many IN TXT "v=spf1 {includes} a:sender.ok.test -all"
{chr(10).join(f'i{n} IN TXT "v=spf1 ip4:198.51.100.{n} -all"' for n in range(1, 12))}
malformed IN MX 10 mx1.ok.test.
malformed IN TXT "v=spf1 ip4:not-an-address -all"
_dmarc.malformed IN TXT "v=DMARC1; p=bogus"
big IN MX 10 mx1.ok.test.
big IN TXT "v=spf1 a:sender.ok.test -all"
{big}
_dmarc.big IN TXT "v=DMARC1; p=none; rua=mailto:d@ok.test"
nomx IN TXT "v=spf1 -all"
"""
    )
    return {
        "ok.test": ok,
        "legacy.test": head + '@ IN MX 10 mx1.ok.test.\n@ IN TXT "v=spf1 -all"\n',
        "catch.test": head + f"@ IN MX 10 mx\nmx IN A {a['catchall']}\n",
        "badtls.test": head + f"@ IN MX 10 mx\nmx IN A {a['badtls']}\n",
        "refused.test": head + f"@ IN MX 10 mx\nmx IN A {a['refused']}\n",
        "reset.test": head + f"@ IN MX 10 mx\nmx IN A {a['reset']}\n",
        "plain.test": head + f"@ IN MX 10 mx\nmx IN A {a['plain']}\n",
        "fallback.test": head + "@ IN MX 10 mx.refused.test.\n@ IN MX 20 mx1.ok.test.\n",
        "split.test": head + "@ IN MX 10 mx1.ok.test.\n",
    }


def _conf(base: Path, views: dict[str, tuple[str, dict[str, Path]]], port: int, log: Path) -> str:
    listen = " ".join(f"{addr};" for addr, _ in views.values())
    out = f"""
options {{
    directory "{base}";
    pid-file "{base}/named.pid";
    session-keyfile "{base}/session.key";
    listen-on port {port} {{ {listen} }};
    listen-on-v6 {{ none; }};
    recursion no;
    querylog yes;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
logging {{
    channel q {{ file "{log}"; print-time yes; }};
    category queries {{ q; }};
    channel main {{ file "{base}/named.log"; severity info; }};
    category default {{ main; }};
}};
"""
    for name, (addr, zones) in views.items():
        out += f'view "{name}" {{\n    match-destinations {{ {addr}; }};\n'
        out += "".join(
            f'    zone "{z}" {{ type primary; file "{p}"; }};\n' for z, p in zones.items()
        )
        out += "};\n"
    return out


@pytest.fixture(scope="session")
def mail_estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailEstate]:
    base = tmp_path_factory.mktemp("mail-estate")
    with claimed(base / "claim") as slot, contextlib.ExitStack() as stack:
        addresses = {
            "dns": slot.host(0, 53),
            "dns2": slot.host(0, 54),
            "main": slot.host(5, 25),
            "catchall": slot.host(5, 26),
            "badtls": slot.host(5, 27),
            "refused": slot.host(5, 28),
            "reset": slot.host(5, 29),
            "plain": slot.host(5, 30),
        }
        for address in addresses.values():
            run(["ip", "addr", "replace", f"{address}/32", "dev", "lo"])
            stack.callback(run, ["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)
        ca = LabCA(base / "ca")
        # DNS: two views, the second serving another MX for split.test.
        zones = _zones(addresses, _dkim(1024), _dkim(2048))
        first: dict[str, Path] = {}
        for zone, text in zones.items():
            first[zone] = base / f"{zone}.zone"
            first[zone].write_text(text)
        (base / "broken.test.zone").write_text("$TTL 300\n@ IN SOA this is not a zone\n")
        first["broken.test"] = base / "broken.test.zone"
        second = dict(first)
        second["split.test"] = base / "split.test.second.zone"
        second["split.test"].write_text(
            zones["split.test"].replace("mx1.ok.test.", "mx-old.legacy.test.")
        )
        port = free_port(addresses["dns"])
        log = base / "query.log"
        conf = base / "named.conf"
        conf.write_text(
            _conf(
                base,
                {"one": (addresses["dns"], first), "two": (addresses["dns2"], second)},
                port,
                log,
            )
        )
        dns_sup = Supervisor(base / "dns-state")
        dns_sup.start(
            "named",
            ["named", "-f", "-4", "-u", "root", "-c", str(conf), "-n", "1"],
            ready=tcp_ready(addresses["dns"], port),
            ready_timeout=20,
        )
        stack.callback(dns_sup.stop)
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
        silent.bind((addresses["dns"], 0))
        stack.callback(silent.close)
        # Postfix: three instances of the lab's own mail server.
        specs = {
            "main": mail.MailSpec(
                KNOWN,
                ["ok.test", "legacy.test", "fallback.test"],
                REJECTED,
                address=addresses["main"],
                hostname="mx1.ok.test",
                deferred=DEFERRED,
                hard_error_limit=5,
            ),
            "catchall": mail.MailSpec(
                ["known@catch.test"],
                ["catch.test"],
                address=addresses["catchall"],
                hostname="mx.catch.test",
                catch_all=["catch.test"],
                certificate_names=["wrong-host.catch.test"],
                pipelining=False,
            ),
            "badtls": mail.MailSpec(
                ["known@badtls.test"],
                ["badtls.test"],
                address=addresses["badtls"],
                hostname="mx.badtls.test",
                tls_refused=True,
                connection_limit=1,
            ),
            "plain": mail.MailSpec(
                ["known@plain.test"],
                ["plain.test"],
                address=addresses["plain"],
                hostname="mx.plain.test",
                starttls=False,
            ),
        }
        for name, spec in specs.items():
            sup = Supervisor(base / f"postfix-{name}")
            mail.start(spec, sup, ca)
            stack.callback(mail.stop, sup)
        listener, _ = resetting_listener(addresses["reset"], 25)
        stack.callback(listener.close)
        yield MailEstate(
            slot,
            f"{addresses['dns']}:{port}",
            f"{addresses['dns2']}:{port}",
            f"{addresses['dns']}:{silent.getsockname()[1]}",
            ca.cert_path,
            addresses,
            base,
            log,
        )


# The OpenSSH jump host of the network tests (its own claimed slot), for the mail
# family probed from an SSH vantage point.
from tests.checks.conftest import checks_slot, sshd  # noqa: E402, F401
