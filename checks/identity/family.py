"""The identity family: can every staff member log in on Day 1, and why not?

Per directory and sweep: one connection with the read-only service account and a
fixed number of paged searches (people, groups, policies), each asking only for the
attributes needed; every person's results are computed from that snapshot (shared
between batches with ``ctx.shared``). Pilot accounts additionally get one real bind
under the lockout-safety rules (fresh headroom read, at least ``min_headroom``
attempts left, the core's attempt ledger, one attempt per sweep, no retry).

Checks (result ``check`` ids, one result per assertion):

* ``identity.account-exists``  found by username / upn / mail (near misses in the hint)
* ``identity.account-usable``  not disabled, not locked at go-live, start/end times
* ``identity.password-valid``  not expired at go-live, grace logins, must-change (warn)
* ``identity.mail-attribute``  new-domain address present, old addresses kept
* ``identity.extension``       telephone extension
* ``identity.attributes``      attributes the inventory requires
* ``identity.group-member``    one per group the role / applications need (nested)
* ``identity.pilot-login``     a real bind for pilot accounts
"""

from __future__ import annotations

import datetime as dt
import difflib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from pydantic import BaseModel

from readiness.family import CheckFamily, HostRef, PlanContext, Probe, Problem, RunContext
from readiness.inventory import Inventory
from readiness.inventory.models import Staff
from readiness.results import Result, Status

from . import ppolicy
from .client import DirectoryError, Endpoint, LdapSession
from .config import Directory
from .state import AccountState

FAMILY = "identity"
EXISTS = "identity.account-exists"
USABLE = "identity.account-usable"
PASSWORD = "identity.password-valid"  # noqa: S105 - a check id
MAIL = "identity.mail-attribute"
EXTENSION = "identity.extension"
ATTRIBUTES = "identity.attributes"
GROUP = "identity.group-member"
PILOT = "identity.pilot-login"

# Findings of an AccountState go to the check they belong to.
PASSWORD_CODES = frozenset({
    "must-change", "password-expired", "password-expired-grace", "grace-exhausted",
    "password-expiring", "password-not-required", "password-expires-before-go-live",
    "password-expires-soon-after-go-live",
})

# Attributes holding password material (hashes, history, keys): their values would be
# echoed into results, so the inventory may not ask for them and they are never read.
SECRET_ATTRIBUTES = frozenset({
    "userpassword", "unicodepwd", "sambantpassword", "sambalmpassword", "ntpwdhistory",
    "lmpwdhistory", "supplementalcredentials", "dbcspwd", "userpkcs12", "authpassword",
    "sambapasswordhistory", "unixuserpassword", "msds-managedpassword", "ms-mcs-admpwd",
    "mslaps-password", "mslaps-encryptedpassword", "orclcommonattribute",
})
# LDAP results of a pilot bind that are the directory's answer about the credential or
# the account (the pilot cannot log in); any other code means "could not find out".
BIND_REFUSED = frozenset({48, 49, 50, 53})
# The inventory field each match kind reads (for file:line in validation problems).
MATCH_FIELD = {"username": "username", "upn": "upn", "mail": "new_mail"}

OPENLDAP_PEOPLE_FILTER = "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))"
AD_PEOPLE_FILTER = "(&(objectCategory=person)(objectClass=user))"


def _scope(directory: Directory, person: Staff) -> bool:
    if directory.organisations and person.organisation not in directory.organisations:
        return False
    return not directory.staff_tags or bool(set(directory.staff_tags) & set(person.tags))


def _is_secret_attribute(name: str) -> bool:
    return name.strip().split(";", 1)[0].lower() in SECRET_ATTRIBUTES


def _member_dn(value: str) -> str:
    """A ``member``/``uniqueMember`` value as a DN: uniqueMember (nameAndOptionalUID)
    may carry a ``#'0101'B`` bit-string suffix after the DN."""
    if value.endswith("'B"):
        head, sep, tail = value.rpartition("#'")
        if sep and all(ch in "01" for ch in tail[:-2]):
            return head
    return value


def _key_of(directory: Directory, person: Staff) -> str:
    if directory.match == "upn":
        return person.upn
    if directory.match == "mail":
        return person.new_mail
    return person.username or person.id


def _norm(dn: str) -> str:
    return ppolicy.normalise_dn(dn)


