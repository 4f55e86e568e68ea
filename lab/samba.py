"""A Samba Active Directory DC: the shared service's new directory.

Public API (the lab orchestrator ``lab/up.py`` calls it)::

    spec = SambaSpec(
        address="127.77.3.10",
        users=[ADUserSpec(username="jsmith", given_name="Jo", surname="Smith",
                          password="...", mail="jo.smith@valeshared.test",
                          proxy_addresses=["smtp:jo.smith@northvale.test"],
                          telephone="4101", groups=["housing-users"])],
        groups=[ADGroupSpec("housing-users", member_of=["all-staff"]),
                ADGroupSpec("all-staff")],
        psos=[PSOSpec("privileged-pso", applies_to=["privileged"], max_pwd_age_days=30)],
    )
    info = start_samba(spec, supervisor, ca, state_dir)   # -> SambaInfo
    ...
    stop_samba(info, supervisor)

The DC (realm ``AD.VALESHARED.TEST``, NetBIOS domain ``VALESHARED``, host
``dc1.ad.valeshared.test``) is provisioned with ``samba-tool domain provision
--dns-backend=NONE`` into ``state_dir/samba/``, bound to ``SambaSpec.address`` only (the
address is added to ``lo`` when missing and removed again by :func:`stop_samba`),
runs only the ``ldap`` and ``kdc`` server services, and serves LDAPS on 636 and
StartTLS on 389 with a certificate from the lab CA for ``dc1.ad.valeshared.test``.
Cleartext simple binds are refused, as on a default AD DC.

Accounts are bulk-added with ``ldbadd`` into ``private/sam.ldb`` before the server
starts (Samba computes the password hashes: about 20 ms per account). Faults are
explicit per-account settings of :class:`ADUserSpec` and end up exactly as AD holds
them:

- missing: ``present=False`` (the account is not created);
- disabled: ``disabled=True`` (userAccountControl bit 0x2);
- locked: ``lock=True``: after the server starts, wrong-password simple binds are
  made against it until the DC itself sets ``lockoutTime`` and reports bit 0x10 in
  ``msDS-User-Account-Control-Computed`` (with the default lockout duration 0 the
  lock holds until an administrator unlocks it);
- an expired lock: ``expired_lock_age`` (e.g. 2 hours; longer than a finite lockout
  duration): ``lockoutTime`` and ``badPwdCount`` as the DC leaves them after a lock
  that has since run out;
- must change at next logon: ``must_change=True`` (``pwdLastSet`` 0);
- password never expires: ``password_never_expires=True`` (0x10000; combine with
  ``must_change`` for the trap a check must not flag);
- password not required: ``password_not_required=True`` (0x20);
- account expiry: ``account_expires`` (a datetime; ``accountExpires`` FILETIME);
- an old password: ``password_age`` (a timedelta): ``pwdLastSet`` is back-dated so
  that the DC itself computes the expiry (``msDS-UserPasswordExpiryTimeComputed``,
  bit 0x800000 once past ``maxPwdAge`` or the PSO's maximum age);
- missing group: leave the group out of ``groups``; nested membership: a group's
  ``member_of``;
- missing / wrong-domain mail, missing ``proxyAddresses``: the attribute values.

AD accepts only 0 or -1 for ``pwdLastSet`` (over LDAP and through ``sam.ldb`` alike),
so an old password cannot be set through the directory's own interfaces. The lab
therefore writes ``pwdLastSet`` (and an expired lock's ``lockoutTime``) straight into
the domain partition file (``private/sam.ldb.d/DC=...ldb``) before the server
starts; everything derived from them (computed flags, bind results 532/775) is then
computed by Samba itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import shutil
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ca import LabCA
from .process import LabError, Supervisor, run, tcp_ready

__all__ = [
    "ADGroupSpec",
    "ADUserSpec",
    "DomainPolicySpec",
    "PSOSpec",
    "SambaInfo",
    "SambaSpec",
    "datetime_to_filetime",
    "start_samba",
    "stop_samba",
]

FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF
_EPOCH_1601 = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)

# userAccountControl bits (MS-ADTS 2.2.16)
UF_ACCOUNTDISABLE = 0x2
UF_PASSWD_NOTREQD = 0x20
UF_NORMAL_ACCOUNT = 0x200
UF_DONT_EXPIRE_PASSWD = 0x10000


# --------------------------------------------------------------------------- spec


@dataclass
class ADUserSpec:
    """One user ``CN=<cn>,<users_ou>`` and its fault settings."""

    username: str  # sAMAccountName; UPN is username@<realm lower-case>
    given_name: str
    surname: str
    password: str
    mail: str | None = None  # new-domain address (None: attribute absent)
    proxy_addresses: list[str] = field(default_factory=list)  # e.g. "smtp:old@northvale.test"
    telephone: str | None = None  # telephoneNumber (extension)
    groups: list[str] = field(default_factory=list)  # direct memberships, by group name
    display_name: str = ""  # default "given_name surname"
    organisation: str = ""  # written to `company` (e.g. "north")
    employee_id: str = ""
    title: str = ""
    # -- faults --
    present: bool = True  # False: account missing
    disabled: bool = False  # userAccountControl 0x2
    lock: bool = False  # locked for real by failed binds after start
    expired_lock_age: dt.timedelta | None = None  # a lock set this long ago (ran out)
    must_change: bool = False  # pwdLastSet = 0
    password_never_expires: bool = False  # 0x10000
    password_not_required: bool = False  # 0x20
    account_expires: dt.datetime | None = None  # accountExpires (None: never)
    password_age: dt.timedelta | None = None  # back-date pwdLastSet by this much

    @property
    def common_name(self) -> str:
        return self.display_name or f"{self.given_name} {self.surname}".strip()


@dataclass
class ADGroupSpec:
    """A global security group ``CN=<name>,<groups_ou>``.

    Users join through :attr:`ADUserSpec.groups`; ``member_of`` nests this group
    inside other groups (so its members are members of those, transitively).
    """

    name: str
    member_of: list[str] = field(default_factory=list)
    description: str = ""
    mail: str | None = None


@dataclass
class DomainPolicySpec:
    """Domain-wide password and lockout settings (samba-tool domain passwordsettings)."""

    lockout_threshold: int = 3
    # 0 = locked until an administrator unlocks (stored as the minimum int64). The lab's
    # default, so that a lock injected at `lab up` still holds when the sweep runs.
    lockout_duration_minutes: int = 0
    reset_lockout_after_minutes: int = 30
    max_pwd_age_days: int = 90
    min_pwd_age_days: int = 0
    min_pwd_length: int = 8
    complexity: bool = False  # the lab's generated passwords need not be complex
    history_length: int = 0


@dataclass
class PSOSpec:
    """A fine-grained password policy (msDS-PasswordSettings) for groups or users."""

    name: str
    applies_to: list[str] = field(default_factory=list)  # group names
    applies_to_users: list[str] = field(default_factory=list)  # usernames
    precedence: int = 10
    max_pwd_age_days: int = 30
    lockout_threshold: int = 5
    lockout_duration_minutes: int = 60  # 0 = until an administrator unlocks
    observation_window_minutes: int = 60
    min_pwd_length: int = 8
    complexity: bool = False


def _default_service_password() -> str:
    return "Readiness-Svc-Lab-1"


@dataclass
class SambaSpec:
    users: Sequence[ADUserSpec] = ()
    groups: Sequence[ADGroupSpec] = ()
    psos: Sequence[PSOSpec] = ()
    policy: DomainPolicySpec = field(default_factory=DomainPolicySpec)
    realm: str = "AD.VALESHARED.TEST"
    domain: str = "VALESHARED"  # NetBIOS domain
    host_name: str = "dc1"
    address: str = field(kw_only=True)  # the lab's: Slot.ad
    users_ou: str = "Staff"
    groups_ou: str = "Groups"
    service_ou: str = "Service Accounts"
    service_username: str = "svc-readiness"  # read-only account for the sweep
    service_password: str = field(default_factory=_default_service_password)
    admin_password: str = "Readiness-Adm-Lab-1"  # noqa: S105 - lab only, 0600 file
    ldap_port: int = 389
    ldaps_port: int = 636
    prefork_children: int = 2

    @property
    def dns_domain(self) -> str:
        return self.realm.lower()

    @property
    def dns_name(self) -> str:
        return f"{self.host_name}.{self.dns_domain}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={p}" for p in self.dns_domain.split("."))

    @property
    def users_base(self) -> str:
        return f"OU={self.users_ou},{self.base_dn}"

    @property
    def groups_base(self) -> str:
        return f"OU={self.groups_ou},{self.base_dn}"

    @property
    def service_base(self) -> str:
        return f"OU={self.service_ou},{self.base_dn}"

    @property
    def service_dn(self) -> str:
        return f"CN={self.service_username},{self.service_base}"

    @property
    def pso_base(self) -> str:
        return f"CN=Password Settings Container,CN=System,{self.base_dn}"

    def upn(self, username: str) -> str:
        return f"{username}@{self.dns_domain}"


@dataclass(frozen=True)
class SambaInfo:
    name: str  # supervisor process name
    pid: int
    address: str
    dns_name: str  # dc1.ad.valeshared.test (certificate name)
    realm: str
    domain: str
    ldap_url: str  # ldap://ADDRESS:389 (StartTLS required for simple binds)
    ldaps_url: str  # ldaps://ADDRESS:636
    base_dn: str
    users_base: str
    groups_base: str
    pso_base: str
    service_dn: str  # read-only account of the sweep
    service_upn: str
    service_password_file: Path  # mode 0600
    admin_upn: str
    admin_password_file: Path  # mode 0600
    ca_file: Path
    smb_conf: Path
    target_dir: Path
    accounts: int  # users created (staff + service account)
    locked: tuple[str, ...]  # usernames locked for real after start
    address_added: bool  # the address was added to lo by start_samba
    timings: dict[str, float]  # provision, passwordsettings, load, start, lock (seconds)


# --------------------------------------------------------------------------- public


def start_samba(
    spec: SambaSpec,
    supervisor: Supervisor,
    ca: LabCA,
    state_dir: Path,
    *,
    now: dt.datetime | None = None,
) -> SambaInfo:
    """Provision, load and start the DC; lock the accounts marked ``lock``.

    Raises LabError (with the tool's output) when any step fails; a failure to
    produce a requested fault is an error, never silently skipped.
    """
    for tool in ("samba", "samba-tool", "ldbadd", "ldbmodify"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed (Debian packages samba, ldb-tools)")
    _check_spec(spec)
    name = "samba-dc"
    supervisor.stop(name)
    root = (state_dir / "samba").resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    timings: dict[str, float] = {}
    address_added = _ensure_address(spec.address)
    (root / "address-added").write_text("yes\n" if address_added else "no\n")

    issued = ca.issue("samba-dc1", [spec.dns_name], [spec.address])
    target = root / "dc"
    t0 = time.perf_counter()
    try:
        run(_provision_argv(spec, target, issued.cert, issued.key, ca.cert_path))
    except LabError as err:  # the argv holds the admin password: never show it
        raise LabError(str(err).replace(spec.admin_password, "***")) from None
    timings["provision"] = time.perf_counter() - t0
    smb_conf = target / "etc" / "smb.conf"
    _finish_conf(smb_conf, target)
    sam = target / "private" / "sam.ldb"

    t0 = time.perf_counter()
    p = spec.policy
    run(
        [
            "samba-tool",
            "domain",
            "passwordsettings",
            "set",
            "-H",
            str(sam),
            f"--account-lockout-threshold={p.lockout_threshold}",
            f"--account-lockout-duration={p.lockout_duration_minutes}",
            f"--reset-account-lockout-after={p.reset_lockout_after_minutes}",
            f"--max-pwd-age={p.max_pwd_age_days}",
            f"--min-pwd-age={p.min_pwd_age_days}",
            f"--min-pwd-length={p.min_pwd_length}",
            f"--complexity={'on' if p.complexity else 'off'}",
            f"--history-length={p.history_length}",
        ]
    )
    timings["passwordsettings"] = time.perf_counter() - t0

    now = now or dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    ldif, accounts = build_ldif(spec, now)
    ldif_path = root / "load.ldif"
    _secret_file(ldif_path, ldif)  # holds passwords: 0600
    try:
        run(["ldbadd", "-H", str(sam), str(ldif_path)])
    finally:
        ldif_path.unlink()
    _grant_pso_read(sam, spec)
    timings["load"] = time.perf_counter() - t0
    timings["per_account"] = timings["load"] / max(accounts, 1)

    t0 = time.perf_counter()
    backdate = _backdate_ldif(spec, now)
    if backdate:
        partition = _domain_partition(target, spec)
        run(["ldbmodify", "-H", f"tdb://{partition}"], input=backdate)
    timings["backdate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    managed = supervisor.start(
        name,
        ["samba", "-s", str(smb_conf), "-F", "--debug-stdout", "-d", "1"],
        ready=_ldaps_ready(spec.address, spec.ldaps_port, ca.cert_path, spec.dns_name),
        ready_timeout=90,
    )
    timings["start"] = time.perf_counter() - t0

    service_file = _secret_file(root / "service.secret", spec.service_password)
    admin_file = _secret_file(root / "admin.secret", spec.admin_password)
    info = SambaInfo(
        name=name,
        pid=managed.pid,
        address=spec.address,
        dns_name=spec.dns_name,
        realm=spec.realm,
        domain=spec.domain,
        ldap_url=f"ldap://{spec.address}:{spec.ldap_port}",
        ldaps_url=f"ldaps://{spec.address}:{spec.ldaps_port}",
        base_dn=spec.base_dn,
        users_base=spec.users_base,
        groups_base=spec.groups_base,
        pso_base=spec.pso_base,
        service_dn=spec.service_dn,
        service_upn=spec.upn(spec.service_username),
        service_password_file=service_file,
        admin_upn=spec.upn("Administrator"),
        admin_password_file=admin_file,
        ca_file=ca.cert_path,
        smb_conf=smb_conf,
        target_dir=target,
        accounts=accounts,
        locked=tuple(u.username for u in spec.users if u.present and u.lock),
        address_added=address_added,
        timings=timings,
    )
    t0 = time.perf_counter()
    try:
        for user in spec.users:
            if user.present and user.lock:
                lock_account(info, spec, user.username, attempts=_lock_attempts(spec, user))
    except Exception:
        stop_samba(info, supervisor)
        raise
    timings["lock"] = time.perf_counter() - t0
    return info


def stop_samba(info: SambaInfo, supervisor: Supervisor) -> None:
    """Stop the DC by PID and remove the address from ``lo`` if start_samba added it."""
    supervisor.stop(info.name)
    if info.address_added:
        remove_address(info.address)


def stop_samba_state(state_dir: Path, supervisor: Supervisor, address: str) -> None:
    """Teardown from another process (``lab down``), from what the state folder records."""
    supervisor.stop("samba-dc")
    marker = state_dir / "samba" / "address-added"
    if marker.exists() and marker.read_text().strip() == "yes":
        remove_address(address)
        marker.write_text("no\n")


def datetime_to_filetime(value: dt.datetime) -> int:
    """A Windows FILETIME (100 ns intervals since 1601-01-01 UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value.astimezone(dt.UTC) - _EPOCH_1601
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def lock_account(info: SambaInfo, spec: SambaSpec, username: str, attempts: int) -> int:
    """Lock ``username`` for real: wrong-password simple binds over LDAPS.

    Returns the number of failed binds made; raises LabError unless the DC then
    answers a bind with the AD "account locked" diagnostic (data 775).
    """
    import ldap3  # imported here: only the lab needs it at this point

    tls = _tls(info.ca_file, info.dns_name)
    server = ldap3.Server(
        info.address,
        port=spec.ldaps_port,
        use_ssl=True,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=5,
    )
    made = 0
    for _ in range(attempts):
        conn = ldap3.Connection(
            server,
            user=spec.upn(username),
            password="wrong-" + username,
            raise_exceptions=False,
            receive_timeout=10,
        )
        conn.open()
        ok = conn.bind()
        message = str(conn.result.get("message", ""))
        conn.unbind()
        made += 1
        if ok:
            raise LabError(f"a wrong password bound as {username}: lab DC is misconfigured")
        if "data 775" in message:
            return made
    raise LabError(f"{username} was not locked after {made} failed binds")


def build_ldif(spec: SambaSpec, now: dt.datetime) -> tuple[str, int]:
    """The LDIF of OUs, users, service account, groups and PSOs; and the account count."""
    out: list[str] = []
    for ou in (spec.users_ou, spec.groups_ou, spec.service_ou):
        out.append(
            _entry(f"OU={ou},{spec.base_dn}", [("objectClass", "organizationalUnit"), ("ou", ou)])
        )
    user_dns = _user_dns(spec)
    accounts = 0
    for user in spec.users:
        if not user.present:
            continue
        out.append(_entry(user_dns[user.username], _user_attrs(spec, user, now)))
        accounts += 1
    # The sweep's read-only service account: an ordinary user (no admin rights).
    svc = spec.service_username
    out.append(
        _entry(
            spec.service_dn,
            [
                ("objectClass", "user"),
                ("sAMAccountName", svc),
                ("userPrincipalName", spec.upn(svc)),
                ("displayName", "Readiness sweep (read-only)"),
                ("description", "Read-only service account of the Day-1 readiness sweep"),
                ("userAccountControl", str(UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD)),
                ("unicodePwd", _unicode_pwd(spec.service_password)),
            ],
        )
    )
    accounts += 1
    group_dns = {g.name: f"CN={g.name},{spec.groups_base}" for g in spec.groups}
    members: dict[str, list[str]] = {g.name: [] for g in spec.groups}
    for user in spec.users:
        if user.present:
            for group_name in user.groups:
                members[group_name].append(user_dns[user.username])
    for g in spec.groups:
        for parent in g.member_of:
            members[parent].append(group_dns[g.name])
    for g in _groups_in_order(spec.groups):
        attrs = [
            ("objectClass", "group"),
            ("sAMAccountName", g.name),
            ("groupType", "-2147483646"),
        ]  # global security group
        if g.description:
            attrs.append(("description", g.description))
        if g.mail:
            attrs.append(("mail", g.mail))
        attrs += [("member", m) for m in members[g.name]]
        out.append(_entry(group_dns[g.name], attrs))
    for pso in spec.psos:
        out.append(_entry(f"CN={pso.name},{spec.pso_base}", _pso_attrs(pso, group_dns, user_dns)))
    return "\n".join(out), accounts


# --------------------------------------------------------------------------- helpers


def _check_spec(spec: SambaSpec) -> None:
    names = {g.name for g in spec.groups}
    seen: set[str] = set()
    for user in spec.users:
        key = user.username.lower()
        bad = set(user.username) & set('"/\\[]:;|=,+*?<>@')
        if not user.username or len(user.username) > 20 or bad:
            raise LabError(
                f"invalid sAMAccountName {user.username!r}: at most 20 characters, "
                'none of "/\\[]:;|=,+*?<>@'
            )
        if key in seen:
            raise LabError(f"duplicate AD username {user.username}")
        seen.add(key)
        for group_name in user.groups:
            if group_name not in names:
                raise LabError(f"user {user.username} is in unknown group {group_name}")
        if user.lock and (user.disabled or not user.present):
            raise LabError(f"{user.username}: only a present, enabled account can be locked")
        if user.expired_lock_age is not None:
            _, minutes = _lockout_for(spec, user)
            if minutes <= 0 or dt.timedelta(minutes=minutes) >= user.expired_lock_age:
                raise LabError(
                    f"{user.username}: a lock {user.expired_lock_age} old has not run out "
                    f"under a lockout duration of {minutes or 'forever'} minutes"
                )
    for g in spec.groups:
        for parent in g.member_of:
            if parent not in names:
                raise LabError(f"group {g.name} is nested in unknown group {parent}")
    for pso in spec.psos:
        for group_name in pso.applies_to:
            if group_name not in names:
                raise LabError(f"PSO {pso.name} applies to unknown group {group_name}")
        for u in pso.applies_to_users:
            if u.lower() not in seen:
                raise LabError(f"PSO {pso.name} applies to unknown user {u}")
    _groups_in_order(spec.groups)  # raises on a nesting cycle


def _groups_in_order(groups: Sequence[ADGroupSpec]) -> list[ADGroupSpec]:
    """Groups ordered so that a nested group is added before the groups holding it."""
    by_name = {g.name: g for g in groups}
    done: dict[str, ADGroupSpec] = {}
    visiting: set[str] = set()

    # Iterative DFS over "is contained in": a parent needs its member groups first.
    children: dict[str, list[str]] = {g.name: [] for g in groups}
    for g in groups:
        for parent in g.member_of:
            children[parent].append(g.name)

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise LabError(f"group nesting cycle through {name}")
        visiting.add(name)
        for child in children[name]:
            visit(child)
        visiting.discard(name)
        done[name] = by_name[name]

    for g in groups:
        visit(g.name)
    return list(done.values())


def _user_dns(spec: SambaSpec) -> dict[str, str]:
    counts: dict[str, int] = {}
    for u in spec.users:
        counts[u.common_name.lower()] = counts.get(u.common_name.lower(), 0) + 1
    dns: dict[str, str] = {}
    for u in spec.users:
        cn = (
            u.common_name
            if counts[u.common_name.lower()] == 1
            else (f"{u.common_name} ({u.username})")
        )
        dns[u.username] = f"CN={_escape_rdn(cn)},{spec.users_base}"
    return dns


def _escape_rdn(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _user_attrs(spec: SambaSpec, user: ADUserSpec, now: dt.datetime) -> list[tuple[str, str]]:
    uac = UF_NORMAL_ACCOUNT
    if user.disabled:
        uac |= UF_ACCOUNTDISABLE
    if user.password_never_expires:
        uac |= UF_DONT_EXPIRE_PASSWD
    if user.password_not_required:
        uac |= UF_PASSWD_NOTREQD
    attrs: list[tuple[str, str]] = [
        ("objectClass", "user"),
        ("sAMAccountName", user.username),
        ("userPrincipalName", spec.upn(user.username)),
        ("givenName", user.given_name),
        ("sn", user.surname),
        ("displayName", user.common_name),
        ("userAccountControl", str(uac)),
        ("unicodePwd", _unicode_pwd(user.password)),
    ]
    if user.mail:
        attrs.append(("mail", user.mail))
    attrs += [("proxyAddresses", a) for a in user.proxy_addresses]
    if user.telephone:
        attrs.append(("telephoneNumber", user.telephone))
    if user.organisation:
        attrs.append(("company", user.organisation))
    if user.employee_id:
        attrs.append(("employeeID", user.employee_id))
    if user.title:
        attrs.append(("title", user.title))
    if user.must_change:
        attrs.append(("pwdLastSet", "0"))
    if user.account_expires is not None:
        attrs.append(("accountExpires", str(datetime_to_filetime(user.account_expires))))
    return attrs


def _backdate_ldif(spec: SambaSpec, now: dt.datetime) -> str:
    """Modifications written straight into the domain partition (see module doc)."""
    user_dns = _user_dns(spec)
    out: list[str] = []
    for user in spec.users:
        if not user.present:
            continue
        changes: list[tuple[str, str]] = []
        if user.password_age is not None and not user.must_change:
            changes.append(("pwdLastSet", str(datetime_to_filetime(now - user.password_age))))
        if user.expired_lock_age is not None:
            when = str(datetime_to_filetime(now - user.expired_lock_age))
            threshold = _threshold_for(spec, user)
            changes += [
                ("lockoutTime", when),
                ("badPasswordTime", when),
                ("badPwdCount", str(max(threshold, 1))),
            ]
        if changes:
            lines = [f"dn: {user_dns[user.username]}", "changetype: modify"]
            for attr, value in changes:
                lines += [f"replace: {attr}", f"{attr}: {value}", "-"]
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _lockout_for(spec: SambaSpec, user: ADUserSpec) -> tuple[int, int]:
    """(threshold, duration in minutes; 0 = until unlocked) applying to ``user``.

    A PSO linked to the user directly wins over group PSOs; then the lowest
    precedence wins (MS-ADTS 3.1.1.4.5.36 msDS-ResultantPSO).
    """
    direct = [p for p in spec.psos if user.username in p.applies_to_users]
    groups = _all_groups(spec, user)
    via_group = [p for p in spec.psos if any(g in p.applies_to for g in groups)]
    applicable = direct or via_group
    if applicable:
        pso = min(applicable, key=lambda p: p.precedence)
        return pso.lockout_threshold, pso.lockout_duration_minutes
    return spec.policy.lockout_threshold, spec.policy.lockout_duration_minutes


def _threshold_for(spec: SambaSpec, user: ADUserSpec) -> int:
    return _lockout_for(spec, user)[0]


def _all_groups(spec: SambaSpec, user: ADUserSpec) -> set[str]:
    parents = {g.name: g.member_of for g in spec.groups}
    found: set[str] = set()
    todo = list(user.groups)
    while todo:
        g = todo.pop()
        if g not in found:
            found.add(g)
            todo += parents.get(g, [])
    return found


def _lock_attempts(spec: SambaSpec, user: ADUserSpec) -> int:
    threshold = _threshold_for(spec, user)
    if threshold <= 0:
        raise LabError(f"{user.username}: no lockout policy applies, it cannot be locked")
    return threshold + 1  # the last one must answer 775


def _pso_attrs(
    pso: PSOSpec, group_dns: dict[str, str], user_dns: dict[str, str]
) -> list[tuple[str, str]]:
    def interval(minutes: float) -> str:
        return str(-int(minutes * 60 * 10_000_000))

    attrs = [
        ("objectClass", "msDS-PasswordSettings"),
        ("msDS-PasswordSettingsPrecedence", str(pso.precedence)),
        ("msDS-PasswordReversibleEncryptionEnabled", "FALSE"),
        ("msDS-PasswordHistoryLength", "0"),
        ("msDS-PasswordComplexityEnabled", "TRUE" if pso.complexity else "FALSE"),
        ("msDS-MinimumPasswordLength", str(pso.min_pwd_length)),
        ("msDS-MinimumPasswordAge", "0"),
        ("msDS-MaximumPasswordAge", interval(pso.max_pwd_age_days * 1440)),
        ("msDS-LockoutThreshold", str(pso.lockout_threshold)),
        ("msDS-LockoutObservationWindow", interval(pso.observation_window_minutes)),
        ("msDS-LockoutDuration", interval(pso.lockout_duration_minutes)),
    ]
    attrs += [("msDS-PSOAppliesTo", group_dns[g]) for g in pso.applies_to]
    attrs += [("msDS-PSOAppliesTo", user_dns[u]) for u in pso.applies_to_users]
    return attrs


def _unicode_pwd(password: str) -> str:
    return "\0b64:" + base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode()


def _value(name: str, value: str) -> str:
    if value.startswith("\0b64:"):
        return f"{name}:: {value[5:]}"
    safe = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<"))
    if safe and not value.endswith(" "):
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, attrs: Iterable[tuple[str, str]]) -> str:
    lines = [_value("dn", dn)]
    lines += [_value(k, v) for k, v in attrs]
    return "\n".join(lines) + "\n"


def _provision_argv(
    spec: SambaSpec, target: Path, cert: Path, key: Path, cafile: Path
) -> list[str]:
    return [
        "samba-tool",
        "domain",
        "provision",
        f"--realm={spec.realm}",
        f"--domain={spec.domain}",
        "--server-role=dc",
        "--dns-backend=NONE",
        f"--targetdir={target}",
        f"--host-name={spec.host_name}",
        f"--host-ip={spec.address}",
        f"--adminpass={spec.admin_password}",
        "--use-rfc2307",
        "--option=interfaces = " + spec.address,
        "--option=bind interfaces only = yes",
        "--option=server services = ldap, kdc",
        "--option=tls enabled = yes",
        f"--option=tls keyfile = {key}",
        f"--option=tls certfile = {cert}",
        f"--option=tls cafile = {cafile}",
        f"--option=prefork children = {spec.prefork_children}",
    ]


def _finish_conf(smb_conf: Path, target: Path) -> None:
    """Keep every file the server writes inside the state folder."""
    extra = {
        "pid directory": target / "run",
        "log file": target / "log" / "samba.log",
        "winbindd socket directory": target / "run" / "winbindd",
        "ntp signd socket directory": target / "run" / "ntp_signd",
    }
    for d in extra.values():
        (d if d.suffix == "" else d.parent).mkdir(parents=True, exist_ok=True)
    text = smb_conf.read_text()
    lines = "".join(f"\t{k} = {v}\n" for k, v in extra.items())
    smb_conf.write_text(text.replace("[global]\n", "[global]\n" + lines, 1))


def _grant_pso_read(sam: Path, spec: SambaSpec) -> None:
    """Delegate read access on the Password Settings Container to the service account.

    By default only Domain Admins may read PSOs (as on Windows); monitoring accounts
    are usually granted read there, and the sweep needs the PSOs' settings.
    """
    out = run(
        ["ldbsearch", "-H", str(sam), f"(sAMAccountName={spec.service_username})", "objectSid"]
    ).stdout
    sids = [
        line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("objectSid:")
    ]
    if len(sids) != 1:
        raise LabError(f"service account {spec.service_username} not found after load")
    run(
        [
            "samba-tool",
            "dsacl",
            "set",
            "-H",
            str(sam),
            f"--objectdn={spec.pso_base}",
            f"--sddl=(A;CI;RPLCLORC;;;{sids[0]})",
        ]
    )


def _domain_partition(target: Path, spec: SambaSpec) -> Path:
    path = target / "private" / "sam.ldb.d" / f"{spec.base_dn.upper()}.ldb"
    if not path.exists():
        raise LabError(f"domain partition file not found: {path}")
    return path


def _secret_file(path: Path, value: str) -> Path:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(value + "\n", encoding="utf-8")
    return path


def _tls(ca_file: Path, dns_name: str) -> Any:
    import ldap3

    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(ca_file),
        valid_names=[dns_name],
        version=ssl.PROTOCOL_TLS_CLIENT,
    )


def _ldaps_ready(host: str, port: int, ca_file: Path, dns_name: str) -> Callable[[], bool]:
    tcp = tcp_ready(host, port)

    def probe() -> bool:
        if not tcp():
            return False
        import socket

        ctx = ssl.create_default_context(cafile=str(ca_file))
        with (
            socket.create_connection((host, port), timeout=2) as sock,
            ctx.wrap_socket(sock, server_hostname=dns_name),
        ):
            return True

    return probe


def _has_address(address: str) -> bool:
    out = run(["ip", "-4", "-o", "addr", "show", "dev", "lo"]).stdout
    return any(f" {address}/" in line for line in out.splitlines())


def _ensure_address(address: str) -> bool:
    """Add ``address``/32 to lo when missing; True if this call added it."""
    if _has_address(address):
        return False
    run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])
    return True


def remove_address(address: str) -> None:
    with contextlib.suppress(LabError):
        if _has_address(address):
            run(["ip", "addr", "del", f"{address}/32", "dev", "lo"])
