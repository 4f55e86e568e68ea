"""Reading a directory once per sweep: one service-account session and a fixed number of
paged searches (people, groups, policies) into a :class:`Snapshot` that every person's
checks are computed from, plus the small helpers for the attributes it holds."""

from __future__ import annotations

import functools
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from readiness.family import RunContext
from readiness.inventory.models import Staff

from . import ppolicy
from .client import DirectoryError, Endpoint, LdapSession
from .config import Directory

# Attributes holding password material (hashes, history, keys): their values would be
# echoed into results, so the inventory may not ask for them and they are never read.
SECRET_ATTRIBUTES = frozenset(
    {
        "userpassword",
        "unicodepwd",
        "sambantpassword",
        "sambalmpassword",
        "ntpwdhistory",
        "lmpwdhistory",
        "supplementalcredentials",
        "dbcspwd",
        "userpkcs12",
        "authpassword",
        "sambapasswordhistory",
        "unixuserpassword",
        "msds-managedpassword",
        "ms-mcs-admpwd",
        "mslaps-password",
        "mslaps-encryptedpassword",
        "orclcommonattribute",
    }
)
# The inventory field each match kind reads (for file:line in validation problems).
MATCH_FIELD = {
    "username": "username",
    "upn": "upn",
    "mail": "new_mail",
    "employee_number": "employee_number",
}
# AD naming contexts under the domain root that never hold people: a continuation
# reference to them (routine in AD) says nothing about a missing account.
AD_OTHER_PARTITIONS = ("cn=configuration,", "dc=domaindnszones,", "dc=forestdnszones,")

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
    if directory.match == "employee_number":
        return person.employee_key
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


