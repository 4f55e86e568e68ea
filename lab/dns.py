"""BIND (named), authoritative for northvale.test, southmere.test and valeshared.test.

Public API (lab/up.py calls it)::

    info = start(estate, plan, sup, state_dir, hosts=hosts, site_hosts=..., site_listen=...)
    stop(sup, state_dir)

Everything lives in ``<state>/dns/``: ``named.conf``, one zone file per domain,
the DKIM key pair of the shared domain. Configuration and zones are checked with
``named-checkconf`` / ``named-checkzone`` before named starts (``named -4 -f``,
``recursion no``). named listens on the slot's DNS address, 127.N.0.53:53
(udp+tcp; the address is added to ``lo`` if missing and removed again by
:func:`stop`) and, when the site namespaces exist, on the host side of the router
link (10.N.0.1) so that site resolvers work.

Records: A for every server of the address plan, MX (every domain -> the shared
platform, coexistence), SPF, DMARC, DKIM (TXT at the shared domain, CNAMEs from the
old domains, as platforms publish them), NAPTR and SRV for SIP (``_sip._udp``,
``_sip._tcp``, and ``_sips._tcp`` when kamailio offers TLS), LDAP and Kerberos,
autodiscover/autoconfig. DNS faults from the fault plan: a domain without
``_dmarc``, an SPF record without the shared mail server, and an old platform's DKIM
selector (``legacy2019``) with a 1024-bit key.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .estate import AD_DOMAIN, SHARED_DOMAIN, Estate
from .faults import DKIM_WEAK, DMARC_MISSING, LEGACY_SELECTOR, SPF_MISSING_SHARED, FaultPlan
from .process import LabError, Supervisor, run, tcp_ready

__all__ = ["DKIM_SELECTOR", "DnsInfo", "render", "start", "stop", "zone_text"]

NAME = "named"
SERIAL = 2027010401
TTL = 300
DKIM_SELECTOR = "vale2026"
DMARC_SHARED = f"v=DMARC1; p=reject; sp=reject; pct=100; rua=mailto:dmarc-reports@{SHARED_DOMAIN}"


@dataclass(frozen=True)
class DnsInfo:
    pid: int
    listen: tuple[str, ...]
    conf: Path
    zones: dict[str, Path]


def _dkim_public(directory: Path, name: str = DKIM_SELECTOR, bits: int = 2048) -> str:
    """A DKIM public key (base64 DER), generated once per state folder: the shared
    domain's, or an old platform's (``name``, ``bits``)."""
    key_path = directory / f"dkim-{name}.key"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _txt(value: str) -> str:
    """A TXT value in quoted chunks of at most 255 characters."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


def _relative(name: str, domain: str) -> str:
    if name == domain:
        return "@"
    return name[: -len(domain) - 1]


