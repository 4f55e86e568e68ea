"""One OpenLDAP slapd per organisation: the lab's real directories.

Public API (the lab orchestrator ``lab/up.py`` calls it)::

    spec = DirectorySpec(org="north", base_dn="dc=northvale,dc=test",
                         host="127.77.1.10", dns_name="ldap.northvale.test",
                         people=[PersonSpec(uid="jsmith", given_name="Jo", sn="Smith",
                                            password="...", mail=["jo.smith@valeshared.test"])],
                         groups=[GroupSpec(cn="housing-users", members=["jsmith"])])
    info = start_slapd(spec, supervisor, ca, state_dir)   # -> SlapdInfo
    ...
    stop_slapd(info, supervisor)

Each directory gets its own ``slapd.conf`` and mdb data folder under
``state_dir/slapd-<org>/``; entries are bulk-loaded with ``slapadd -q`` before the
server starts (operational ppolicy attributes such as ``pwdAccountLockedTime`` or
``pwdChangedTime`` are written at load time, which is how faults are injected).
The server listens on ``ldap://HOST:389`` (StartTLS) and ``ldaps://HOST:636`` with a
certificate from the lab CA for ``dns_name`` (and the IP address).

Faults are explicit per-account settings on :class:`PersonSpec` (see its fields):
missing (``present=False``), permanently locked (``locked_time=PERMANENT_LOCK``),
locked temporarily (``locked_time`` = a recent time), an expired lock (an old
``locked_time``), ``pwd_reset=True``, an old ``pwd_changed_time``, grace logins used
up (``grace_use_times``), ``pwd_start_time``/``pwd_end_time``, a missing group (leave the
person out of :attr:`GroupSpec.members`), missing or wrong mail (``mail=[]`` or
another domain).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .ca import LabCA
from .process import LabError, Supervisor, run, tcp_ready

__all__ = [
    "PERMANENT_LOCK",
    "DirectorySpec",
    "GroupSpec",
    "PersonSpec",
    "PolicySpec",
    "SlapdInfo",
    "gentime",
    "ldif_for",
    "start_slapd",
    "stop_slapd",
]

PERMANENT_LOCK = "000001010000Z"  # ppolicy: locked until an administrator unlocks
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


def gentime(value: dt.datetime) -> str:
    """An LDAP GeneralizedTime (UTC) for ``value``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


@dataclass
class PolicySpec:
    """A ppolicy entry ``cn=<name>,ou=policies,<base>``."""

    name: str
    max_failure: int = 3
    lockout: bool = True
    lockout_duration: int = 900  # seconds; 0 = until an administrator resets
    max_age: int = 90 * 86400  # seconds; 0 = never expires
    grace_limit: int = 2
    failure_count_interval: int = 0  # 0 = failures never age out
    expire_warning: int = 0


@dataclass
class PersonSpec:
    """One person (inetOrgPerson ``uid=<uid>,<people_base>``) and its fault settings."""

    uid: str
    given_name: str
    sn: str
    password: str
    cn: str = ""  # default "given_name sn"
    mail: list[str] = field(default_factory=list)  # all addresses, new one first
    telephone_number: str = ""
    employee_number: str = ""
    title: str = ""
    ou: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)  # more attributes
    # -- faults (operational attributes written at load time) --
    present: bool = True  # False: the account is not loaded at all (missing)
    locked_time: str | dt.datetime | None = None  # pwdAccountLockedTime (PERMANENT_LOCK...)
    failure_times: list[dt.datetime] = field(default_factory=list)  # pwdFailureTime values
    pwd_reset: bool = False  # must change the password at next login
    pwd_changed_time: dt.datetime | None = None  # default: load time
    grace_use_times: list[dt.datetime] = field(default_factory=list)
    pwd_start_time: dt.datetime | None = None
    pwd_end_time: dt.datetime | None = None
    policy: str | None = None  # name of a PolicySpec for pwdPolicySubentry (else default)

    @property
    def common_name(self) -> str:
        return self.cn or f"{self.given_name} {self.sn}".strip()