@dataclass
class Snapshot:
    """Everything one sweep read from one directory."""

    dir_id: str
    directory: Directory
    people: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # Continuation references of the people search that may hold people (under the
    # people base, not one of AD's other partitions): only these make a miss uncertain.
    references: list[str] = field(default_factory=list)
    ignored_references: list[str] = field(default_factory=list)  # groups search, AD's own
    # The server as it knows itself: "ad:<domain naming context>" or
    # "ldap:<address>/<naming context>": the attempt ledger's realm.
    server_identity: str = ""
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

    def lockout_policy(self) -> LockoutPolicy | None:
        """The directory-wide lockout policy, or None when it could not be read."""
        if self.directory.kind == "ad":
            p = self.ad_policy
            if p is None:
                return None
            return LockoutPolicy(
                p.lockout_threshold > 0,
                f"domain lockoutThreshold {p.lockout_threshold}, lockoutDuration "
                f"{p.lockout_duration or 'until unlocked'}, {len(p.psos)} readable PSO(s)",
            )
        found = self.policies.get(_norm(self.default_policy)) if self.default_policy else None
        if found is None:
            return None
        return LockoutPolicy(found.lockout and found.max_failure > 0, found.describe())

    @property
    def policy_note(self) -> str:
        return f"default policy {self.default_policy} not found or not readable"

    def rows_by(self, attribute: str) -> dict[str, list[int]]:
        """People rows by the (lower-cased) values of ``attribute``, built on first use
        (near misses need them only for people who were not found)."""
        key = attribute.lower()
        found = self._by_attribute.get(key)
        if found is None:
            found = {}
            for row, (_, attrs) in enumerate(self.people):
                for value in _vals(attrs, key):
                    found.setdefault(fold(value), []).append(row)
            self._by_attribute[key] = found
        return found

    _by_attribute: dict[str, dict[str, list[int]]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class LockoutPolicy:
    """The directory-wide lockout policy as read (AD's domain, ppolicy's default)."""

    lockout: bool
    describe: str


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """A name compared loosely: case, accents, punctuation and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    words = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(words.split())


def _match_attribute(directory: Directory) -> str:
    if directory.match == "employee_number":
        return directory.employee_attribute
    if directory.kind == "ad":
        return {"username": "sAMAccountName", "upn": "userPrincipalName", "mail": "mail"}[
            directory.match
        ]
    return {"username": "uid", "upn": "mail", "mail": "mail"}[directory.match]


def username_attribute(directory: Directory) -> str:
    return "sAMAccountName" if directory.kind == "ad" else "uid"


def people_attributes(directory: Directory, extra: Iterable[str] = ()) -> list[str]:
    """The attributes asked for on people entries (``extra``: the staff records'
    ``attributes`` names); password material is never requested."""
    attrs = {"mail", "telephoneNumber", "memberOf", _match_attribute(directory)}
    attrs |= {"givenName", "sn", directory.employee_attribute}  # HR record, near misses
    if directory.kind == "ad":
        attrs |= {"proxyAddresses", "sAMAccountName", "userPrincipalName", "displayName"}
        attrs |= {"objectGUID", *_ad().AD_ATTRIBUTES}
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
        """The directory's own CA bundle, else its organisations' (the core's trust store)."""
        from readiness.net.trust import TrustError

        try:
            bundle = self.ctx.trust.bundle(
                self.directory.organisations,
                override=self.directory.ca_bundle,
                where=("directories", self.dir_id, "ca_bundle"),
            )
        except TrustError as exc:
            raise DirectoryError(
                "ca-bundle",
                str(exc),
                "fix the ca_bundle path in the inventory (a configuration problem of the sweep)",
            ) from None
        return str(bundle) if bundle else None

    def address(self) -> str:
        def compute() -> Any:
            from readiness.net.dns import ResolveError

            try:
                found = self.ctx.dns.resolve(self.endpoint.host)  # cached per sweep
            except ResolveError as exc:
                raise DirectoryError(
                    "dns",
                    f"cannot resolve {self.endpoint.host}: {exc.detail}",
                    "check the directory's DNS record and the programme's resolvers",
                ) from None
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
            self.dir_id,
            self.endpoint,
            self.address(),
            start_tls=d.start_tls,
            ca_file=self.ca_file(),
            tls_verify=d.tls_verify,
            allow_cleartext=d.allow_cleartext_bind,
            timeout=d.timeout,
        )
        session.open()
        return session

    def service_session(self) -> LdapSession:
        from readiness.secrets import SecretError

        try:
            password = self.ctx.secret(self.directory.bind_password)
        except SecretError as exc:
            raise DirectoryError(
                "secret",
                f"the service account's password for {self.dir_id} could not be read: {exc}",
                "check bind_password's reference and the secret it points at",
            ) from None
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
                "service-bind",
                f"the service account {self.directory.bind_dn} could not bind "
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
    extra = {
        name
        for person in ctx.inventory.staff
        if _scope(directory, person)
        for name in person.attributes
    }
    session = reader.service_session()
    try:
        root_dse = session.search(
            "",
            "(objectClass=*)",
            ["namingContexts", "defaultNamingContext"],
            page_size=1,
            scope="BASE",
        )
        people = session.search(
            people_base,
            directory.people_filter or (AD_PEOPLE_FILTER if ad else OPENLDAP_PEOPLE_FILTER),
            people_attributes(directory, extra),
            page_size=directory.page_size,
        )
        group_attrs = ["cn", "memberOf"] if ad else ["cn", "member", "uniqueMember", "memberOf"]
        groups = session.search(
            groups_base,
            "(objectClass=group)"
            if ad
            else "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            group_attrs,
            page_size=directory.page_size,
        )
        if ad:
            adm = _ad()
            domain = session.search(
                base, "(objectClass=*)", list(adm.DOMAIN_ATTRIBUTES), page_size=1, scope="BASE"
            )
            try:
                psos = session.search(
                    f"CN=Password Settings Container,CN=System,{base}",
                    "(objectClass=msDS-PasswordSettings)",
                    list(adm.PSO_ATTRIBUTES),
                    page_size=directory.page_size,
                ).entries
            except DirectoryError as exc:
                if exc.code not in ("no-such-object", "access"):
                    raise
                psos = []  # no fine-grained policies visible: the domain policy applies
            domain_attrs = domain.entries[0][1] if domain.entries else {}
            snap.ad_policy = adm.policy_from_entries(
                domain_attrs, [{**attrs, "dn": dn} for dn, attrs in psos]
            )
        else:
            policies_base = directory.policies_base or base
            pols = session.search(
                policies_base,
                "(objectClass=pwdPolicy)",
                ["cn", *ppolicy.POLICY_ATTRIBUTES],
                page_size=directory.page_size,
            )
            for dn, attrs in pols.entries:
                snap.policies[_norm(dn)] = ppolicy.PPolicy.from_entry(dn, attrs)
            snap.default_policy = directory.default_policy or (
                f"cn=default,{directory.policies_base or 'ou=policies,' + base}"
            )
    finally:
        session.close()
    snap.people = [(dn, _lowered(attrs)) for dn, attrs in people.entries]
    for ref in people.references:
        holds_people = _may_hold_people(ref, people_base, ad)
        (snap.references if holds_people else snap.ignored_references).append(ref)
    snap.ignored_references += groups.references
    snap.server_identity = server_identity(
        directory, root_dse.entries[0][1] if root_dse.entries else {}, reader.address()
    )
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


def ref_dn(url: str) -> str | None:
    """The DN an LDAP URL (a continuation reference) points at; None if unreadable."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        return None
    return unquote(parts.path.lstrip("/"))


def _under(dn: str, base: str) -> bool:
    dn, base = _norm(dn), _norm(base)
    return dn == base or dn.endswith("," + base)


def _may_hold_people(ref: str, people_base: str, ad: bool) -> bool:
    """Whether a continuation reference of the people search may hold people: it points
    under the people base (an unreadable one may), and for AD not at the Configuration
    or DNS partitions every AD refers to from its domain root."""
    dn = ref_dn(ref)
    if dn is None:
        return True
    if not dn:  # "ldap://host/": the same base on another server
        return True
    if ad and _norm(dn).startswith(AD_OTHER_PARTITIONS):
        return False
    return _under(dn, people_base)


def server_identity(directory: Directory, root_dse: Mapping[str, Any], address: str) -> str:
    """How the server knows itself, whatever an inventory calls it: AD by its domain
    (lockout is domain-wide), OpenLDAP by its address and the naming context holding
    the directory's base."""
    if directory.kind == "ad":
        domain = (_vals(root_dse, "defaultNamingContext") or [directory.base_dn])[0]
        return f"ad:{_norm(domain)}"
    contexts = [c for c in _vals(root_dse, "namingContexts") if _under(directory.base_dn, c)]
    context = max(contexts, key=len) if contexts else directory.base_dn
    return f"ldap:{address}/{_norm(context)}"


def _mail_values(directory: Directory, attrs: Mapping[str, Any]) -> list[str]:
    values = _vals(attrs, "mail")
    if directory.kind == "ad":
        for proxy in _vals(attrs, "proxyAddresses"):
            scheme, _, address = proxy.partition(":")
            if scheme.lower() == "smtp" and address:
                values.append(address)
    return values
