"""Every injected fault, seen on the real server with the standard client tools (issue 3).

For each fault kind lab/faults.py can inject (its ``KINDS`` table) one observer runs
the command-line client an administrator would use against the running lab and
asserts what the ground truth (``<state>/ground-truth.json``) says was injected,
next to a healthy counterpart that shows the same probe can see "good":

==========================  ===================================================
directory faults            ``ldapsearch`` (StartTLS/LDAPS, the lab CA, the
                            read-only service account, operational attributes
                            asked for by name): slapd ppolicy attributes,
                            Samba AD userAccountControl & co.
dmarc / spf                 ``dig`` (what tests/lab/test_lab.py does not cover:
                            the authoritative NXDOMAIN, the sites' resolver,
                            SPF evaluated mechanism by mechanism)
mailbox rejected            ``swaks`` (STARTTLS, verified; stops after RCPT)
extension / endpoint        ``sipp`` (OPTIONS scenario) and ``curl`` of
                            kamailio's JSON-RPC ``ul.dump``; SBC over TLS:
                            ``openssl s_client`` (names, and one OPTIONS)
extension plan              the inventory's files, ``ldapsearch`` telephoneNumber
certificates, 503           ``openssl s_client`` and ``curl --cacert``
flow blocked                ``ssh -W`` through the site's jump host
resource exposed            ``ssh -W`` through the internet's jump host, ``curl``
                            and ``dig`` inside the internet namespace
==========================  ===================================================

A kind without an observer, or a ground-truth kind the lab does not show, FAILS.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from readiness_lab.estate import INTERNET, SHARED_DOMAIN, Directory, Person
from readiness_lab.faults import (
    ACCOUNT_DISABLED,
    ACCOUNT_LOCKED,
    ACCOUNT_MISSING,
    APP_503,
    CERT_EXPIRED,
    CERT_EXPIRING,
    CERT_UNKNOWN_CA,
    CERT_WRONG_HOST,
    DIRECTORY_NUMBER_MISMATCH,
    DKIM_WEAK,
    DMARC_MISSING,
    EXTENSION_COLLISION,
    EXTENSION_OUT_OF_RANGE,
    EXTENSION_UNREGISTERED,
    FLOW_BLOCKED,
    GROUP_MISSING,
    HR_MISMATCH,
    KINDS,
    MAIL_MISSING,
    MAIL_WRONG_DOMAIN,
    MAILBOX_GREYLISTED,
    MAILBOX_REJECTED,
    PASSWORD_EXPIRED,
    PASSWORD_MUST_CHANGE,
    RESOURCE_EXPOSED,
    SIP_CERT_WRONG_HOST,
    SIP_ENDPOINT_503,
    SIP_ENDPOINT_DOWN,
    SPF_MISSING_SHARED,
    VANTAGE_UNTRUSTED,
    Fault,
)
from readiness_lab.gateway import twin
from readiness_lab.pytest_fixtures import LabHandle
from readiness_lab.sip import options_scenario
from readiness_lab.slapd import PERMANENT_LOCK
from readiness_lab.slot import Slot
from readiness_lab.web import EXPIRING_DAYS

pytestmark = [pytest.mark.integration, pytest.mark.lab]

TOOLS = ("ldapsearch", "dig", "swaks", "sipp", "openssl", "curl", "ssh", "timeout", "ip")
UTC = dt.UTC
Entry = dict[str, list[str]]  # lower-cased attribute -> values ("dn" included)

LDAP_ATTRS = (
    "uid",
    "mail",
    "pwdAccountLockedTime",
    "pwdFailureTime",
    "pwdReset",
    "pwdChangedTime",
    "pwdPolicySubentry",
    "memberOf",
    "telephoneNumber",
    "employeeNumber",
    "sn",
)
AD_ATTRS = (
    "sAMAccountName",
    "mail",
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "lockoutTime",
    "badPwdCount",
    "pwdLastSet",
    "memberOf",
)
# userAccountControl / msDS-User-Account-Control-Computed bits (MS-ADTS 2.2.16)
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_PASSWORD_EXPIRED = 0x800000
BLOCKED_WAIT = 4  # seconds a blocked flow is given to connect (a DROP never answers)


# --------------------------------------------------------------------------- the probe


@dataclass
class Probe:
    """The running lab plus the standard clients, run as subprocesses."""

    lab: LabHandle
    work: Path  # private scratch folder (0700): scenarios, newline-free password copies
    namespaces: bool
    _passwords: dict[str, Path] = field(default_factory=dict)

    # ---------------------------------------------------------------- generic

    def run(
        self, argv: Sequence[str | Path], *, timeout: float = 20, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [str(a) for a in argv],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                cwd=self.work,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{argv[0]} did not finish within {timeout}s: {' '.join(map(str, argv))}")

    @property
    def ca(self) -> Path:
        return self.lab.ca_bundle

    @property
    def slot(self) -> Slot:
        """Where the lab under test lives: every address is read from it."""
        return self.lab.slot

    # ---------------------------------------------------------------- ldapsearch

    def directory(self, fault: Fault) -> Directory:
        return self.lab.estate.directory(fault.target)

    def password_file(self, d: Directory) -> Path:
        """The service account's password for ``ldapsearch -y``.

        ``-y`` sends the file's complete contents, and the lab's secret files end with
        a newline (the bind would fail with 49), so the test hands ldapsearch a copy
        without it: mode 0600 in the private scratch folder, never on a command line.
        """
        if d.bind_secret not in self._passwords:
            secret = (self.lab.secrets_dir / d.bind_secret).read_text(encoding="utf-8")
            path = self.work / f"{d.id}.pw"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secret.rstrip("\r\n"))
            self._passwords[d.bind_secret] = path
        return self._passwords[d.bind_secret]

    def ldapsearch(
        self, d: Directory, base: str, filt: str, attrs: Sequence[str], scope: str = "sub"
    ) -> list[Entry]:
        # The inventory's URL, with the server's address for its host name (the
        # system resolver knows no .test names; the certificates carry the address).
        url = urlsplit(d.url)
        argv = [
            "ldapsearch",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-x",
            "-H",
            f"{url.scheme}://{d.ip}:{url.port}",
            "-D",
            d.bind_dn,
            "-y",
            str(self.password_file(d)),
            "-b",
            base,
            "-s",
            scope,
            filt,
            *attrs,
        ]
        if d.start_tls:
            argv.insert(4, "-ZZ")  # StartTLS, and fail if it cannot be negotiated
        env = {**os.environ, "LDAPTLS_CACERT": str(self.ca), "LDAPTLS_REQCERT": "demand"}
        out = self.run(argv, env=env)
        assert out.returncode == 0, f"ldapsearch {d.id} {filt}: exit {out.returncode}: {out.stderr}"
        return parse_ldif(out.stdout)

    def person(self, d: Directory, username: str) -> Entry | None:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", username), username
        key, attrs = ("sAMAccountName", AD_ATTRS) if d.kind == "ad" else ("uid", LDAP_ATTRS)
        # The whole directory, not just the people branch: "missing" means nowhere.
        found = self.ldapsearch(d, d.base_dn, f"({key}={username})", attrs)
        assert len(found) <= 1, f"{username} is in {d.id} {len(found)} times"
        return found[0] if found else None

    def present(self, d: Directory, username: str) -> Entry:
        entry = self.person(d, username)
        assert entry is not None, f"{username} is not in {d.id}"
        return entry

    def healthy(self, d: Directory, group: str | None = None) -> tuple[Person, Entry]:
        """A person of ``d`` with no injected fault at all (holding ``group``)."""
        for p in sorted(self.people_of(d), key=lambda x: x.key):
            if p.kind != "staff" or not p.new_mail or self.lab.plan.for_subject(p.key):
                continue
            if group is not None and group not in p.groups:
                continue
            return p, self.present(d, username_in(d, p))
        pytest.fail(f"no fault-free person in {d.id}" + (f" in {group}" if group else ""))

    def people_of(self, d: Directory) -> list[Person]:
        if d.kind == "ad":
            return list(self.lab.estate.migrated)
        return [p for org in d.organisations for p in self.lab.estate.people_of(org)]

    def policy(self, d: Directory, entry: Entry) -> Entry:
        """The ppolicy entry that governs ``entry`` (its own, else the lab default)."""
        dn = first(entry, "pwdpolicysubentry") or f"cn=default,ou=policies,{d.base_dn}"
        found = self.ldapsearch(
            d,
            dn,
            "(objectClass=pwdPolicy)",
            ["pwdMaxAge", "pwdMaxFailure", "pwdLockout", "pwdLockoutDuration"],
            scope="base",
        )
        assert len(found) == 1, f"no password policy {dn} in {d.id}"
        return found[0]

    # ---------------------------------------------------------------- dig

    def dig(self, *args: str, server: str | None = None, netns: str | None = None) -> str:
        argv = ["dig", f"@{server or self.slot.dns}", "+time=2", "+tries=1", *args]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        out = self.run(argv)
        assert out.returncode == 0, f"{' '.join(argv)}: {out.stdout}{out.stderr}"
        return out.stdout

    # ---------------------------------------------------------------- SIP

    def sipp_options(self, target: str, user: str, expect: int) -> subprocess.CompletedProcess[str]:
        """One OPTIONS to ``sip:user@target``: exit 0 iff ``expect`` comes back (3 s)."""
        scenario = self.work / f"options-{expect}.xml"
        if not scenario.exists():
            options_scenario(scenario, expect)
        return self.run(
            [
                "sipp",
                target,
                "-sf",
                scenario,
                "-s",
                user,
                "-m",
                "1",
                "-t",
                "u1",
                "-i",
                "127.0.0.1",
                "-p",
                "0",
                "-timeout",
                "3s",
                "-timeout_error",
                "-nostdin",
            ],
            timeout=15,
        )

    def registered(self) -> set[str]:
        """AORs in kamailio's location table: ``ul.dump`` over JSON-RPC, with curl."""
        body = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1})
        out = self.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-H",
                "Content-Type: application/json",
                "--data",
                body,
                f"http://{self.slot.sip}:5080/RPC",
            ]
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)["result"]
        return {
            str(aor["Info"]["AoR"])
            for domain in result.get("Domains", [])
            for aor in domain["Domain"].get("AoRs", [])
        }

    # ---------------------------------------------------------------- TLS / HTTP

    def s_client(self, host: str, *, check_name: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            "openssl",
            "s_client",
            "-connect",
            f"{self.slot.web}:443",
            "-servername",
            host,
            "-CAfile",
            str(self.ca),
            "-verify_return_error",
        ]
        if check_name:
            argv += ["-verify_hostname", host]
        return self.run(argv)

    def certificate(self, host: str) -> str:
        """``openssl x509`` of what the server presents for ``host`` (dates, names),
        with the exit status of ``-checkend 0`` (1: expired) on the first line."""
        shown = self.run(
            ["openssl", "s_client", "-connect", f"{self.slot.web}:443", "-servername", host]
        )
        pem = re.search(
            r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", shown.stdout, re.S
        )
        assert pem, f"{host}: no certificate presented: {shown.stderr}"
        out = subprocess.run(
            [
                "openssl",
                "x509",
                "-noout",
                "-subject",
                "-enddate",
                "-ext",
                "subjectAltName",
                "-checkend",
                "0",
            ],
            input=pem.group(0),
            capture_output=True,
            text=True,
            check=False,
        )
        return f"checkend={out.returncode}\n{out.stdout}"

    def curl(self, host: str, path: str = "/health") -> tuple[int, str, str]:
        """(curl exit, HTTP status, body + stderr) for ``https://host/path``."""
        out = self.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                str(self.ca),
                "--resolve",
                f"{host}:443:{self.slot.web}",
                "-w",
                "\n%{http_code}",
                f"https://{host}{path}",
            ]
        )
        body, _, code = out.stdout.rpartition("\n")
        return out.returncode, code, body + out.stderr

    # ---------------------------------------------------------------- ssh

    def vantage_point(self, name: str) -> dict[str, Any]:
        sites = yaml.safe_load((self.lab.inventory / "sites.yaml").read_text(encoding="utf-8"))
        vp: dict[str, Any] = sites["vantage_points"][name]
        return vp

    def through_jump(
        self, vantage: str, host: str, port: int, wait: int
    ) -> subprocess.CompletedProcess[str]:
        """``ssh -W host:port`` through a site's jump host, as the inventory describes it
        (user, key from the secrets folder, known_hosts, strict host-key checking);
        ``timeout`` ends it after ``wait`` seconds (exit 124)."""
        vp = self.vantage_point(vantage)
        key = self.lab.secrets_dir / str(vp["key"]).removeprefix("file:")
        known = (self.lab.inventory / str(vp["known_hosts"])).resolve()
        argv = [
            "timeout",
            str(wait),
            "ssh",
            "-v",
            "-F",
            os.devnull,
            "-i",
            str(key),
            "-p",
            str(vp["port"]),
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            "-W",
            f"{host}:{port}",
            f"{vp['user']}@{vp['host']}",
        ]
        return self.run(argv, timeout=wait + 10)