@dataclass
class GroupSpec:
    """A groupOfNames ``cn=<cn>,<groups_base>``; members by uid, nested groups by cn."""

    cn: str
    members: list[str] = field(default_factory=list)
    member_groups: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class DirectorySpec:
    org: str
    base_dn: str
    host: str  # listen address, e.g. 127.77.1.10
    dns_name: str  # certificate name, e.g. ldap.northvale.test
    people: Sequence[PersonSpec] = ()
    groups: Sequence[GroupSpec] = ()
    policies: Sequence[PolicySpec] = (
        PolicySpec("default"),
        PolicySpec(
            "privileged", max_failure=5, lockout_duration=0, max_age=30 * 86400, grace_limit=0
        ),
    )
    default_policy: str | None = "default"  # None: no ppolicy_default (no policy applies)
    tls: bool = True  # False: no certificate, so no StartTLS and no LDAPS listener
    ldap_port: int = 389
    ldaps_port: int = 636
    service_uid: str = "readiness"  # cn=<it>,ou=services,<base>: read-only account
    service_password: str = "readiness-lab-service"  # noqa: S105 - lab only, written to 0600
    admin_password: str = "readiness-lab-admin"  # noqa: S105
    service_limits: str = "size=unlimited time=unlimited"  # slapd `limits` for the service
    # Referral objects directly under the base: "ou=x" -> ldap://... (tests of referrals)
    referrals: dict[str, str] = field(default_factory=dict)
    # More read-only service accounts cn=<name>,ou=services with their own `limits`
    # (same password as the main one), e.g. {"readiness-small": "size=5"} for tests.
    limited_services: dict[str, str] = field(default_factory=dict)
    organisation_name: str = ""

    @property
    def people_base(self) -> str:
        return f"ou=people,{self.base_dn}"

    @property
    def groups_base(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def policies_base(self) -> str:
        return f"ou=policies,{self.base_dn}"

    @property
    def service_dn(self) -> str:
        return f"cn={self.service_uid},ou=services,{self.base_dn}"

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.base_dn}"

    def policy_dn(self, name: str) -> str:
        return f"cn={name},{self.policies_base}"


@dataclass(frozen=True)
class SlapdInfo:
    org: str
    name: str  # supervisor process name
    pid: int
    host: str
    dns_name: str
    ldap_url: str  # ldap://HOST:389 (StartTLS)
    ldaps_url: str  # ldaps://HOST:636
    base_dn: str
    people_base: str
    groups_base: str
    policies_base: str
    service_dn: str
    service_password_file: Path  # mode 0600
    admin_dn: str
    admin_password_file: Path
    ca_file: Path
    conf: Path
    data_dir: Path
    entries: int
    load_seconds: float
    start_seconds: float