def zone_text(
    domain: str,
    estate: Estate,
    faults: FaultPlan,
    hosts: Mapping[str, str],
    dkim_public: str,
    sip_tls: bool = True,
    legacy_dkim: tuple[str, str] = ("", ""),
) -> str:
    """The zone file of ``domain`` (pure); ``_sips._tcp`` only when SIP over TLS runs.
    ``legacy_dkim``: the old platforms' selector keys (a 2048-bit one, and the 1024-bit
    one of the domain with the weak-key fault)."""
    broken_dmarc = {f.subject.partition(":")[2] for f in faults.of_kind(DMARC_MISSING)}
    broken_spf = {f.subject.partition(":")[2] for f in faults.of_kind(SPF_MISSING_SHARED)}
    weak_dkim = {f.subject.partition(":")[2] for f in faults.of_kind(DKIM_WEAK)}
    mail = f"mail.{SHARED_DOMAIN}."
    sip = f"sip.{SHARED_DOMAIN}."
    lines = [
        f"$ORIGIN {domain}.",
        f"$TTL {TTL}",
        f"@ IN SOA ns1.{domain}. hostmaster.{domain}. ({SERIAL} 3600 600 86400 {TTL})",
        f"@ IN NS ns1.{domain}.",
        f"@ IN MX 10 {mail}",
    ]
    for name, address in sorted(hosts.items()):
        if name == domain or name.endswith("." + domain):
            lines.append(f"{_relative(name, domain)} IN A {address}")
    orgs = {o.domain: o for o in estate.organisations}
    if domain == SHARED_DOMAIN:
        senders = " ".join(f"a:smtp.{o.domain}" for o in estate.organisations)
        lines += [
            f"@ IN TXT {_txt(f'v=spf1 mx {senders} -all')}",
            f"_dmarc IN TXT {_txt(DMARC_SHARED)}",
            f"{DKIM_SELECTOR}._domainkey IN TXT {_txt(f'v=DKIM1; k=rsa; p={dkim_public}')}",
            f"autodiscover IN CNAME {mail}",
            f"autoconfig IN CNAME {mail}",
            f"_autodiscover._tcp IN SRV 0 0 443 {mail}",
            f"_sip._udp IN SRV 10 50 5060 {sip}",
            f"_sip._tcp IN SRV 10 50 5060 {sip}",
            *([f"_sips._tcp IN SRV 10 50 5061 {sip}"] if sip_tls else []),
            # RFC 3263: NAPTR names the SRV record of each transport the domain offers.
            f'@ IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.{domain}.',
            f'@ IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.{domain}.',
            *([f'@ IN NAPTR 5 50 "s" "SIPS+D2T" "" _sips._tcp.{domain}.'] if sip_tls else []),
            f"_submission._tcp IN SRV 0 1 587 {mail}",
        ]
        ad = _relative(AD_DOMAIN, domain)
        dc = f"dc1.{AD_DOMAIN}."
        lines += [
            f"_ldap._tcp.{ad} IN SRV 0 100 389 {dc}",
            f"_ldap._tcp.dc._msdcs.{ad} IN SRV 0 100 389 {dc}",
            f"_kerberos._tcp.{ad} IN SRV 0 100 88 {dc}",
            f"_kerberos._udp.{ad} IN SRV 0 100 88 {dc}",
            f"_gc._tcp.{ad} IN SRV 0 100 3268 {dc}",
        ]
    elif domain in orgs:
        org = orgs[domain]
        spf = f"v=spf1 a:smtp.{domain} a:{mail[:-1]} -all"
        if domain in broken_spf:
            spf = f"v=spf1 a:smtp.{domain} -all"
        lines.append(f"@ IN TXT {_txt(spf)}")
        if domain not in broken_dmarc:
            dmarc = f"v=DMARC1; p=quarantine; pct=100; rua=mailto:dmarc@{domain}"
            lines.append(f"_dmarc IN TXT {_txt(dmarc)}")
        legacy = legacy_dkim[1] if domain in weak_dkim else legacy_dkim[0]
        if legacy:
            key = f"v=DKIM1; k=rsa; p={legacy}"
            lines.append(f"{LEGACY_SELECTOR}._domainkey IN TXT {_txt(key)}")
        lines += [
            f"{DKIM_SELECTOR}._domainkey IN CNAME {DKIM_SELECTOR}._domainkey.{SHARED_DOMAIN}.",
            f"autodiscover IN CNAME autodiscover.{SHARED_DOMAIN}.",
            f"_ldap._tcp IN SRV 0 100 389 {org.ldap_host}.",
            f"_ldaps._tcp IN SRV 0 100 636 {org.ldap_host}.",
            f"_sip._udp IN SRV 10 50 5060 pbx.{domain}.",
        ]
    return "\n".join(lines) + "\n"


def _conf(
    directory: Path,
    listen: Sequence[str],
    zones: Mapping[str, Path],
    site_zones: Mapping[str, Path] | None = None,
    site_listen: str = "",
) -> str:
    addresses = " ".join(f"{a};" for a in listen)
    out = [
        "options {",
        f'    directory "{directory}";',
        f'    pid-file "{directory}/named.pid";',
        f'    session-keyfile "{directory}/session.key";',
        f'    managed-keys-directory "{directory}";',
        f"    listen-on port 53 {{ {addresses} }};",
        "    listen-on-v6 { none; };",
        "    recursion no;",
        "    allow-query { any; };",
        "    allow-transfer { none; };",
        "    dnssec-validation no;",
        "    notify no;",
        "    interface-interval 0;",
        "};",
        "controls { };",
        "logging {",
        "    channel default_stderr { stderr; severity info; };",
        "    category default { default_stderr; };",
        "    category lame-servers { null; };",
        "};",
    ]
    if site_zones:
        out.append(f'view "sites" {{\n    match-destinations {{ {site_listen}; }};')
        out += [f'    zone "{d}" {{ type primary; file "{p}"; }};' for d, p in site_zones.items()]
        out.append("};")
        out.append('view "host" {\n    match-clients { any; };')
        out += [f'    zone "{d}" {{ type primary; file "{p}"; }};' for d, p in zones.items()]
        out.append("};")
    else:
        out += [f'zone "{d}" {{ type primary; file "{p}"; }};' for d, p in zones.items()]
    return "\n".join(out) + "\n"