def parse_ldif(text: str) -> list[Entry]:
    entries: list[Entry] = []
    current: Entry = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                entries.append(current)
            current = {}
            continue
        if line.startswith(" ") and current:  # continuation (not with ldif-wrap=no)
            last = next(reversed(current))
            current[last][-1] += line[1:]
            continue
        name, _, value = line.partition(":")
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8")
        else:
            value = value.strip()
        current.setdefault(name.lower(), []).append(value)
    if current:
        entries.append(current)
    return entries


def first(entry: Entry, attr: str) -> str:
    values = entry.get(attr.lower(), [])
    return values[0] if values else ""


def gentime(value: str) -> dt.datetime:
    """An LDAP GeneralizedTime (``20261123015722Z``, fractions ignored)."""
    return dt.datetime.strptime(value.rstrip("Z").split(".")[0], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def number(entry: Entry, attr: str) -> int:
    return int(first(entry, attr) or "0")


def username_in(d: Directory, p: Person) -> str:
    return p.ad_username if d.kind == "ad" else p.username


def group_dn(d: Directory, group: str) -> str:
    if d.kind == "ad":  # its groups base is the domain root; the lab keeps them in an OU
        return f"CN={group},OU=Groups,{d.base_dn}"
    return f"cn={group},{d.groups_base}"


def member_of(entry: Entry) -> set[str]:
    return {v.lower() for v in entry.get("memberof", [])}


def shared_mail(entry: Entry) -> list[str]:
    return [m for m in entry.get("mail", []) if m.lower().endswith("@" + SHARED_DOMAIN)]


# --------------------------------------------------------------------------- identity


def observe_account_missing(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    assert probe.person(d, f.detail("username")) is None, f"{f.subject} is in {d.id}"
    probe.healthy(d)  # the same search finds a healthy colleague


def observe_account_disabled(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    _, ok = probe.healthy(d)
    if d.kind == "ad":
        assert number(entry, "userAccountControl") & UF_ACCOUNTDISABLE, entry
        assert not number(ok, "userAccountControl") & UF_ACCOUNTDISABLE, ok
    else:
        # OpenLDAP has no disabled flag: the administrative (permanent) ppolicy lock.
        assert entry.get("pwdaccountlockedtime") == [PERMANENT_LOCK], entry
        assert "pwdaccountlockedtime" not in ok, ok


def observe_account_locked(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    _, ok = probe.healthy(d)
    if d.kind == "ad":
        # Locked by the DC itself after real failed binds; computed, not stored.
        assert number(entry, "msDS-User-Account-Control-Computed") & UF_LOCKOUT, entry
        assert number(entry, "lockoutTime") > 0, entry
        assert not number(entry, "userAccountControl") & UF_ACCOUNTDISABLE, entry
        assert not number(ok, "msDS-User-Account-Control-Computed") & UF_LOCKOUT, ok
        assert number(ok, "lockoutTime") == 0, ok
        return
    locked = first(entry, "pwdAccountLockedTime")
    assert locked and locked != PERMANENT_LOCK, f"not a lockout: {entry}"
    policy = probe.policy(d, entry)
    assert first(policy, "pwdLockout") == "TRUE", policy
    failures = entry.get("pwdfailuretime", [])
    assert len(failures) >= number(policy, "pwdMaxFailure") > 0, (failures, policy)
    # Still in force: a lockout duration of 0 lasts until an administrator resets it.
    duration = number(policy, "pwdLockoutDuration")
    now = dt.datetime.now(UTC)
    assert gentime(locked) <= now
    assert duration == 0 or gentime(locked) + dt.timedelta(seconds=duration) > now, policy
    assert "pwdaccountlockedtime" not in ok and "pwdfailuretime" not in ok, ok


def observe_password_expired(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    _, ok = probe.healthy(d)
    if d.kind == "ad":
        assert number(entry, "pwdLastSet") != 0, "must-change, not expired"
        assert number(entry, "msDS-User-Account-Control-Computed") & UF_PASSWORD_EXPIRED, entry
        assert not number(ok, "msDS-User-Account-Control-Computed") & UF_PASSWORD_EXPIRED, ok
        return
    max_age = number(probe.policy(d, entry), "pwdMaxAge")
    assert max_age > 0, "the password policy lets passwords live forever"
    now = dt.datetime.now(UTC)
    changed = gentime(first(entry, "pwdChangedTime"))
    assert changed + dt.timedelta(seconds=max_age) < now, (changed, max_age)
    assert gentime(first(ok, "pwdChangedTime")) + dt.timedelta(seconds=max_age) > now, ok


def observe_password_must_change(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    _, ok = probe.healthy(d)
    if d.kind == "ad":
        assert first(entry, "pwdLastSet") == "0", entry
        assert number(entry, "msDS-User-Account-Control-Computed") & UF_PASSWORD_EXPIRED, entry
        assert number(ok, "pwdLastSet") > 0, ok
        assert not number(ok, "msDS-User-Account-Control-Computed") & UF_PASSWORD_EXPIRED, ok
    else:
        assert entry.get("pwdreset") == ["TRUE"], entry
        assert "pwdreset" not in ok, ok


def observe_vantage_untrusted(probe: Probe, f: Fault) -> None:
    """ssh with the vantage point's own (empty) known_hosts refuses the jump host; the
    same host under its site's vantage point, whose keys are known, is accepted."""
    if not probe.namespaces:
        pytest.fail("the lab fell back to loopback: there are no jump hosts")
    name = f.subject.removeprefix("vantage_points:")
    target = probe.vantage_point(name)
    site_point = next(
        v
        for v, vp in yaml.safe_load((probe.lab.inventory / "sites.yaml").read_text("utf-8"))[
            "vantage_points"
        ].items()
        if v != name and vp.get("host") == target["host"]
    )
    refused = probe.through_jump(name, target["host"], 22, 15)
    assert refused.returncode not in (0, 124), refused.stderr[-1500:]
    assert "Host key verification failed" in refused.stderr, refused.stderr[-1500:]
    trusted = probe.through_jump(site_point, target["host"], 22, 15)
    assert "Authenticated to" in trusted.stderr, trusted.stderr[-1500:]


def observe_hr_mismatch(probe: Probe, f: Fault) -> None:
    """The entry with the person's employee number still has the previous surname and
    username: the username in the HR export finds nothing."""
    d = probe.directory(f)
    assert probe.person(d, f.detail("hr_username")) is None, f"{f.subject} renamed in {d.id}"
    entry = probe.present(d, f.detail("username"))
    assert first(entry, "employeeNumber") == f.subject.rsplit("/", 1)[1], entry
    assert first(entry, "sn") == f.detail("surname"), entry
    p, ok = probe.healthy(d)
    assert first(ok, "employeeNumber") == p.id and first(ok, "sn") == p.surname, ok


def observe_group_missing(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    group = f.detail("group")
    dn = group_dn(d, group)
    entry = probe.present(d, f.detail("username"))
    groups = member_of(entry)
    assert groups, f"memberOf not visible for {f.subject}: {entry}"  # readable, just short
    assert group_dn(d, "all-staff").lower() in groups, entry
    assert dn.lower() not in groups, entry
    found = probe.ldapsearch(d, dn, "(objectClass=*)", ["cn", "member"], scope="base")
    assert len(found) == 1 and found[0].get("member"), f"group {dn} is missing or empty"
    _, ok = probe.healthy(d, group)
    assert dn.lower() in member_of(ok), ok


def observe_mail_missing(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    assert "mail" not in entry, entry
    _, ok = probe.healthy(d)
    assert shared_mail(ok), ok


def observe_mail_wrong_domain(probe: Probe, f: Fault) -> None:
    d = probe.directory(f)
    entry = probe.present(d, f.detail("username"))
    assert entry.get("mail"), f"no mail at all: {entry}"
    assert not shared_mail(entry), entry
    if f.detail("mail"):
        assert f.detail("mail") in entry["mail"], entry
    _, ok = probe.healthy(d)
    assert shared_mail(ok), ok


# --------------------------------------------------------------------------- DNS


def observe_dmarc_missing(probe: Probe, f: Fault) -> None:
    # test_lab.py asks the host resolver; here: the authoritative answer itself, and
    # what the sites' resolver tells staff there.
    domain = f.subject.removeprefix("mail_domains:")
    assert f.target == f"_dmarc.{domain}"
    answer = probe.dig("+norecurse", "TXT", f.target)
    assert "status: NXDOMAIN" in answer, answer
    assert re.search(r"flags:[a-z ]* aa[ ;]", answer), f"not authoritative: {answer}"
    assert re.search(rf"^{re.escape(domain)}\.\s+\d+\s+IN\s+SOA\s", answer, re.M), answer
    if not probe.namespaces:
        return
    healthy = [o.domain for o in probe.lab.estate.organisations if o.domain != domain]
    for site in probe.lab.estate.sites:
        if not site.namespace:
            continue
        seen = probe.dig("TXT", f.target, server=probe.slot.dns_site, netns=site.namespace)
        assert "status: NXDOMAIN" in seen, (site.id, seen)
        for other in healthy:
            txt = probe.dig(
                "+short", "TXT", f"_dmarc.{other}", server=probe.slot.dns_site, netns=site.namespace
            )
            assert "v=DMARC1" in txt, (site.id, other, txt)


def spf_addresses(probe: Probe, domain: str) -> tuple[str, set[str]]:
    """(the SPF record of ``domain``, the IPv4 addresses its mechanisms authorise)."""
    records = [
        t.strip('"') for t in probe.dig("+short", "TXT", domain).splitlines() if "v=spf1" in t
    ]
    assert len(records) == 1, f"{domain}: {records}"
    allowed: set[str] = set()
    for term in records[0].split()[1:]:
        if term in ("-all", "~all"):
            continue
        if term.startswith("ip4:"):
            allowed.add(term[4:])
        elif term.startswith("a:"):
            allowed |= set(probe.dig("+short", "A", term[2:]).split())
        elif term == "mx":
            for mx in probe.dig("+short", "MX", domain).splitlines():
                allowed |= set(probe.dig("+short", "A", mx.split()[1]).split())
        else:
            pytest.fail(f"{domain}: SPF mechanism {term!r} not evaluated by this test")
    return records[0], allowed


def observe_spf_missing_shared(probe: Probe, f: Fault) -> None:
    # test_lab.py looks for the text; here the record is evaluated: which addresses
    # may send for the domain, with dig answering every mechanism.
    domain = f.subject.removeprefix("mail_domains:")
    shared = f.detail("missing") or f"mail.{SHARED_DOMAIN}"
    shared_ip = probe.dig("+short", "A", shared).strip()
    assert shared_ip == probe.slot.mail, shared_ip
    record, allowed = spf_addresses(probe, domain)
    assert shared_ip not in allowed, f"{domain} SPF {record!r} authorises {shared}"
    legacy = probe.dig("+short", "A", f"smtp.{domain}").strip()
    assert legacy and legacy in allowed, f"{domain}: not even its own sender: {record!r}"
    for org in probe.lab.estate.organisations:
        if org.domain != domain:
            record, allowed = spf_addresses(probe, org.domain)
            assert shared_ip in allowed, f"{org.domain} SPF {record!r}"


# --------------------------------------------------------------------------- mail


def swaks_rcpt(probe: Probe, address: str) -> tuple[int, str]:
    """(exit, the server's reply to RCPT TO) over verified STARTTLS; quits after RCPT."""
    out = probe.run(
        [
            "swaks",
            "--server",
            f"{probe.slot.mail}:25",
            "--helo",
            f"readiness-probe.{SHARED_DOMAIN}",
            "--from",
            f"readiness-probe@{SHARED_DOMAIN}",
            "--to",
            address,
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(probe.ca),
            "--quit-after",
            "RCPT",
            "--timeout",
            "10",
        ]
    )
    lines = out.stdout.splitlines()
    assert any("TLS started" in line for line in lines), out.stdout
    assert not any(re.match(r"\s*~> (DATA|BDAT)", line) for line in lines), out.stdout
    sent = next(i for i, line in enumerate(lines) if f"RCPT TO:<{address}>" in line)
    return out.returncode, lines[sent + 1]


def observe_mailbox_rejected(probe: Probe, f: Fault) -> None:
    address = f.detail("address")
    code, reply = swaks_rcpt(probe, address)
    assert re.match(r"<~\*?\s+550 ", reply), reply
    assert code != 0, reply  # swaks: 24 = an RCPT was rejected
    estate = probe.lab.estate
    person = next(p for p in estate.staff if p.key == f.subject)
    ok = next(
        p
        for p in sorted(estate.people_of(person.organisation), key=lambda p: p.key)
        if p.kind == "staff"
        and p.new_mail
        and not probe.lab.plan.for_subject(p.key)
        and any(estate.role(r).mailbox for r in p.roles)
    )
    code, reply = swaks_rcpt(probe, ok.new_mail)
    assert code == 0 and re.match(r"<~\s+250 ", reply), reply


def observe_mailbox_greylisted(probe: Probe, f: Fault) -> None:
    code, reply = swaks_rcpt(probe, f.detail("address"))
    assert re.match(r"<~\*?\s+450 4\.7\.1 ", reply), reply
    assert code != 0, reply


def observe_dkim_weak(probe: Probe, f: Fault) -> None:
    """The selector's key, read with dig and measured with openssl: 1024 bits; the other
    old domain's key under the same selector: 2048."""

    def bits(name: str) -> int:
        chunks = re.findall(r'"([^"]*)"', probe.dig("+short", "TXT", name))
        key = "".join(chunks).split("p=", 1)[1].strip()
        pem = probe.work / "dkim.pem"
        pem.write_text(f"-----BEGIN PUBLIC KEY-----\n{key}\n-----END PUBLIC KEY-----\n")
        out = probe.run(["openssl", "pkey", "-pubin", "-in", str(pem), "-noout", "-text"])
        found = re.search(r"Public-Key: \((\d+) bit\)", out.stdout)
        assert found, out.stdout + out.stderr
        return int(found.group(1))

    assert bits(f.target) == 1024
    selector = f.target.split(".", 1)[0]
    for org in probe.lab.estate.organisations:
        if not f.target.endswith(f".{org.domain}"):
            assert bits(f"{selector}._domainkey.{org.domain}") == 2048


# --------------------------------------------------------------------------- SIP


def observe_extension_unregistered(probe: Probe, f: Fault) -> None:
    ext = f.detail("extension")
    registrar = f"{probe.slot.sip}:5060"
    out = probe.sipp_options(registrar, ext, 404)
    assert out.returncode == 0, f"OPTIONS to {ext}: not 404: {out.stderr[-1500:]}"
    ok = next(
        p
        for p in sorted(probe.lab.estate.staff, key=lambda p: p.key)
        if p.extension and not probe.lab.plan.for_subject(p.key)
    )
    out = probe.sipp_options(registrar, ok.extension, 200)
    assert out.returncode == 0, f"OPTIONS to {ok.extension}: {out.stderr[-1500:]}"
    aors = probe.registered()
    assert ext not in aors and ok.extension in aors, (ext, ok.extension, len(aors))


def observe_sip_endpoint_down(probe: Probe, f: Fault) -> None:
    endpoint = next(
        e for e in probe.lab.estate.sip_endpoints if f"telephony_endpoints:{e.id}" == f.subject
    )
    address = f.detail("address")
    assert address == f"{endpoint.ip}:{endpoint.port}"
    out = probe.sipp_options(address, "probe", 200)
    assert out.returncode != 0, f"{endpoint.id} answered OPTIONS: {out.stderr[-1500:]}"
    down = {x.subject for x in probe.lab.plan.of_kind(SIP_ENDPOINT_DOWN)}
    others = [
        e for e in probe.lab.estate.sip_endpoints if f"telephony_endpoints:{e.id}" not in down
    ]
    assert others, "no endpoint left up to compare with"
    for e in others:
        out = probe.sipp_options(f"{e.ip}:{e.port}", "probe", 200)
        assert out.returncode == 0, f"{e.id}: {out.stderr[-1500:]}"


def inventory_extension(probe: Probe, key: str) -> str:
    """The extension the inventory the lab wrote gives ``key`` (staff.yaml or HR CSV)."""
    staff = yaml.safe_load((probe.lab.inventory / "staff.yaml").read_text(encoding="utf-8"))
    for entry in staff["staff"]:
        if f"staff:{entry['organisation']}/{entry['id']}" == key:
            return str(entry.get("extension", ""))
    for source in staff["staff_sources"]:
        columns = source["columns"]
        path = probe.lab.inventory / source["file"]
        with path.open(encoding="utf-8-sig", newline="") as rows:
            for row in csv.DictReader(rows, delimiter=source.get("delimiter", ",")):
                if f"staff:{source['organisation']}/{row[columns['id']]}" == key:
                    return row[columns["extension"]]
    pytest.fail(f"{key} is not in the inventory")


def directory_number(probe: Probe, key: str) -> str:
    person = next(p for p in probe.lab.estate.staff if p.key == key)
    d = probe.lab.estate.directory(probe.lab.estate.org(person.organisation).directory_id)
    return first(probe.present(d, person.username), "telephoneNumber")


def ranges(probe: Probe) -> dict[str, list[str]]:
    """organisation -> its extension ranges, as the inventory writes them."""
    doc = yaml.safe_load((probe.lab.inventory / "programme.yaml").read_text(encoding="utf-8"))
    return {o: org["telephony"]["ranges"] for o, org in doc["organisations"].items()}


def in_ranges(extension: str, written: list[str]) -> bool:
    return any(
        int(lo) <= int(extension) <= int(hi) for lo, _, hi in (r.partition("-") for r in written)
    )


def observe_extension_collision(probe: Probe, f: Fault) -> None:
    number = f.subject.removeprefix("extensions:")
    holders = f.detail("holders").split()
    orgs = {key.split(":")[1].split("/")[0] for key in holders}
    assert len(holders) == 2 and len(orgs) == 2, holders  # one in each organisation
    for key in holders:  # the inventory, the directories and the lab agree on the number
        assert inventory_extension(probe, key) == number, key
        assert directory_number(probe, key) == number, key
    assert number in probe.registered()
    out = probe.sipp_options(f"{probe.slot.sip}:5060", number, 200)
    assert out.returncode == 0, f"OPTIONS to {number}: {out.stderr[-1500:]}"


def observe_extension_out_of_range(probe: Probe, f: Fault) -> None:
    extension = f.detail("extension")
    assert inventory_extension(probe, f.subject) == extension
    org = f.subject.split(":")[1].split("/")[0]
    written = ranges(probe)
    assert not in_ranges(extension, written[org]), (extension, written[org])
    assert any(in_ranges(extension, r) for o, r in written.items() if o != org), written


def observe_directory_number_mismatch(probe: Probe, f: Fault) -> None:
    assert inventory_extension(probe, f.subject) == f.detail("extension")
    person = next(p for p in probe.lab.estate.staff if p.key == f.subject)
    entry = probe.present(probe.directory(f), person.username)
    assert first(entry, "telephoneNumber") == f.detail("directory") != f.detail("extension")


def sbc(probe: Probe, f: Fault) -> tuple[str, str]:
    """(host name, address:port) of the SBC a fault is about."""
    endpoint = next(e for e in probe.lab.estate.sbcs if f"telephony_endpoints:{e.id}" == f.subject)
    return endpoint.host, f"{endpoint.ip}:{endpoint.port}"


def tls_options(probe: Probe, address: str, host: str) -> str:
    """One OPTIONS over TLS with openssl s_client (SIPp here has no TLS): the status line."""
    request = (
        f"OPTIONS sip:{host}:5061 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bK-o1\r\n"
        "From: <sip:probe@127.0.0.1>;tag=o1\r\nTo: <sip:probe@127.0.0.1>\r\n"
        "Call-ID: observe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    argv = ["openssl", "s_client", "-connect", address, "-quiet", "-CAfile", str(probe.ca)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        status, _ = proc.communicate(request, timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        status, _ = proc.communicate()
    return status.splitlines()[0] if status else ""


def observe_sip_endpoint_503(probe: Probe, f: Fault) -> None:
    host, address = sbc(probe, f)
    assert tls_options(probe, address, host).startswith("SIP/2.0 503"), address
    healthy = [e for e in probe.lab.estate.sbcs if f"telephony_endpoints:{e.id}" != f.subject]
    for e in healthy:
        status = tls_options(probe, f"{e.ip}:{e.port}", e.host)
        assert status.startswith("SIP/2.0 200"), (e.id, status)


def observe_sip_cert_wrong_host(probe: Probe, f: Fault) -> None:
    host, address = sbc(probe, f)
    argv = ["openssl", "s_client", "-connect", address, "-CAfile", str(probe.ca)]
    named = probe.run([*argv, "-verify_hostname", host, "-verify_return_error"])
    assert named.returncode != 0 and "hostname mismatch" in named.stdout + named.stderr
    assert probe.run([*argv, "-verify_return_error"]).returncode == 0  # the chain is trusted
    presented = probe.run([*argv, "-verify_hostname", f.detail("presented_name")])
    assert "Verify return code: 0 (ok)" in presented.stdout, presented.stdout


# --------------------------------------------------------------------------- applications


def healthy_app_host(probe: Probe) -> str:
    faulty = {f.subject for f in probe.lab.plan.faults if f.subject.startswith("applications:")}
    app = next(a for a in probe.lab.estate.applications if f"applications:{a.id}" not in faulty)
    return app.host


def assert_healthy_app(probe: Probe) -> None:
    host = healthy_app_host(probe)
    out = probe.s_client(host)
    assert out.returncode == 0 and "Verify return code: 0 (ok)" in out.stdout, out.stdout
    code, status, body = probe.curl(host)
    assert (code, status) == (0, "200") and "ok" in body, body


def observe_cert_expired(probe: Probe, f: Fault) -> None:
    host = f.target
    out = probe.s_client(host)
    assert out.returncode != 0, out.stdout
    assert "certificate has expired" in out.stdout + out.stderr, out.stdout + out.stderr
    shown = probe.certificate(host)
    assert shown.startswith("checkend=1") and f"DNS:{host}" in shown, shown
    code, _, text = probe.curl(host)
    assert code == 60 and "expired" in text, text
    assert_healthy_app(probe)


def observe_cert_wrong_host(probe: Probe, f: Fault) -> None:
    host = f.target
    presented = f.detail("presented_name")
    out = probe.s_client(host)
    assert out.returncode != 0 and "hostname mismatch" in out.stdout + out.stderr, out.stdout
    # The chain itself is trusted: the name is the only thing wrong.
    assert probe.s_client(host, check_name=False).returncode == 0
    shown = probe.certificate(host)
    assert shown.startswith("checkend=0"), shown
    assert f"DNS:{presented}" in shown and f"DNS:{host}" not in shown, shown
    code, _, text = probe.curl(host)
    assert code == 60 and "no alternative certificate subject name" in text, text
    assert_healthy_app(probe)


def observe_cert_unknown_ca(probe: Probe, f: Fault) -> None:
    host = f.target
    out = probe.s_client(host)
    text = out.stdout + out.stderr
    # The server sends its chain up to a root that is not the lab CA: OpenSSL error 19.
    assert out.returncode != 0, out.stdout
    assert "self-signed certificate in certificate chain" in text, text
    shown = probe.certificate(host)  # valid, and for the right name: only its issuer is wrong
    assert shown.startswith("checkend=0") and f"DNS:{host}" in shown, shown
    code, _, text = probe.curl(host)
    assert code == 60 and "self-signed certificate in certificate chain" in text, text
    assert_healthy_app(probe)


def observe_cert_expiring_soon(probe: Probe, f: Fault) -> None:
    host = f.target
    out = probe.s_client(host)
    assert out.returncode == 0, out.stdout  # valid today, and on go-live day ...
    shown = probe.certificate(host)
    assert shown.startswith("checkend=0") and f"DNS:{host}" in shown, shown
    end = dt.datetime.strptime(
        re.search(r"notAfter=(.+ GMT)", shown).group(1),  # type: ignore[union-attr]
        "%b %d %H:%M:%S %Y %Z",
    ).date()
    # ... but ends a few days after it: fewer than the inventory's min_cert_days (30).
    assert end == probe.lab.estate.go_live + dt.timedelta(days=EXPIRING_DAYS), shown
    assert_healthy_app(probe)


def observe_app_503(probe: Probe, f: Fault) -> None:
    host = f.target
    out = probe.s_client(host)
    assert out.returncode == 0, out.stdout  # TLS is fine: the application answers 503
    for path in ("/health", "/"):
        code, status, body = probe.curl(host, path)
        assert (code, status) == (0, "503"), (path, status, body)
    assert_healthy_app(probe)


# --------------------------------------------------------------------------- network


def observe_flow_blocked(probe: Probe, f: Fault) -> None:
    estate = probe.lab.estate
    res = next(r for r in estate.resources if f"network_resources:{r.id}" == f.subject)
    port = int(f.detail("port"))
    dst = f.detail("dst") if probe.namespaces else f.detail("fallback_dst")
    assert (dst, port) == ((res.ip if probe.namespaces else res.fallback_ip), res.port)
    blocked = probe.through_jump(f.vantage, dst, port, BLOCKED_WAIT)
    assert "Authenticated to" in blocked.stderr, blocked.stderr  # the jump host works
    assert blocked.returncode == 124, (  # no answer at all: a DROP, not a refusal
        f"{f.vantage} -> {dst}:{port}: exit {blocked.returncode}: {blocked.stderr[-1500:]}"
    )
    # Another resource at the same remote site passes from the same vantage point (one
    # the perimeter lets the other organisation reach) ...
    other = next(
        r for r in estate.resources if r.site == res.site and r.id != res.id and not r.private
    )
    other_ip = other.ip if probe.namespaces else other.fallback_ip
    opened = probe.through_jump(f.vantage, other_ip, other.port, 15)
    assert opened.returncode == 0, f"{f.vantage} -> {other.id}: {opened.stderr[-1500:]}"
    if probe.namespaces:
        # ... and the blocked resource itself is up: its own site reaches it.
        own = next(s for s in estate.sites if s.id == res.site)
        assert own.vantage_point and own.vantage_point != f.vantage
        local = probe.through_jump(own.vantage_point, dst, port, 15)
        assert local.returncode == 0, f"{own.vantage_point} -> {res.id}: {local.stderr[-1500:]}"


def in_internet(probe: Probe, *argv: str) -> subprocess.CompletedProcess[str]:
    return probe.run(["ip", "netns", "exec", probe.slot.internet_ns, *argv])


def observe_resource_exposed(probe: Probe, f: Fault) -> None:
    if not probe.namespaces:
        pytest.fail("the lab fell back to loopback: there is no internet to reach from")
    estate, slot = probe.lab.estate, probe.slot
    assert f.vantage == INTERNET
    res = next(r for r in estate.resources if f"network_resources:{r.id}" == f.subject)
    assert (f.detail("dst"), int(f.detail("port"))) == (res.ip, res.port)
    # The internet's jump host reaches the exposed resource ...
    exposed = probe.through_jump(INTERNET, res.ip, res.port, 15)
    assert "Authenticated to" in exposed.stderr, exposed.stderr
    assert exposed.returncode == 0, f"{INTERNET} -> {res.id}: {exposed.stderr[-1500:]}"
    # ... and no other internal resource: the perimeter refuses them at once.
    for other in (r for r in estate.resources if r.id != res.id):
        refused = probe.through_jump(INTERNET, other.ip, other.port, 15)
        assert refused.returncode not in (0, 124), f"{INTERNET} reaches {other.id}"
        assert "No route to host" in refused.stderr, refused.stderr[-1500:]
    # From the internet the published entry point answers, an internal application not.
    remote = next(a for a in estate.applications if a.remote_access)
    site_view = in_internet(probe, "dig", f"@{slot.dns_site}", "+short", "A", remote.host)
    assert site_view.stdout.strip() == twin(slot.remote_access, slot), site_view
    internal = next(a for a in estate.applications if not a.remote_access)
    for app, reachable in ((remote, True), (internal, False)):
        address = twin(slot.remote_access if app.remote_access else slot.web, slot)
        out = in_internet(
            probe,
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            str(probe.ca),
            "--resolve",
            f"{app.host}:443:{address}",
            f"https://{app.host}/health",
        )
        assert (out.returncode == 0 and "ok" in out.stdout) is reachable, (app.id, out.stderr)


# --------------------------------------------------------------------------- the map

Observer = Callable[[Probe, Fault], None]
OBSERVERS: dict[str, Observer] = {
    ACCOUNT_MISSING: observe_account_missing,
    ACCOUNT_DISABLED: observe_account_disabled,
    ACCOUNT_LOCKED: observe_account_locked,
    PASSWORD_EXPIRED: observe_password_expired,
    PASSWORD_MUST_CHANGE: observe_password_must_change,
    GROUP_MISSING: observe_group_missing,
    MAIL_MISSING: observe_mail_missing,
    MAIL_WRONG_DOMAIN: observe_mail_wrong_domain,
    MAILBOX_REJECTED: observe_mailbox_rejected,
    MAILBOX_GREYLISTED: observe_mailbox_greylisted,
    DKIM_WEAK: observe_dkim_weak,
    EXTENSION_UNREGISTERED: observe_extension_unregistered,
    CERT_EXPIRED: observe_cert_expired,
    CERT_WRONG_HOST: observe_cert_wrong_host,
    APP_503: observe_app_503,
    DMARC_MISSING: observe_dmarc_missing,
    SPF_MISSING_SHARED: observe_spf_missing_shared,
    SIP_ENDPOINT_DOWN: observe_sip_endpoint_down,
    FLOW_BLOCKED: observe_flow_blocked,
    CERT_UNKNOWN_CA: observe_cert_unknown_ca,
    CERT_EXPIRING: observe_cert_expiring_soon,
    RESOURCE_EXPOSED: observe_resource_exposed,
    EXTENSION_COLLISION: observe_extension_collision,
    EXTENSION_OUT_OF_RANGE: observe_extension_out_of_range,
    DIRECTORY_NUMBER_MISMATCH: observe_directory_number_mismatch,
    SIP_ENDPOINT_503: observe_sip_endpoint_503,
    SIP_CERT_WRONG_HOST: observe_sip_cert_wrong_host,
    HR_MISMATCH: observe_hr_mismatch,
    VANTAGE_UNTRUSTED: observe_vantage_untrusted,
}


@pytest.fixture(scope="module")
def probe(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Probe:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(
            f"client tools missing: {', '.join(missing)} (ldap-utils, "
            "bind9-dnsutils, swaks, sip-tester, openssl, curl, openssh-client)"
        )
    work = tmp_path_factory.mktemp("observe")
    work.chmod(0o700)
    namespaces = bool(json.loads((lab.state / "lab.json").read_text())["namespaces"])
    return Probe(lab, work, namespaces)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_fault_kind_is_seen_with_the_standard_clients(kind: str, probe: Probe) -> None:
    observe = OBSERVERS.get(kind)
    if observe is None:
        pytest.fail(
            f"fault kind {kind!r} (lab/faults.py KINDS) has no observation with a "
            f"standard client in {Path(__file__).name}: add one to OBSERVERS"
        )
    faults = probe.lab.plan.of_kind(kind)
    if not faults:
        pytest.fail(f"the lab's ground truth lists no {kind!r} fault: nothing was injected")
    for fault in faults:
        observe(probe, fault)


def test_every_fault_in_the_ground_truth_has_an_observation(lab: LabHandle) -> None:
    raw = json.loads((lab.state / "ground-truth.json").read_text(encoding="utf-8"))
    kinds = {f["kind"] for f in raw["faults"]}
    assert kinds, "no faults injected"
    assert not kinds - OBSERVERS.keys(), f"no observation for {sorted(kinds - OBSERVERS.keys())}"
    assert not kinds - KINDS.keys(), f"unknown kinds {sorted(kinds - KINDS.keys())}"