def ssha(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - LDAP {SSHA}
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _value(name: str, value: str) -> str:
    if value and (
        value[0] in " :<"
        or value[-1] == " "
        or not value.isascii()
        or "\n" in value
        or "\r" in value
    ):
        return f"{name}:: {base64.b64encode(value.encode()).decode()}"
    return f"{name}: {value}"


def _entry(dn: str, attrs: Iterable[tuple[str, str]]) -> str:
    lines = [_value("dn", dn)]
    lines.extend(_value(k, v) for k, v in attrs if v != "")
    return "\n".join(lines) + "\n\n"


def ldif_for(spec: DirectorySpec, now: dt.datetime | None = None) -> tuple[str, int]:
    """The LDIF slapadd loads for ``spec`` and the number of entries in it."""
    now = now or dt.datetime.now(dt.UTC)
    loaded = gentime(now)
    out: list[str] = []
    dc = spec.base_dn.split(",")[0].split("=", 1)[1]
    out.append(
        _entry(
            spec.base_dn,
            [
                ("objectClass", "top"),
                ("objectClass", "dcObject"),
                ("objectClass", "organization"),
                ("dc", dc),
                ("o", spec.organisation_name or spec.org),
            ],
        )
    )
    for ou in ("people", "groups", "policies", "services"):
        out.append(
            _entry(f"ou={ou},{spec.base_dn}", [("objectClass", "organizationalUnit"), ("ou", ou)])
        )
    for rdn, url in spec.referrals.items():
        out.append(
            _entry(
                f"{rdn},{spec.base_dn}",
                [
                    ("objectClass", "referral"),
                    ("objectClass", "extensibleObject"),
                    (rdn.split("=", 1)[0], rdn.split("=", 1)[1]),
                    ("ref", url),
                ],
            )
        )
    for pol in spec.policies:
        out.append(
            _entry(
                spec.policy_dn(pol.name),
                [
                    ("objectClass", "organizationalRole"),
                    ("objectClass", "pwdPolicy"),
                    ("cn", pol.name),
                    ("pwdAttribute", "userPassword"),
                    ("pwdMaxFailure", str(pol.max_failure)),
                    ("pwdLockout", "TRUE" if pol.lockout else "FALSE"),
                    ("pwdLockoutDuration", str(pol.lockout_duration)),
                    ("pwdMaxAge", str(pol.max_age)),
                    ("pwdGraceAuthNLimit", str(pol.grace_limit)),
                    ("pwdFailureCountInterval", str(pol.failure_count_interval)),
                    ("pwdExpireWarning", str(pol.expire_warning)),
                    ("pwdMustChange", "TRUE"),
                    ("pwdAllowUserChange", "TRUE"),
                ],
            )
        )
    out.append(
        _entry(
            spec.policy_dn("services-nolockout"),
            [
                ("objectClass", "organizationalRole"),
                ("objectClass", "pwdPolicy"),
                ("cn", "services-nolockout"),
                ("pwdAttribute", "userPassword"),
                ("pwdLockout", "FALSE"),
                ("pwdMaxAge", "0"),
            ],
        )
    )
    for extra in spec.limited_services:
        out.append(
            _entry(
                f"cn={extra},ou=services,{spec.base_dn}",
                [
                    ("objectClass", "organizationalRole"),
                    ("objectClass", "simpleSecurityObject"),
                    ("cn", extra),
                    ("userPassword", ssha(spec.service_password)),
                    ("pwdPolicySubentry", spec.policy_dn("services-nolockout")),
                ],
            )
        )
    out.append(
        _entry(
            spec.service_dn,
            [
                ("objectClass", "organizationalRole"),
                ("objectClass", "simpleSecurityObject"),
                ("cn", spec.service_uid),
                ("description", "Day-1 readiness read-only service account"),
                ("userPassword", ssha(spec.service_password)),
                ("pwdPolicySubentry", spec.policy_dn("services-nolockout")),
                ("pwdChangedTime", loaded),
            ],
        )
    )
    by_uid = {p.uid: p for p in spec.people if p.present}
    group_dn = {g.cn: f"cn={g.cn},{spec.groups_base}" for g in spec.groups}
    member_of: dict[str, list[str]] = {}  # memberOf is written at load time (direct groups)
    for g in spec.groups:
        for uid in g.members:
            member_of.setdefault(f"uid={uid},{spec.people_base}", []).append(group_dn[g.cn])
        for sub in g.member_groups:
            member_of.setdefault(group_dn[sub], []).append(group_dn[g.cn])
    count = 6 + len(spec.referrals) + len(spec.policies) + 1 + len(spec.limited_services)
    for p in by_uid.values():
        dn = f"uid={p.uid},{spec.people_base}"
        attrs: list[tuple[str, str]] = [
            ("objectClass", "inetOrgPerson"),
            ("uid", p.uid),
            ("cn", p.common_name),
            ("sn", p.sn),
            ("givenName", p.given_name),
            ("userPassword", ssha(p.password)),
            ("telephoneNumber", p.telephone_number),
            ("employeeNumber", p.employee_number),
            ("title", p.title),
            ("ou", p.ou),
        ]
        attrs.extend(("mail", m) for m in p.mail)
        for name, values in p.extra.items():
            attrs.extend((name, v) for v in values)
        attrs.append(
            ("pwdChangedTime", gentime(p.pwd_changed_time) if p.pwd_changed_time else loaded)
        )
        if p.locked_time is not None:
            attrs.append(
                (
                    "pwdAccountLockedTime",
                    p.locked_time if isinstance(p.locked_time, str) else gentime(p.locked_time),
                )
            )
        attrs.extend(("pwdFailureTime", gentime(t)) for t in p.failure_times)
        if p.pwd_reset:
            attrs.append(("pwdReset", "TRUE"))
        attrs.extend(("pwdGraceUseTime", gentime(t)) for t in p.grace_use_times)
        if p.pwd_start_time:
            attrs.append(("pwdStartTime", gentime(p.pwd_start_time)))
        if p.pwd_end_time:
            attrs.append(("pwdEndTime", gentime(p.pwd_end_time)))
        if p.policy:
            attrs.append(("pwdPolicySubentry", spec.policy_dn(p.policy)))
        attrs.extend(("memberOf", g) for g in member_of.get(dn, ()))
        out.append(_entry(dn, attrs))
        count += 1
    for g in spec.groups:
        members = [f"uid={u},{spec.people_base}" for u in g.members if u in by_uid]
        members += [group_dn[s] for s in g.member_groups]
        # groupOfNames needs at least one member; an empty group points at itself's OU.
        attrs = [("objectClass", "groupOfNames"), ("cn", g.cn), ("description", g.description)]
        attrs.extend(("member", m) for m in members or [spec.groups_base])
        attrs.extend(("memberOf", m) for m in member_of.get(group_dn[g.cn], ()))
        out.append(_entry(group_dn[g.cn], attrs))
        count += 1
    return "".join(out), count


def _conf(spec: DirectorySpec, root: Path, cert: Path | None, key: Path | None, ca: Path) -> str:
    schemas = "\n".join(
        f"include {SCHEMA_DIR / s}.schema" for s in ("core", "cosine", "inetorgperson")
    )
    svc = spec.service_dn
    extra_dns = [f"cn={name},ou=services,{spec.base_dn}" for name in spec.limited_services]
    extra_limits = "".join(
        f'limits dn.exact="{dn}" {lim}\n'
        for dn, lim in zip(extra_dns, spec.limited_services.values(), strict=True)
    )
    extra_read = "".join(f'    by dn.exact="{dn}" read\n' for dn in extra_dns)
    return f"""# generated by readiness_lab.slapd for organisation {spec.org}
{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy
pidfile {root / "slapd.pid"}
argsfile {root / "slapd.args"}
{_tls_conf(ca, cert, key)}sizelimit 500
timelimit 60

database mdb
maxsize 2147483648
suffix "{spec.base_dn}"
rootdn "{spec.admin_dn}"
rootpw {ssha(spec.admin_password)}
directory {root / "data"}
index objectClass eq
index uid,mail,cn eq
index member,memberOf eq
limits dn.exact="{svc}" {spec.service_limits}
{extra_limits}
access to attrs=userPassword
    by anonymous auth
    by self =w
    by * none
access to *
    by dn.exact="{svc}" read
{extra_read}    by self read
    by * none

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay refint
refint_attributes member

overlay ppolicy
{_default_policy(spec)}ppolicy_use_lockout
ppolicy_hash_cleartext
"""


def _tls_conf(ca: Path, cert: Path | None, key: Path | None) -> str:
    if cert is None or key is None:
        return ""
    return f"TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n"


def _default_policy(spec: DirectorySpec) -> str:
    if spec.default_policy is None:
        return ""
    return f'ppolicy_default "{spec.policy_dn(spec.default_policy)}"\n'


def _secret_file(path: Path, value: str) -> Path:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(value, encoding="utf-8")  # no newline: `ldapsearch -y` reads it all
    return path


def start_slapd(
    spec: DirectorySpec,
    supervisor: Supervisor,
    ca: LabCA,
    state_dir: Path,
    *,
    now: dt.datetime | None = None,
) -> SlapdInfo:
    """Write config, bulk-load ``spec`` with slapadd, start slapd, wait until it answers."""
    if shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists():
        raise LabError("slapd is not installed (Debian packages slapd and ldap-utils)")
    name = f"slapd-{spec.org}"
    supervisor.stop(name)
    root = (state_dir / f"slapd-{spec.org}").resolve()
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    issued = ca.issue(f"slapd-{spec.org}", [spec.dns_name], [spec.host]) if spec.tls else None
    conf = root / "slapd.conf"
    cert, key = (issued.cert, issued.key) if issued else (None, None)
    conf.write_text(_conf(spec, root, cert, key, ca.cert_path), encoding="utf-8")
    run(["slaptest", "-u", "-f", str(conf)])
    ldif, entries = ldif_for(spec, now)
    ldif_path = root / "data.ldif"
    _secret_file(ldif_path, ldif)  # holds password hashes: 0600
    t0 = time.perf_counter()
    run(["slapadd", "-q", "-f", str(conf), "-l", str(ldif_path)])
    load_seconds = time.perf_counter() - t0
    ports = (spec.ldap_port, spec.ldaps_port) if spec.tls else (spec.ldap_port,)
    for port in ports:
        with contextlib.suppress(OSError), socket.create_connection((spec.host, port), 0.5):
            raise LabError(
                f"{spec.host}:{port} is already in use by another process; "
                f"cannot start slapd for {spec.org} there"
            )
    urls = f"ldap://{spec.host}:{spec.ldap_port}/"
    if spec.tls:
        urls += f" ldaps://{spec.host}:{spec.ldaps_port}/"
    t1 = time.perf_counter()
    managed = supervisor.start(
        name,
        ["slapd", "-f", str(conf), "-h", urls, "-d", "0"],
        ready=tcp_ready(spec.host, ports[-1]),
        ready_timeout=60,
    )
    start_seconds = time.perf_counter() - t1
    return SlapdInfo(
        org=spec.org,
        name=name,
        pid=managed.pid,
        host=spec.host,
        dns_name=spec.dns_name,
        ldap_url=f"ldap://{spec.host}:{spec.ldap_port}",
        ldaps_url=f"ldaps://{spec.host}:{spec.ldaps_port}",
        base_dn=spec.base_dn,
        people_base=spec.people_base,
        groups_base=spec.groups_base,
        policies_base=spec.policies_base,
        service_dn=spec.service_dn,
        service_password_file=_secret_file(root / "service.secret", spec.service_password),
        admin_dn=spec.admin_dn,
        admin_password_file=_secret_file(root / "admin.secret", spec.admin_password),
        ca_file=ca.cert_path,
        conf=conf,
        data_dir=root / "data",
        entries=entries,
        load_seconds=load_seconds,
        start_seconds=start_seconds,
    )


def stop_slapd(info: SlapdInfo, supervisor: Supervisor) -> None:
    supervisor.stop(info.name)