def render(
    estate: Estate,
    faults: FaultPlan,
    state_dir: Path,
    *,
    hosts: Mapping[str, str] | None = None,
    listen: Sequence[str] = (),
    site_hosts: Mapping[str, str] | None = None,
    site_listen: str = "",
    sip_tls: bool = True,
) -> tuple[Path, dict[str, Path]]:
    """Write ``<state>/dns/named.conf`` and the zones, and check them with BIND's tools.

    named listens on ``listen`` (default: the estate's DNS address). With
    ``site_hosts``, queries sent to ``site_listen`` (the site resolver) get those
    addresses instead (a ``sites`` view; see lab/gateway.py).
    """
    directory = (state_dir / "dns").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    hosts = dict(hosts if hosts is not None else estate.hosts())
    dkim = _dkim_public(directory)
    legacy = (
        _dkim_public(directory, LEGACY_SELECTOR),
        _dkim_public(directory, f"{LEGACY_SELECTOR}-weak", 1024),
    )

    def write_zones(suffix: str, addresses: Mapping[str, str]) -> dict[str, Path]:
        zones: dict[str, Path] = {}
        for domain in (SHARED_DOMAIN, *(o.domain for o in estate.organisations)):
            path = directory / f"{domain}{suffix}.zone"
            path.write_text(
                zone_text(domain, estate, faults, addresses, dkim, sip_tls, legacy),
                encoding="utf-8",
            )
            run(["named-checkzone", "-q", domain, str(path)])
            zones[domain] = path
        return zones

    zones = write_zones("", hosts)
    site_zones = write_zones(".sites", site_hosts) if site_hosts and site_listen else None
    conf = directory / "named.conf"
    conf.write_text(
        _conf(directory, listen or (estate.slot.dns,), zones, site_zones, site_listen),
        encoding="utf-8",
    )
    run(["named-checkconf", "-z", str(conf)])
    return conf, zones


def _has_address(address: str) -> bool:
    out = run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    return any(f" {address}/" in line for line in out.splitlines())


def _added_file(state_dir: Path) -> Path:
    return state_dir / "dns" / "added-addresses.json"


def start(
    estate: Estate,
    faults: FaultPlan,
    sup: Supervisor,
    state_dir: Path,
    *,
    hosts: Mapping[str, str] | None = None,
    site_hosts: Mapping[str, str] | None = None,
    site_listen: str = "",
    sip_tls: bool = True,
) -> DnsInfo:
    """Render, check and start named; returns once it answers on the slot's 127.N.0.53:53.

    ``site_listen`` (10.N.0.1 when the namespaces exist) is listened on too and
    answers with ``site_hosts``.
    """
    sup.stop(NAME)
    dns_ip = estate.slot.dns
    listen = (dns_ip, site_listen) if site_listen else (dns_ip,)
    conf, zones = render(
        estate,
        faults,
        state_dir,
        hosts=hosts,
        listen=listen,
        site_hosts=site_hosts,
        site_listen=site_listen,
        sip_tls=sip_tls,
    )
    added: list[str] = []
    if not _has_address(dns_ip):
        run(["ip", "addr", "add", f"{dns_ip}/32", "dev", "lo"])
        added.append(dns_ip)
    _added_file(state_dir).write_text(json.dumps(added))
    missing = [a for a in listen if not _has_address(a)]
    if missing:
        raise LabError(
            f"named cannot listen on {', '.join(missing)}: no such local address "
            "(are the site namespaces up?)"
        )
    managed = sup.start(
        NAME, ["named", "-4", "-f", "-c", str(conf)], ready=tcp_ready(dns_ip, 53), ready_timeout=30
    )
    return DnsInfo(managed.pid, listen, conf, zones)


def stop(sup: Supervisor, state_dir: Path) -> None:
    """Stop named by PID and remove the loopback address it needed (if the lab added it)."""
    sup.stop(NAME)
    path = _added_file(state_dir)
    if path.exists():
        for address in json.loads(path.read_text()):
            run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