def _vals(attrs: Mapping[str, Any], name: str) -> list[str]:
    """Values of ``name`` in an entry whose keys are lower-cased (see :func:`_lowered`)."""
    values = attrs.get(name.lower())
    if values is None:
        values = attrs.get(name)
        if values is None:
            return []
    if isinstance(values, (str, bytes, int)):
        values = [values]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _lowered(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict with lower-cased attribute names (fast lookups for 10,000 entries)."""
    return {k.lower(): v for k, v in attrs.items()}


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


# ----------------------------------------------------------------------------- snapshot


@dataclass
class Snapshot:
    """Everything one sweep read from one directory."""

    dir_id: str
    directory: Directory
    people: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    index: dict[str, list[int]] = field(default_factory=dict)  # match key -> people rows
    by_mail: dict[str, list[int]] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)  # cn or dn (lower) -> dn norm
    group_cn: dict[str, str] = field(default_factory=dict)  # dn norm -> cn
    parents: dict[str, set[str]] = field(default_factory=dict)  # member dn norm -> groups
    policies: dict[str, ppolicy.PPolicy] = field(default_factory=dict)
    default_policy: str | None = None
    ad_policy: Any = None
    operations: int = 0
    seconds: float = 0.0

    def find(self, key: str) -> list[int]:
        return self.index.get(key.lower(), []) if key else []

    def groups_of(self, dn: str) -> frozenset[str]:
        """Every group ``dn`` is a member of, nested groups resolved."""
        seen: set[str] = set()
        stack = list(self.parents.get(_norm(dn), ()))
        while stack:
            g = stack.pop()
            if g in seen:
                continue
            seen.add(g)
            stack.extend(self.parents.get(g, ()))
        return frozenset(seen)

    def resolve_group(self, name: str) -> str | None:
        return self.group_names.get(name.lower()) or self.group_names.get(_norm(name))


def _match_attribute(directory: Directory) -> str:
    if directory.kind == "ad":
        return {"username": "sAMAccountName", "upn": "userPrincipalName",
                "mail": "mail"}[directory.match]
    return {"username": "uid", "upn": "mail", "mail": "mail"}[directory.match]


def people_attributes(directory: Directory, extra: Iterable[str] = ()) -> list[str]:
    """The attributes asked for on people entries (``extra``: the staff records'
    ``attributes`` names); password material is never requested."""
    attrs = {"mail", "telephoneNumber", "memberOf", _match_attribute(directory)}
    if directory.kind == "ad":
        attrs |= {"proxyAddresses", "sAMAccountName", "userPrincipalName", "displayName"}
        attrs |= set(_ad().AD_ATTRIBUTES)
    else:
        attrs |= {"uid", *ppolicy.PPOLICY_ATTRIBUTES}
    attrs |= set(directory.required_attributes) | set(extra)
    return sorted(a for a in attrs if not _is_secret_attribute(a))


def _ad() -> Any:
    from . import ad

    return ad


class _Reader:
    """Opens the service-account session of one directory."""

    def __init__(self, dir_id: str, directory: Directory, ctx: RunContext) -> None:
        self.dir_id = dir_id
        self.directory = directory
        self.ctx = ctx
        self.endpoint = Endpoint.parse(directory.url)

    def ca_file(self) -> str | None:
        inv = self.ctx.inventory
        if self.directory.ca_bundle:
            return str(inv.resolve_path(self.directory.ca_bundle, "directories", self.dir_id,
                                        "ca_bundle"))
        for org_id in self.directory.organisations or list(inv.organisations):
            org = inv.organisations.get(org_id)
            if org and org.ca_bundle:
                return str(inv.resolve_path(org.ca_bundle, "organisations", org_id,
                                            "ca_bundle"))
        return None

    def address(self) -> str:
        def compute() -> Any:
            from readiness import naming

            try:
                found = self.ctx.resolve(self.endpoint.host)  # cached per sweep
            except naming.ResolveError as exc:
                raise DirectoryError("dns", f"cannot resolve {self.endpoint.host}: "
                                     f"{exc.detail}", "check the directory's DNS record and "
                                     "the programme's resolvers") from None
            if not found:
                raise DirectoryError("dns", f"{self.endpoint.host} has no address")
            return found[0]

        value = self.ctx.shared(("identity-address", self.endpoint.host), compute)
        if isinstance(value, BaseException):
            raise value
        return str(value)

    def session(self) -> LdapSession:
        d = self.directory
        session = LdapSession(
            self.dir_id, self.endpoint, self.address(), start_tls=d.start_tls,
            ca_file=self.ca_file(), tls_verify=d.tls_verify,
            allow_cleartext=d.allow_cleartext_bind, timeout=d.timeout,
        )
        session.open()
        return session

    def service_session(self) -> LdapSession:
        from readiness.secrets import SecretError

        try:
            password = self.ctx.secret(self.directory.bind_password)
        except SecretError as exc:
            raise DirectoryError("secret", f"the service account's password for {self.dir_id} "
                                 f"could not be read: {exc}",
                                 "check bind_password's reference and the secret it points "
                                 "at") from None
        session = self.session()
        try:
            result = session.bind(self.directory.bind_dn, password)
        except BaseException:
            session.close()
            raise
        if result.get("result") != 0:
            session.close()
            desc = result.get("description", "")
            raise DirectoryError(
                "service-bind", f"the service account {self.directory.bind_dn} could not bind "
                f"to {session.where}: {desc} {result.get('message', '')}".strip(),
                "check bind_dn and the secret bind_password refers to (and that the account "
                "is not locked or expired)",
            )
        return session


def fetch(dir_id: str, directory: Directory, ctx: RunContext) -> Snapshot:
    """Read people, groups and policies of one directory: a fixed number of searches."""
    from .client import OPERATIONS

    started = time.perf_counter()
    ops_before = OPERATIONS.total(dir_id)
    reader = _Reader(dir_id, directory, ctx)
    snap = Snapshot(dir_id, directory)
    base = directory.base_dn
    people_base = directory.people_base or base
    groups_base = directory.groups_base or base
    ad = directory.kind == "ad"
    extra = {name for person in ctx.inventory.staff if _scope(directory, person)
             for name in person.attributes}
    session = reader.service_session()
    try:
        people = session.search(
            people_base, directory.people_filter or (AD_PEOPLE_FILTER if ad
                                                      else OPENLDAP_PEOPLE_FILTER),
            people_attributes(directory, extra), page_size=directory.page_size,
        )
        group_attrs = (["cn", "memberOf"] if ad
                       else ["cn", "member", "uniqueMember", "memberOf"])
        groups = session.search(
            groups_base, "(objectClass=group)" if ad
            else "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            group_attrs, page_size=directory.page_size,
        )
        if ad:
            adm = _ad()
            domain = session.search(base, "(objectClass=*)", list(adm.DOMAIN_ATTRIBUTES),
                                    page_size=1, scope="BASE")
            try:
                psos = session.search(
                    f"CN=Password Settings Container,CN=System,{base}",
                    "(objectClass=msDS-PasswordSettings)", list(adm.PSO_ATTRIBUTES),
                    page_size=directory.page_size,
                ).entries
            except DirectoryError as exc:
                if exc.code not in ("no-such-object", "access"):
                    raise
                psos = []  # no fine-grained policies visible: the domain policy applies
            domain_attrs = domain.entries[0][1] if domain.entries else {}
            snap.ad_policy = adm.policy_from_entries(
                domain_attrs, [{**attrs, "dn": dn} for dn, attrs in psos])
        else:
            policies_base = directory.policies_base or base
            pols = session.search(policies_base, "(objectClass=pwdPolicy)",
                                  ["cn", *ppolicy.POLICY_ATTRIBUTES],
                                  page_size=directory.page_size)
            for dn, attrs in pols.entries:
                snap.policies[_norm(dn)] = ppolicy.PPolicy.from_entry(dn, attrs)
            snap.default_policy = directory.default_policy or (
                f"cn=default,{directory.policies_base or 'ou=policies,' + base}"
            )
    finally:
        session.close()
    snap.people = [(dn, _lowered(attrs)) for dn, attrs in people.entries]
    snap.references = people.references + groups.references
    match_attr = _match_attribute(directory)
    for row, (dn, attrs) in enumerate(snap.people):
        for value in _vals(attrs, match_attr):
            snap.index.setdefault(value.lower(), []).append(row)
        for value in _mail_values(directory, attrs):
            snap.by_mail.setdefault(value.lower(), []).append(row)
        for g in _vals(attrs, "memberOf"):
            snap.parents.setdefault(_norm(dn), set()).add(_norm(g))
    for dn, attrs in groups.entries:
        gdn = _norm(dn)
        for cn in _vals(attrs, "cn"):
            snap.group_names.setdefault(cn.lower(), gdn)
            snap.group_cn.setdefault(gdn, cn)
        snap.group_names[gdn] = gdn
        for m in [*_vals(attrs, "member"), *_vals(attrs, "uniqueMember")]:
            snap.parents.setdefault(_norm(_member_dn(m)), set()).add(gdn)
        for g in _vals(attrs, "memberOf"):
            snap.parents.setdefault(gdn, set()).add(_norm(g))
    snap.operations = OPERATIONS.total(dir_id) - ops_before
    snap.seconds = time.perf_counter() - started
    return snap


def _mail_values(directory: Directory, attrs: Mapping[str, Any]) -> list[str]:
    values = _vals(attrs, "mail")
    if directory.kind == "ad":
        for proxy in _vals(attrs, "proxyAddresses"):
            scheme, _, address = proxy.partition(":")
            if scheme.lower() == "smtp" and address:
                values.append(address)
    return values


# ----------------------------------------------------------------------------- family


class IdentityFamily(CheckFamily):
    name = "identity"
    description = ("Every staff member's account exists, is usable at go-live, carries the "
                   "attributes and groups the role needs; pilot accounts can really log in")
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {"directories": Directory}
    reads: ClassVar[Sequence[str]] = (
        "directories.*", "staff.*.username", "staff.*.upn", "staff.*.new_mail",
        "staff.*.old_mail", "staff.*.extension", "staff.*.attributes", "staff.*.pilot",
        "staff.*.credential", "staff.*.tags", "roles.*.groups", "roles.*.applications",
        "roles.*.extension", "roles.*.mailbox", "organisations.*.mail_domains",
        "organisations.*.ca_bundle",
    )
    default_timeout = 10.0

    # -- inventory-level hooks ------------------------------------------------------
    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        for dir_id, d in inventory.section("directories").items():
            for org in d.organisations:
                if org not in inventory.organisations:
                    yield Problem(inventory.where("directories", dir_id, "organisations"),
                                  f"directory {dir_id} names unknown organisation {org!r}",
                                  "known organisations: "
                                  + ", ".join(sorted(inventory.organisations)))
            try:
                endpoint = Endpoint.parse(d.url)
            except DirectoryError as exc:
                yield Problem(inventory.where("directories", dir_id, "url"), exc.message)
                continue
            if (endpoint.scheme == "ldap" and not d.start_tls and not d.allow_cleartext_bind):
                yield Problem(inventory.where("directories", dir_id, "url"),
                              f"directory {dir_id}: ldap:// without start_tls would send the "
                              "bind password in clear",
                              "use ldaps://, or start_tls: true (allow_cleartext_bind: true "
                              "only for a lab)")
            for app in d.application_groups:
                if app not in inventory.section("applications"):
                    yield Problem(inventory.where("directories", dir_id, "application_groups"),
                                  f"directory {dir_id}: unknown application {app!r}")
            for n, name in enumerate(d.required_attributes):
                if _is_secret_attribute(name):
                    yield Problem(
                        inventory.where("directories", dir_id, "required_attributes", n),
                        f"directory {dir_id}: required_attributes names {name!r}, which holds "
                        "password material; its values would be copied into results",
                        "remove it: the identity family never reads password attributes")
        directories: dict[str, Directory] = inventory.section("directories")
        for i, person in enumerate(inventory.staff):
            for name in person.attributes:
                if _is_secret_attribute(name):
                    yield Problem(
                        inventory.where_staff(i, "attributes", name),
                        f"{person.key}: attributes names {name!r}, which holds password "
                        "material; its value would be copied into results",
                        "remove it (a password never belongs in the inventory)")
            for dir_id, d in sorted(directories.items()):
                if d.match != "username" and _scope(d, person) and not _key_of(d, person):
                    field_name = MATCH_FIELD[d.match]
                    yield Problem(
                        inventory.where_staff(i, field_name),
                        f"{person.key} has no {field_name}, which directory {dir_id} "
                        f"(match: {d.match}) needs to find the account",
                        f"add {field_name} to the person's record (or change the "
                        "directory's match)")

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        for dir_id, d in inventory.section("directories").items():
            try:
                host = Endpoint.parse(d.url).host
            except DirectoryError:
                continue
            yield HostRef(host, f"directories:{dir_id}", d.owner)

    def needs(self, inventory: Inventory) -> Iterable[tuple[str, str]]:
        directories = inventory.section("directories")
        for person in inventory.staff:
            for dir_id, d in directories.items():
                if _scope(d, person):
                    yield person.key, f"directories:{dir_id}"

    # -- plan ------------------------------------------------------------------------
    def plan(self, ctx: PlanContext) -> Iterator[Probe]:
        directories: dict[str, Directory] = ctx.inventory.section("directories")
        for dir_id, d in sorted(directories.items()):
            try:
                endpoint = Endpoint.parse(d.url)
            except DirectoryError:
                continue
            target = f"directories:{dir_id}"
            batch = f"identity:{dir_id}"
            for person in ctx.staff:
                if not _scope(d, person):
                    continue
                key = _key_of(d, person)
                yield Probe(
                    FAMILY, EXISTS, person.key, target, server=endpoint.server_key,
                    batch=batch, timeout=d.timeout,
                    summary=f"look up {key or person.id} ({d.match}) in {dir_id} and check "
                            "usability, password, mail, extension, attributes and groups",
                    params={"directory": dir_id},
                )
                if person.pilot:
                    account = f"{dir_id}/{key or person.id}"
                    yield Probe(
                        FAMILY, PILOT, person.key, target, server=endpoint.server_key,
                        batch=batch, timeout=d.timeout, lockout_cost=1, account=account,
                        summary=f"one real bind as {key} on {d.url} "
                                f"({'StartTLS' if d.start_tls else endpoint.scheme}); lockout "
                                f"cost 1 attempt, only with >= {d.min_headroom} attempts of "
                                "headroom",
                        params={"directory": dir_id},
                    )

    # -- run -------------------------------------------------------------------------
    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterator[Result]:
        by_dir: dict[str, list[Probe]] = {}
        for probe in probes:
            by_dir.setdefault(str(probe.params["directory"]), []).append(probe)
        for dir_id, group in by_dir.items():
            yield from self._run_directory(dir_id, group, ctx)

    def _snapshot(self, dir_id: str, ctx: RunContext) -> Snapshot | BaseException:
        directory: Directory = ctx.inventory.section("directories")[dir_id]
        server = Endpoint.parse(directory.url).server_key

        def compute() -> Snapshot:
            with ctx.limit(server, directory.max_concurrency):
                return fetch(dir_id, directory, ctx)

        value = ctx.shared(("identity-snapshot", dir_id), compute)
        assert isinstance(value, (Snapshot, BaseException))
        return value

    def _run_directory(self, dir_id: str, probes: list[Probe],
                       ctx: RunContext) -> Iterator[Result]:
        directory: Directory = ctx.inventory.section("directories")[dir_id]
        started = time.perf_counter()
        snap = self._snapshot(dir_id, ctx)
        if isinstance(snap, BaseException):
            yield from self._directory_error(dir_id, directory, probes, snap, started)
            return
        evaluator = _Evaluator(self, dir_id, directory, snap, ctx)
        # The directory was read once for the whole batch: share its time out.
        evaluator.duration_ms = snap.seconds * 1000 / max(1, len(probes))
        for probe in probes:
            person = ctx.inventory.staff_by_key.get(probe.subject)
            if person is None:
                continue
            if probe.check == PILOT:
                yield from evaluator.pilot(probe, person)
            else:
                yield from evaluator.person(probe, person)

    def _directory_error(self, dir_id: str, directory: Directory, probes: list[Probe],
                         exc: BaseException, started: float) -> Iterator[Result]:
        if isinstance(exc, DirectoryError):
            code, message, hint = exc.code, exc.message, exc.hint
        elif isinstance(exc, ImportError):
            code, message, hint = ("module", f"the {directory.kind} evaluation module is not "
                                   f"available: {exc}", "install the complete package")
        else:
            code, message, hint = ("crash", f"{type(exc).__name__}: {exc}",
                                   "a defect in the identity family; report the message")
        ms = (time.perf_counter() - started) * 1000
        for probe in probes:
            what = "the pilot login was not attempted" if probe.check == PILOT else (
                "the account could not be checked")
            yield probe.result(
                Status.ERROR, f"{what}: could not read directory {dir_id}: {message}",
                expected=f"directory {dir_id} answers the read-only service account",
                observed=message,
                impact="whether this person can log in on Day 1 is unknown",
                hint=hint, root_cause=f"identity.directory|{dir_id}|{code}",
                owner=directory.owner, duration_ms=ms,
                details={"directory": dir_id, "error": code},
            )


_POLICY_HINT = {
    "openldap": "grant the read-only service account read access to the password policy "
                "entries (pwdPolicy under policies_base) and check the directory's "
                "default_policy names the ppolicy overlay's default policy",
    "ad": "grant the read-only service account read access to the Password Settings "
          "Container (msDS-PasswordSettings objects) so the PSO named by msDS-ResultantPSO "
          "can be read",
}


class _Evaluator:
    def __init__(self, fam: IdentityFamily, dir_id: str, directory: Directory, snap: Snapshot,
                 ctx: RunContext) -> None:
        self.fam = fam
        self.dir_id = dir_id
        self.d = directory
        self.snap = snap
        self.ctx = ctx
        self.owner = directory.owner
        self.now = ctx.now()
        self.go_live = ctx.go_live
        self._states: dict[str, AccountState] = {}
        self.duration_ms = 0.0

    # -- helpers ----------------------------------------------------------------------
    def _entry(self, person: Staff) -> tuple[str, Mapping[str, Any]] | None:
        rows = self.snap.find(_key_of(self.d, person))
        if len(rows) != 1:
            return None
        return self.snap.people[rows[0]]

    def state(self, dn: str, attrs: Mapping[str, Any]) -> AccountState:
        found = self._states.get(dn)
        if found is not None:
            return found
        if self.d.kind == "ad":
            state: AccountState = _ad().evaluate_ad_account(
                attrs, self.snap.ad_policy, go_live=self.go_live, now=self.now)
        else:
            policy, note = ppolicy.policy_for(attrs, self.snap.policies,
                                              self.snap.default_policy)
            state = ppolicy.evaluate_ppolicy_account(attrs, policy, go_live=self.go_live,
                                                     now=self.now, policy_note=note)
        self._states[dn] = state
        return state

    def _res(self, probe: Probe, check: str, status: Status, summary: str, *,
             target: str | None = None, **fields: Any) -> Result:
        fields.setdefault("owner", self.owner)
        fields.setdefault("root_cause", f"{check}|{self.dir_id}")
        fields.setdefault("duration_ms", self.duration_ms)
        # Built directly (not through probe.result) as a sweep makes ~6 per person.
        return Result(subject=probe.subject, check=check, target=target or probe.target,
                      vantage=probe.vantage, status=status, summary=summary, family=FAMILY,
                      probe=probe.id, **fields)

    # -- per person ---------------------------------------------------------------------
    def person(self, probe: Probe, person: Staff) -> Iterator[Result]:
        key = _key_of(self.d, person)
        where = f"{self.dir_id} ({self.d.url})"
        if not key:
            # An inventory gap, not a finding about the directory: could not find out.
            yield self._res(
                probe, EXISTS, Status.ERROR,
                f"{person.key} has no {MATCH_FIELD[self.d.match]} in the inventory, so its "
                f"account in {self.dir_id} could not be looked up",
                expected=f"a {MATCH_FIELD[self.d.match]} in the inventory", observed="empty",
                impact="whether this person can log in on Day 1 is unknown",
                hint=f"add the person's {MATCH_FIELD[self.d.match]} (`readiness validate` "
                     "names the record)",
                root_cause=f"{EXISTS}|{self.dir_id}|inventory")
            return
        rows = self.snap.find(key)
        match_attr = _match_attribute(self.d)
        if len(rows) > 1:
            dns = [self.snap.people[r][0] for r in rows]
            yield self._res(
                probe, EXISTS, Status.FAIL,
                f"{len(rows)} entries in {self.dir_id} have {match_attr}={key}",
                expected="exactly one entry", observed="; ".join(dns[:5]),
                impact="logins by this name are ambiguous and may reach the wrong account",
                hint="remove or rename the duplicate entries",
                root_cause=f"{EXISTS}|{self.dir_id}|duplicate")
            return
        if not rows:
            if self.snap.references:
                yield self._res(
                    probe, EXISTS, Status.ERROR,
                    f"{match_attr}={key} not found in {where}, but the directory referred part "
                    "of the search elsewhere",
                    expected=f"an entry with {match_attr}={key}",
                    observed=f"not found; referrals: {', '.join(self.snap.references[:3])}",
                    impact="whether this person can log in on Day 1 is unknown",
                    hint="point people_base at the server holding the entries",
                    root_cause=f"identity.directory|{self.dir_id}|referral")
                return
            hints = self._near_misses(person, key)
            yield self._res(
                probe, EXISTS, Status.FAIL,
                f"no account {match_attr}={key} in {where}",
                expected=f"an entry with {match_attr}={key} under "
                         f"{self.d.people_base or self.d.base_dn}",
                observed="not found" + (f"; near misses: {'; '.join(hints)}" if hints else ""),
                impact="the person cannot log in on Day 1",
                hint=("create the account" + (" or fix the inventory: " + "; ".join(hints)
                                              if hints else "")),
                root_cause=f"{EXISTS}|{self.dir_id}",
                details={"near_misses": hints})
            return
        dn, attrs = self.snap.people[rows[0]]
        yield self._res(probe, EXISTS, Status.PASS, f"{match_attr}={key} found in {where}",
                        expected=f"an entry with {match_attr}={key}", observed=dn)
        yield from self._usable(probe, dn, attrs)
        yield from self._mail(probe, person, attrs)
        yield from self._extension(probe, person, attrs)
        yield from self._attributes(probe, person, attrs)
        yield from self._groups(probe, person, dn)

    def _near_misses(self, person: Staff, key: str) -> list[str]:
        hints: list[str] = []
        candidates = [k for k in self.snap.index if abs(len(k) - len(key)) <= 2]
        for close in difflib.get_close_matches(key.lower(), candidates, n=3, cutoff=0.8):
            hints.append(f"similar {_match_attribute(self.d)} {close!r} "
                         f"({self.snap.people[self.snap.index[close][0]][0]})")
        for address in [person.new_mail, *person.old_mail]:
            for row in self.snap.by_mail.get(address.lower(), []) if address else ():
                hints.append(f"mail {address} is on {self.snap.people[row][0]}")
        directories: dict[str, Directory] = self.ctx.inventory.section("directories")
        for other_id, other in sorted(directories.items()):
            if other_id == self.dir_id or other.kind != self.d.kind or _scope(other, person):
                continue
            snap = self.fam._snapshot(other_id, self.ctx)
            if isinstance(snap, Snapshot):
                for row in snap.find(_key_of(other, person)):
                    hints.append(f"an entry {snap.people[row][0]} exists in {other_id} "
                                 f"({', '.join(other.organisations)})")
        return hints[:6]

    def _usable(self, probe: Probe, dn: str, attrs: Mapping[str, Any]) -> Iterator[Result]:
        state = self.state(dn, attrs)
        for check, label in ((USABLE, "account"), (PASSWORD, "password")):
            found = [f for f in state.findings
                     if (f.code in PASSWORD_CODES) == (check == PASSWORD)]
            unknown = state.lockout_unknown if check == USABLE else state.expiry_unknown
            if unknown and not any(f.severity == "fail" for f in found):
                # Never "usable" (nor "no lockout") when the policy could not be read.
                yield self._res(
                    probe, check, Status.ERROR,
                    f"could not determine whether the {label} of {dn} is usable at go-live: "
                    f"{unknown}", expected=f"{label} usable at go-live",
                    observed="; ".join([unknown, *(f"{f.code}: {f.observed}" for f in found)]),
                    impact="whether this person can log in on Day 1 is unknown",
                    hint=_POLICY_HINT[self.d.kind],
                    root_cause=f"{check}|{self.dir_id}|policy-unknown",
                    details={"codes": [f.code for f in found], "lockout_headroom": "unknown"})
                continue
            if not found:
                yield self._res(
                    probe, check, Status.PASS,
                    f"the {label} of {dn} is usable at go-live {self.go_live:%Y-%m-%d}",
                    expected=f"{label} usable at go-live", observed=state.observed or "ok",
                    details={"lockout_headroom": state.lockout_headroom})
                continue
            worst = next((f for f in found if f.severity == "fail"), found[0])
            yield self._res(
                probe, check, Status.FAIL if worst.severity == "fail" else Status.WARN,
                f"{dn}: " + "; ".join(f"{f.code}: {f.observed}" for f in found),
                expected=worst.expected or f"{label} usable at go-live",
                observed="; ".join(f.observed for f in found),
                impact=worst.impact, hint=worst.hint,
                root_cause=f"{check}|{self.dir_id}|{worst.code}",
                details={"codes": [f.code for f in found],
                         "lockout_headroom": state.lockout_headroom})

    def _mail(self, probe: Probe, person: Staff, attrs: Mapping[str, Any]) -> Iterator[Result]:
        inv = self.ctx.inventory
        org = inv.organisations.get(person.organisation)
        needs = inv.needs(person)
        new_domain = (org.mail_domains.new if org else None) or (
            _domain(person.new_mail) if person.new_mail else None)
        if not (person.new_mail or needs.mailbox or person.old_mail):
            return
        have = [v.lower() for v in _mail_values(self.d, attrs)]
        problems: list[str] = []
        expected: list[str] = []
        if person.new_mail:
            expected.append(person.new_mail)
            if person.new_mail.lower() not in have:
                problems.append(f"new address {person.new_mail} missing")
        elif new_domain and needs.mailbox:
            expected.append(f"an address @{new_domain}")
            if not any(_domain(v) == new_domain for v in have):
                problems.append(f"no address in {new_domain}")
        kept_missing = [o for o in person.old_mail if o.lower() not in have]
        if person.old_mail:
            expected.extend(f"old {o} kept" for o in person.old_mail)
            problems.extend(f"old address {o} not kept" for o in kept_missing)
        observed = ", ".join(have) if have else "no mail attribute"
        if not problems:
            yield self._res(probe, MAIL, Status.PASS, f"mail of {person.key} is as planned",
                            expected="; ".join(expected), observed=observed)
            return
        code = "mail-missing" if not have else "mail-wrong"
        yield self._res(
            probe, MAIL, Status.FAIL, f"mail of {person.key} in {self.dir_id}: "
            + "; ".join(problems),
            expected="; ".join(expected), observed=observed,
            impact="mail to the person's new address will bounce or not reach them on Day 1"
                   if any("new" in p or "no address" in p for p in problems) else
                   "mail sent to the person's old address will bounce after go-live",
            hint=f"set mail{'/proxyAddresses' if self.d.kind == 'ad' else ''} on the entry: "
                 + ", ".join(expected),
            root_cause=f"{MAIL}|{self.dir_id}|{code}")

    def _extension(self, probe: Probe, person: Staff,
                   attrs: Mapping[str, Any]) -> Iterator[Result]:
        needs = self.ctx.inventory.needs(person)
        if not person.extension and not needs.extension:
            return
        phones = _vals(attrs, "telephoneNumber")
        digits = ["".join(ch for ch in p if ch.isdigit()) for p in phones]
        if person.extension:
            ok = any(d.endswith(person.extension) for d in digits if d)
            expected = f"telephoneNumber ending in {person.extension}"
        else:
            ok = bool(phones)
            expected = "a telephoneNumber (the role needs an extension)"
        if ok:
            yield self._res(probe, EXTENSION, Status.PASS,
                            f"telephone extension of {person.key} is in {self.dir_id}",
                            expected=expected, observed=", ".join(phones))
            return
        yield self._res(
            probe, EXTENSION, Status.FAIL, f"telephone extension of {person.key} missing or "
            f"different in {self.dir_id}", expected=expected,
            observed=", ".join(phones) or "no telephoneNumber",
            impact="colleagues and the switchboard find a wrong or no number for the person",
            hint=f"set telephoneNumber on the entry ({expected})",
            root_cause=f"{EXTENSION}|{self.dir_id}")

    def _attributes(self, probe: Probe, person: Staff,
                    attrs: Mapping[str, Any]) -> Iterator[Result]:
        wanted = list(self.d.required_attributes)
        if not wanted and not person.attributes:
            return
        missing = [a for a in wanted if not _vals(attrs, a)]
        wrong = []
        for name, value in person.attributes.items():
            have = _vals(attrs, name)
            if value.lower() not in (h.lower() for h in have):
                wrong.append(f"{name}={value} (directory: {', '.join(have) or 'none'})")
        expected = ", ".join([*wanted, *(f"{k}={v}" for k, v in person.attributes.items())])
        if not missing and not wrong:
            yield self._res(probe, ATTRIBUTES, Status.PASS,
                            f"required attributes of {person.key} present", expected=expected,
                            observed="all present")
            return
        observed = "; ".join([*(f"{a} missing" for a in missing), *wrong])
        yield self._res(
            probe, ATTRIBUTES, Status.FAIL, f"{person.key} in {self.dir_id}: {observed}",
            expected=expected, observed=observed,
            impact="applications that read these attributes (provisioning, address book, "
                   "access rules) will treat the person wrongly on Day 1",
            hint="set the attributes on the entry", root_cause=f"{ATTRIBUTES}|{self.dir_id}")

    def _required_groups(self, person: Staff) -> list[str]:
        if not self.d.check_groups:
            return []
        needs = self.ctx.inventory.needs(person)
        groups: set[str] = set()
        for g in needs.groups:
            scope, sep, name = g.partition(":")
            if sep and "=" not in scope:  # "dir-id:group" applies to that directory only
                if scope == self.dir_id:
                    groups.add(name)
            else:
                groups.add(g)
        for app in needs.applications:
            groups.update(self.d.application_groups.get(app, ()))
        return sorted(groups)

    def _groups(self, probe: Probe, person: Staff, dn: str) -> Iterator[Result]:
        required = self._required_groups(person)
        if not required:
            return
        member_of = self.snap.groups_of(dn)
        for group in required:
            target = f"{probe.target}:{group}"
            gdn = self.snap.resolve_group(group)
            if gdn is None:
                yield self._res(
                    probe, GROUP, Status.FAIL, f"group {group} does not exist in {self.dir_id}",
                    target=target, expected=f"group {group} with {person.key} as member",
                    observed=f"no group named {group} under "
                             f"{self.d.groups_base or self.d.base_dn}",
                    impact=f"nobody who needs {group} gets the access it grants on Day 1",
                    hint=f"create group {group} (or fix the role's group name)",
                    root_cause=f"{GROUP}|{self.dir_id}|{group}|absent")
                continue
            if gdn in member_of:
                direct = gdn in self.snap.parents.get(_norm(dn), set())
                yield self._res(
                    probe, GROUP, Status.PASS,
                    f"{person.key} is a member of {group}"
                    + ("" if direct else " (through a nested group)"),
                    target=target, expected=f"member of {group}", observed=
                    "direct member" if direct else "nested member")
                continue
            direct_groups = sorted(self.snap.group_cn.get(g, g)
                                   for g in self.snap.parents.get(_norm(dn), ()))
            yield self._res(
                probe, GROUP, Status.FAIL, f"{person.key} is not a member of {group} in "
                f"{self.dir_id}", target=target, expected=f"member of {group} (directly or "
                "through nested groups)",
                observed=f"member of: {', '.join(direct_groups) or 'no groups'}",
                impact=f"the access {group} grants (applications, shares) is missing on Day 1",
                hint=f"add {dn} to {group} (or to a group nested in it)",
                root_cause=f"{GROUP}|{self.dir_id}|{group}")

    # -- pilot login ----------------------------------------------------------------------
    def pilot(self, probe: Probe, person: Staff) -> Iterator[Result]:
        started = time.perf_counter()
        for result in self._pilot(probe, person):
            yield replace(result, duration_ms=(time.perf_counter() - started) * 1000)

    def _pilot(self, probe: Probe, person: Staff) -> Iterator[Result]:
        from readiness.ledger import BudgetExceeded
        from readiness.secrets import SecretError

        d = self.d
        if not _key_of(d, person):
            yield self._res(probe, PILOT, Status.ERROR,
                            f"pilot login not attempted: {person.key} has no "
                            f"{MATCH_FIELD[d.match]} in the inventory",
                            expected=f"a {MATCH_FIELD[d.match]} in the inventory",
                            observed="empty", impact="whether the pilot can log in is unknown",
                            hint=f"add the person's {MATCH_FIELD[d.match]}",
                            root_cause=f"{EXISTS}|{self.dir_id}|inventory")
            return
        entry = self._entry(person)
        if entry is None:
            yield self._res(probe, PILOT, Status.FAIL,
                            f"pilot login not attempted: no single account for {person.key}",
                            expected="the pilot account exists", observed="not found",
                            impact="the pilot cannot log in on Day 1",
                            hint="see identity.account-exists",
                            root_cause=f"{EXISTS}|{self.dir_id}")
            return
        dn = entry[0]
        if person.credential is None:
            yield self._res(probe, PILOT, Status.SKIP,
                            f"{person.key} is a pilot without a credential reference",
                            hint="add `credential: file:...` (or env:) to the pilot's record",
                            root_cause=f"{PILOT}|{self.dir_id}|no-credential")
            return
        try:
            password = self.ctx.secret(person.credential)
        except SecretError as exc:
            yield self._res(probe, PILOT, Status.ERROR, f"pilot credential unreadable: {exc}",
                            impact="the pilot login was not attempted",
                            hint="fix the pilot's credential reference",
                            root_cause=f"{PILOT}|{self.dir_id}|secret")
            return
        reader = _Reader(self.dir_id, d, self.ctx)
        account = probe.account or f"{self.dir_id}/{_key_of(d, person)}"
        realm, _, acct = account.partition("/")
        window = dt.timedelta(hours=d.attempt_window_hours)
        try:
            reservation = self.ctx.ledger.reserve(
                realm, acct, now=self.now, sweep=self.ctx.sweep_id, family=FAMILY,
                max_failures=d.attempt_budget, window=window)
        except BudgetExceeded as exc:
            yield self._res(probe, PILOT, Status.ERROR, f"pilot login not attempted: {exc}",
                            expected="attempt budget available", observed=str(exc),
                            impact="whether the pilot can log in is unknown",
                            hint="fix the pilot's password and wait for the budget window, "
                                 "or raise attempt_budget deliberately",
                            root_cause=f"{PILOT}|{self.dir_id}|budget")
            return
        yield from self._attempt(probe, reader, reservation, dn, password)

    def _attempt(self, probe: Probe, reader: _Reader, reservation: Any, dn: str,
                 password: Any) -> list[Result]:
        """After the reservation: the headroom check and at most one bind. The ledger
        row is finished (NOT_SENT unless a bind was sent) before any result is handed
        on, so other sweeps never wait on a reservation this one has given up."""
        from readiness.ledger import Outcome

        d = self.d
        realm, acct = reservation.realm, reservation.account
        sent = False
        try:
            # Other sweeps' attempts on this account still in flight, counted BEFORE the
            # server's headroom is read: their binds reaching the server after the read
            # are subtracted here, those finished before it are in the read. So
            # concurrent sweeps never spend the last attempts together.
            others = self.ctx.ledger.in_flight(
                realm, acct, exclude=reservation, now=self.now,
                window=dt.timedelta(hours=d.attempt_window_hours))
            refusal = self._headroom_refusal(reader, dn, others)
            if refusal is not None:
                reason, hint = refusal
                return [self._res(
                    probe, PILOT, Status.ERROR, f"pilot login not attempted: {reason}",
                    expected=f">= {d.min_headroom} attempts of lockout headroom",
                    observed=reason, impact="whether the pilot can log in is unknown; a bind "
                                            "now could lock the account",
                    hint=hint, root_cause=f"{PILOT}|{self.dir_id}|headroom")]
            try:
                session = reader.session()
            except DirectoryError as exc:
                return [self._res(probe, PILOT, Status.ERROR, f"pilot login not attempted: "
                                  f"{exc.message}", observed=exc.message, hint=exc.hint,
                                  impact="whether the pilot can log in is unknown",
                                  root_cause=f"identity.directory|{self.dir_id}|{exc.code}")]
            try:
                sent = True
                result = session.bind(dn, password)
            except DirectoryError as exc:
                # The bind may have reached the server: count it as a failure, never retry.
                self.ctx.ledger.record(reservation, Outcome.FAILURE, exc.code)
                return [self._res(probe, PILOT, Status.ERROR, f"pilot bind interrupted: "
                                  f"{exc.message}", observed=exc.message, hint=exc.hint,
                                  impact="whether the pilot can log in is unknown",
                                  root_cause=f"identity.directory|{self.dir_id}|{exc.code}")]
            finally:
                session.close()
            return list(self._bind_result(probe, reservation, dn, result))
        finally:
            if not sent:
                # Nothing reached the server (refused, unreachable, or a crash before the
                # bind): the reserved attempt is free again.
                self.ctx.ledger.record(reservation, Outcome.NOT_SENT, "not sent")

    def _headroom_refusal(self, reader: _Reader, dn: str,
                          in_flight: int = 0) -> tuple[str, str] | None:
        """Read the account's lockout state fresh; (reason, hint) when a bind now is
        refused: the account is unusable NOW, its lockout policy is unknown, or the
        headroom minus other sweeps' in-flight attempts is below ``min_headroom``."""
        d = self.d
        retry = ("wait for the failure counter to reset (or reset it), fix the pilot's "
                 "password, then sweep again")
        try:
            session = reader.service_session()
            try:
                fresh = session.search(dn, "(objectClass=*)", people_attributes(d),
                                       page_size=1, scope="BASE")
            finally:
                session.close()
        except DirectoryError as exc:
            return f"the lockout headroom could not be read: {exc.message}", exc.hint or retry
        if not fresh.entries:
            return f"{dn} could not be read back", retry
        state = self.state(dn + "#fresh", fresh.entries[0][1])
        # Only states that hold NOW block the bind (go-live-judged ones do not).
        blocking = [f for f in state.findings if f.blocks_now]
        if blocking:
            return (f"the account is not usable now ({blocking[0].code}: "
                    f"{blocking[0].observed})", blocking[0].hint)
        if state.lockout_unknown:
            return (f"the lockout headroom is unknown: {state.lockout_unknown}",
                    _POLICY_HINT[d.kind])
        headroom = state.lockout_headroom
        if headroom is None:
            return None  # the readable policy enforces no lockout
        left = headroom - in_flight
        if left < d.min_headroom:
            others = (f" minus {in_flight} attempt(s) other sweeps have in flight"
                      if in_flight else "")
            return (f"only {headroom} attempt(s) left before the directory locks {dn}"
                    f"{others} (needs >= {d.min_headroom})", retry)
        return None

    def _bind_result(self, probe: Probe, reservation: Any, dn: str,
                     result: Mapping[str, Any]) -> Iterator[Result]:
        from readiness.ledger import Outcome

        code = int(result.get("result", -1))
        message = str(result.get("message", "") or "")
        pp = ppolicy_control(result)
        if code == 0:
            self.ctx.ledger.record(reservation, Outcome.SUCCESS, "success")
            if pp.get("error") == 2:
                yield self._res(
                    probe, PILOT, Status.WARN, f"pilot bind as {dn} succeeded but the "
                    "password must be changed first", observed="ppolicy changeAfterReset",
                    impact="the pilot must change the password at first login",
                    hint="have the pilot change the password before go-live",
                    root_cause=f"{PILOT}|{self.dir_id}|must-change")
                return
            grace = pp.get("grace")
            yield self._res(
                probe, PILOT, Status.WARN if grace is not None else Status.PASS,
                f"pilot bind as {dn} succeeded"
                + (f" on a grace login ({grace} left)" if grace is not None else ""),
                expected="bind succeeds", observed="success",
                details={"ppolicy": pp})
            return
        self.ctx.ledger.record(reservation, Outcome.FAILURE,
                               f"{code} {result.get('description', '')}")
        if code not in BIND_REFUSED:
            # busy (51), unavailable (52), other (80), no answer (-1)...: the directory
            # did not judge the credential, so whether the pilot can log in is unknown.
            desc = str(result.get("description", "") or "")
            yield self._res(
                probe, PILOT, Status.ERROR, f"pilot bind as {dn} got no answer about the "
                f"credential: LDAP result {code}{' ' + desc if desc else ''} (not retried)",
                expected="bind succeeds",
                observed=f"{result.get('description', code)} {message}".strip(),
                impact="whether the pilot can log in on Day 1 is unknown",
                hint="check the directory server's state and log for this bind, then sweep "
                     "again (the attempt was charged to the budget)",
                root_cause=f"{PILOT}|{self.dir_id}|ldap-{code}",
                details={"result": code, "ppolicy": pp})
            return
        reason, hint = map_failed_bind(self.d.kind, code, message, pp)
        yield self._res(
            probe, PILOT, Status.FAIL, f"pilot bind as {dn} failed: {reason} (not retried)",
            expected="bind succeeds",
            observed=f"{result.get('description', code)} {message}".strip(),
            impact="the pilot cannot log in on Day 1 with the credential on record",
            hint=hint, root_cause=f"{PILOT}|{self.dir_id}|{reason}",
            details={"result": code, "ppolicy": pp})


PPOLICY_ERRORS = {
    0: "password expired", 1: "account locked", 2: "must change password (reset)",
    3: "password modification not allowed", 4: "must supply old password",
    5: "insufficient password quality", 6: "password too short", 7: "password too young",
    8: "password in history",
}


def ppolicy_control(result: Mapping[str, Any]) -> dict[str, int]:
    """Decode the password-policy response control of a bind result (if any)."""
    controls = result.get("controls") or {}
    ctl = controls.get("1.3.6.1.4.1.42.2.27.8.5.1")
    if not ctl:
        return {}
    value = ctl.get("value")
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if not isinstance(value, (bytes, bytearray)):
        return {}
    return _decode_ppolicy(bytes(value))


def _decode_ppolicy(data: bytes) -> dict[str, int]:
    out: dict[str, int] = {}

    def tlv(buf: bytes, i: int) -> tuple[int, bytes, int]:
        tag = buf[i]
        length = buf[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[i:i + n], "big")
            i += n
        return tag, buf[i:i + length], i + length

    try:
        tag, body, _ = tlv(data, 0)
        if tag != 0x30:
            return out
        i = 0
        while i < len(body):
            tag, value, i = tlv(body, i)
            if tag == 0xA0 and value:  # warning CHOICE
                wtag, wval, _ = tlv(value, 0)
                key = "expire_in" if wtag == 0x80 else "grace"
                out[key] = int.from_bytes(wval, "big")
            elif tag == 0x81:
                out["error"] = int.from_bytes(value, "big")
    except IndexError:
        return out
    return out


def map_failed_bind(kind: str, code: int, message: str,
                    pp: Mapping[str, int]) -> tuple[str, str]:
    """A failed bind's diagnostic mapped to (reason, hint)."""
    if kind == "ad":
        try:
            mapped = _ad().map_bind_diagnostic(message)
        except Exception:
            mapped = None
        if mapped:
            if isinstance(mapped, tuple):
                return str(mapped[0]), str(mapped[1]) if len(mapped) > 1 else ""
            return str(mapped), "see the reason; fix the account or the pilot's credential"
    error = pp.get("error")
    if error is not None:
        reason = PPOLICY_ERRORS.get(error, f"password policy error {error}")
        hints = {
            0: "reset the pilot's password (it has expired)",
            1: "an administrator unlocks the account; find what keeps failing logins",
            2: "the pilot changes the password, then sweep again",
        }
        return reason, hints.get(error, "fix the account's password policy state")
    if code == 49:
        return ("bad password", "the pilot's stored credential does not match the directory: "
                "update the secret the credential reference points at (no retry was made)")
    if code == 53:
        return "unwilling to perform", "check the account state and the server's bind policy"
    if code == 13:
        return "confidentiality required", "use StartTLS or LDAPS"
    return (f"LDAP result {code}", "check the server log for this bind")

