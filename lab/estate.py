"""The estate of two merging organisations, generated from a size and a seed.

Pure data, no I/O: the same ``(staff_per_org, seed, slot)`` always gives the same
estate. Every other lab module (directories, DNS, nginx, mail, SIP, sites, the
inventory writer, the fault switch) reads its facts from here; every address comes
from the slot (lab/slot.py), the people do not depend on it::

    from readiness_lab.estate import generate
    estate = generate(150, seed=1)       # slot 77: 127.77.x.x, 10.77.x.x
    estate.org("north").domain          # 'northvale.test'
    estate.people_of("north")            # Person objects, inventory staff and others
    estate.hosts(namespaces=True)        # fqdn -> IPv4 address (the DNS A records)
    estate.slot.dns                      # '127.77.0.53'

Who is who:

* ``Person.kind``: ``staff`` (ordinary staff, in the inventory), ``service`` (a service
  account, in the inventory with tag ``service-account``), ``shared-mailbox`` (in the
  inventory with tag ``shared-mailbox``), ``leaver`` (left before go-live: still in the
  old directory, disabled, but NOT in the inventory).
* ``tags`` contains ``migrated`` for the subset that also has an account in the
  shared Samba AD DC (at most ``MIGRATED_MAX`` over both organisations); their AD
  login is ``ad_username`` (unique across both organisations) and their UPN
  ``upn``.
* ``pilot`` accounts get real logins; their passwords are lab secrets named
  ``Person.credential_secret`` (never part of the estate itself).
* ``needs_apps``: specialist applications (``Application.specialist_roles``) a few
  people need beyond their roles (the inventory's per-person ``needs``): the
  applications that carry faults reach few people, as in a real programme.
* ``remote_access`` applications are entry points staff use from outside: they are
  published on their own address (``Slot.remote_access``) and checked from the
  internet vantage point (:data:`INTERNET`, lab/internet.py).
  ``Person.credential_secret`` (never part of the estate itself). A migrated pilot has
  another password in the shared AD (``Person.ad_credential_secret``): credentials per
  directory.

Built by someone else: the shared AD's groups base is the domain root (AD answers a
subtree search there with continuation references to its other partitions), and
Southmere's directory is matched by HR employee number, not by username.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field, replace

from .slot import DEFAULT_SLOT, Slot

SHARED_DOMAIN = "valeshared.test"
AD_REALM = "AD.VALESHARED.TEST"
AD_DOMAIN = "ad.valeshared.test"
AD_BASE_DN = "DC=ad,DC=valeshared,DC=test"
GO_LIVE = dt.date(2027, 1, 4)
MIN_STAFF, MAX_STAFF, DEFAULT_STAFF, DEFAULT_SEED = 10, 10_000, 150, 1
MIGRATED_MAX = 200  # over both organisations: Samba holds only these
PILOTS_PER_ORG = 3
INTERNET = "internet"  # the vantage point that stands for the internet (lab/internet.py)
# A vantage point handed over without its host keys (the north-hq jump host under
# another name): its known_hosts file starts empty, `readiness vantage trust` fills it.
UNTRUSTED_VANTAGE = "north-hq-new-jump"
SPECIALISTS_PER_APP = 2  # people per organisation needing each specialist application ...
SPECIALIST_SHARE = 100  # ... or one in this many staff, if more
SMALL_ESTATE = 40  # below: one person in all per specialist application


@dataclass(frozen=True)
class Organisation:
    id: str  # north | south
    name: str
    domain: str  # old mail / DNS domain
    letter: str  # staff id prefix
    base_dn: str
    ldap_ip: str
    ext_base: int  # first extension of its plan
    owner: str
    it_owner: str
    smtp_ip: str  # its legacy sending host (authorised by SPF)
    pbx_ip: str  # its legacy PBX, a SIP endpoint answering OPTIONS

    @property
    def ext_range(self) -> str:
        """Its extension range in the merged plan (every extension it hands out)."""
        return f"{self.ext_base}-{self.ext_base + 9999}"

    @property
    def ldap_host(self) -> str:
        return f"ldap.{self.domain}"

    @property
    def directory_id(self) -> str:
        return f"{self.id}-ldap"

    @property
    def people_base(self) -> str:
        return f"ou=people,{self.base_dn}"

    @property
    def groups_base(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def bind_dn(self) -> str:
        return f"cn=readiness,ou=services,{self.base_dn}"


@dataclass(frozen=True)
class Site:
    id: str
    organisation: str
    name: str
    namespace: str | None  # rl-north-hq (slot 77) ... when the site is a network namespace
    subnet: str | None  # 10.77.1.0/24 (slot 77) ...
    jump_ip: str | None  # the SSH jump host (vantage point) inside the namespace
    fallback_jump: tuple[str, int] | None  # (ip, port) when namespaces are unavailable
    weight: int  # share of the organisation's staff

    @property
    def vantage_point(self) -> str | None:
        return f"{self.id}-jump" if self.namespace else None

    def jump_host(self, domain: str) -> str:
        return f"jump.{self.id}.{domain}"


@dataclass(frozen=True)
class Application:
    id: str
    name: str
    owner: str
    health: str = "/health"
    sso: bool = False  # redirects to the login front (login.valeshared.test)
    form_login: bool = False  # pilots log in through an HTML form (else HTTP basic)
    seeded: bool = False  # may get one of the seeded random faults (lab/faults.py)
    # Needed by a few staff of these roles (per person), not by a whole role.
    specialist_roles: tuple[str, ...] = ()
    remote_access: bool = False  # used from outside: checked from the internet

    @property
    def host(self) -> str:
        return f"{self.id}.{SHARED_DOMAIN}"

    @property
    def url(self) -> str:
        return f"https://{self.host}/"

    @property
    def group(self) -> str:
        return f"app-{self.id}"


@dataclass(frozen=True)
class NetworkResource:
    id: str
    name: str
    site: str
    organisation: str
    host: str  # fqdn
    ip: str  # inside the site namespace
    fallback_ip: str  # on loopback when namespaces are unavailable
    port: int
    owner: str
    private: bool = False  # its organisation's only: the other's sites must not reach it


@dataclass(frozen=True)
class Role:
    id: str
    organisation: str
    description: str
    applications: tuple[str, ...]
    network_resources: tuple[str, ...]
    groups: tuple[str, ...]
    extension: bool
    mailbox: bool
    weight: int  # share of ordinary staff (0: special accounts only)


@dataclass(frozen=True)
class Directory:
    id: str
    kind: str  # openldap | ad
    organisations: tuple[str, ...]
    staff_tags: tuple[str, ...]
    url: str
    start_tls: bool
    base_dn: str
    people_base: str
    groups_base: str
    bind_dn: str
    bind_secret: str  # secret file name (relative to the secrets folder)
    match: str
    owner: str
    ip: str


@dataclass(frozen=True)
class SipEndpoint:
    id: str
    name: str
    host: str
    ip: str
    port: int
    owner: str
    organisation: str = ""  # whose staff's phones depend on it ("": everyone's)
    kind: str = "pbx"  # pbx (a SIPp UAS over UDP) | sbc (SIP over TLS on kamailio)
    # The sites whose phones still depend on it ((): every site of its organisation): the
    # legacy PBX and its carrier trunk serve the organisation's smallest branch, not yet
    # moved to the shared system.
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Person:
    id: str
    organisation: str
    site: str
    kind: str  # staff | service | shared-mailbox | leaver
    given: str
    surname: str
    username: str
    roles: tuple[str, ...]
    old_mail: tuple[str, ...]
    new_mail: str
    extension: str
    tags: tuple[str, ...] = ()
    pilot: bool = False
    ad_username: str = ""
    owner: str = ""  # service accounts: who owns it
    groups: tuple[str, ...] = field(default=())  # directory groups it should be in
    needs_apps: tuple[str, ...] = ()  # specialist applications needed beyond the roles

    @property
    def name(self) -> str:
        return f"{self.given} {self.surname}".strip()

    @property
    def key(self) -> str:
        return f"staff:{self.organisation}/{self.id}"

    @property
    def migrated(self) -> bool:
        return "migrated" in self.tags

    @property
    def upn(self) -> str:
        return f"{self.ad_username}@{AD_DOMAIN}" if self.ad_username else ""

    @property
    def in_inventory(self) -> bool:
        return self.kind != "leaver"

    @property
    def credential_secret(self) -> str:
        """Secret file name of a pilot's password (relative to the secrets folder)."""
        return f"pilots/{self.organisation}-{self.id}.pw"

    @property
    def ad_credential_secret(self) -> str:
        """Secret file name of a migrated pilot's password in the shared AD: another one
        than in the council's directory."""
        return f"pilots/ad-{self.organisation}-{self.id}.pw"


@dataclass(frozen=True)
class Estate:
    staff_per_org: int
    seed: int
    slot: Slot  # where it lives: every address below comes from it
    go_live: dt.date
    organisations: tuple[Organisation, ...]
    sites: tuple[Site, ...]
    applications: tuple[Application, ...]
    resources: tuple[NetworkResource, ...]
    roles: tuple[Role, ...]
    directories: tuple[Directory, ...]
    sip_endpoints: tuple[SipEndpoint, ...]  # the legacy PBXs
    people: tuple[Person, ...]
    sbcs: tuple[SipEndpoint, ...] = ()  # each organisation's carrier trunk SBC (TLS)

    def org(self, org_id: str) -> Organisation:
        return next(o for o in self.organisations if o.id == org_id)

    def site(self, site_id: str) -> Site:
        return next(s for s in self.sites if s.id == site_id)

    def role(self, role_id: str) -> Role:
        return next(r for r in self.roles if r.id == role_id)

    def directory(self, directory_id: str) -> Directory:
        return next(d for d in self.directories if d.id == directory_id)

    def people_of(self, org_id: str) -> list[Person]:
        return [p for p in self.people if p.organisation == org_id]

    @property
    def staff(self) -> list[Person]:
        """Everyone in the inventory (staff, service accounts, shared mailboxes)."""
        return [p for p in self.people if p.in_inventory]

    @property
    def migrated(self) -> list[Person]:
        return [p for p in self.people if p.migrated]

    @property
    def pilots(self) -> list[Person]:
        return [p for p in self.people if p.pilot]

    @property
    def groups(self) -> list[str]:
        """Every directory group any role or application needs (created in each
        directory)."""
        return sorted(
            {g for r in self.roles for g in r.groups} | {a.group for a in self.applications}
        )

    def hosts(self, namespaces: bool = True) -> dict[str, str]:
        """Every server name of the address plan -> its IPv4 address (DNS A records)."""
        slot = self.slot
        out: dict[str, str] = {
            f"ns1.{SHARED_DOMAIN}": slot.dns,
            f"dc1.{AD_DOMAIN}": slot.ad,
            f"mail.{SHARED_DOMAIN}": slot.mail,
            f"sip.{SHARED_DOMAIN}": slot.sip,
            f"login.{SHARED_DOMAIN}": slot.web,
        }
        for app in self.applications:
            out[app.host] = slot.remote_access if app.remote_access else slot.web
        for org in self.organisations:
            out[f"ns1.{org.domain}"] = slot.dns
            out[org.ldap_host] = org.ldap_ip
            out[f"smtp.{org.domain}"] = org.smtp_ip
        for ep in (*self.sip_endpoints, *self.sbcs):
            out[ep.host] = ep.ip
        for site in self.sites:
            if site.namespace is None:
                continue
            domain = self.org(site.organisation).domain
            if namespaces and site.jump_ip:
                out[site.jump_host(domain)] = site.jump_ip
            elif site.fallback_jump:
                out[site.jump_host(domain)] = site.fallback_jump[0]
        for res in self.resources:
            out[res.host] = res.ip if namespaces else res.fallback_ip
        return dict(sorted(out.items()))

    def fingerprint(self) -> str:
        """A short stable digest of the whole estate (for determinism tests)."""
        import hashlib

        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- names

_GIVEN = (
    "Aoife",
    "Siobhán",
    "Zoë",
    "José",
    "Łukasz",
    "Chloé",
    "Søren",
    "Noémie",
    "Björn",
    "Oliver",
    "Amelia",
    "Mohammed",
    "Priya",
    "Olivia",
    "Jack",
    "Isla",
    "Harry",
    "Emily",
    "George",
    "Sophie",
    "Noah",
    "Grace",
    "Leo",
    "Ava",
    "Oscar",
    "Freya",
    "Arthur",
    "Ella",
    "Thomas",
    "Ruby",
    "James",
    "Mia",
    "William",
    "Lily",
    "Henry",
    "Chloe",
    "Jacob",
    "Daisy",
    "Kwame",
    "Aisha",
    "Wei",
    "Mei",
    "Ravi",
    "Anjali",
    "Tomasz",
    "Agnieszka",
    "Dariusz",
    "Fatima",
    "Yusuf",
    "Hannah",
    "Samuel",
    "Ngozi",
    "Chidi",
    "Eilidh",
    "Rhys",
    "Seren",
    "John",
    "Sarah",
    "David",
    "Emma",
    "Michael",
    "Laura",
    "Paul",
    "Rachel",
    "Peter",
    "Helen",
)
_SURNAMES = (
    "Ní Bhriain",
    "O'Brien",
    "Müller",
    "Nguyễn",
    "Kowalska",
    "Wiśniewski",
    "Ødegård",
    "García",
    "Ó Súilleabháin",
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Khan",
    "Ahmed",
    "Singh",
    "Okafor",
    "Mensah",
    "Chen",
    "Wang",
    "Kaur",
    "Begum",
    "Novak",
)
_FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe"}
)


def ascii_fold(text: str) -> str:
    """'Łukasz Ødegård' -> 'lukaszodegard': lower-case ASCII letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


# --------------------------------------------------------------------------- the plan


def _organisations(slot: Slot) -> tuple[Organisation, ...]:
    return (
        Organisation(
            "north",
            "Northvale Borough Council",
            "northvale.test",
            "N",
            "dc=northvale,dc=test",
            slot.host(1, 10),
            20000,
            "Northvale IT",
            "Northvale identity team",
            slot.host(5, 31),
            slot.host(6, 11),
        ),
        Organisation(
            "south",
            "Southmere District Council",
            "southmere.test",
            "S",
            "dc=southmere,dc=test",
            slot.host(2, 10),
            60000,
            "Southmere IT",
            "Southmere identity team",
            slot.host(5, 32),
            slot.host(6, 12),
        ),
    )


def _sites(slot: Slot) -> tuple[Site, ...]:
    return (
        Site(
            "north-hq",
            "north",
            "Northvale Town Hall",
            slot.site_ns("north-hq"),
            slot.site(1, 0) + "/24",
            slot.site(1, 10),
            (slot.host(7, 1), 2201),
            6,
        ),
        Site("north-depot", "north", "Northvale Depot", None, None, None, None, 2),
        Site("north-library", "north", "Northvale Central Library", None, None, None, None, 1),
        Site(
            "south-hq",
            "south",
            "Southmere Civic Centre",
            slot.site_ns("south-hq"),
            slot.site(2, 0) + "/24",
            slot.site(2, 10),
            (slot.host(7, 2), 2202),
            7,
        ),
        Site("south-leisure", "south", "Southmere Leisure Centre", None, None, None, None, 2),
    )


def _applications() -> tuple[Application, ...]:
    team = "Shared service applications team"
    return (
        Application("housing", "Housing Management", team),
        Application("revenues", "Revenues and Benefits", team),
        Application("payroll", "HR and Payroll", "Shared service HR systems team"),
        Application("intranet", "Vale Shared Intranet", team, sso=True),
        Application("timesheets", "Timesheets", team, form_login=True),
        # Specialist applications, each needed by a few people: the faulty ones. Fixed
        # faults (lab/faults.py FIXED_APP_FAULTS) ...
        Application("planning", "Planning Portal", team, specialist_roles=("housing-officer",)),
        Application("fleet", "Fleet Bookings", team, specialist_roles=("field-worker",)),
        # ... and the seeded draw (expired, wrong name, 503).
        Application(
            "licensing",
            "Licensing Register",
            team,
            seeded=True,
            specialist_roles=("customer-services", "revenues-officer"),
        ),
        Application(
            "parking", "Parking Permits", team, seeded=True, specialist_roles=("customer-services",)
        ),
        Application(
            "building-control",
            "Building Control",
            team,
            seeded=True,
            specialist_roles=("housing-officer", "manager"),
        ),
        # The remote-access entry point, published to the internet.
        Application("webmail", "Vale Shared Webmail", team, remote_access=True),
    )


def _resources(slot: Slot) -> tuple[NetworkResource, ...]:
    return (
        NetworkResource(
            "north-files",
            "Northvale file share",
            "north-hq",
            "north",
            "files.north-hq.northvale.test",
            slot.site(1, 20),
            slot.host(8, 20),
            445,
            "Northvale infrastructure",
        ),
        NetworkResource(
            "north-printers",
            "Northvale print server",
            "north-hq",
            "north",
            "printers.north-hq.northvale.test",
            slot.site(1, 21),
            slot.host(8, 21),
            9100,
            "Northvale infrastructure",
        ),
        NetworkResource(
            "south-files",
            "Southmere file share",
            "south-hq",
            "south",
            "files.south-hq.southmere.test",
            slot.site(2, 20),
            slot.host(8, 22),
            445,
            "Southmere infrastructure",
        ),
        NetworkResource(
            "south-printers",
            "Southmere print server",
            "south-hq",
            "south",
            "printers.south-hq.southmere.test",
            slot.site(2, 21),
            slot.host(8, 23),
            631,
            "Southmere infrastructure",
            private=True,
        ),
        NetworkResource(
            "south-records",
            "Southmere records database",
            "south-hq",
            "south",
            "records.south-hq.southmere.test",
            slot.site(2, 22),
            slot.host(8, 24),
            5432,
            "Southmere infrastructure",
        ),
    )


# (suffix, description, apps, own resources (suffixes), cross-site resources, ext, mailbox, weight)
_ROLE_SHAPES: tuple[
    tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]], bool, bool, int],
    ...,
] = (
    (
        "housing-officer",
        "Front-line housing officer",
        ("housing", "intranet"),
        ("files", "printers"),
        {},
        True,
        True,
        5,
    ),
    (
        "revenues-officer",
        "Council tax and benefits officer",
        ("revenues", "intranet"),
        ("files",),
        {"south": ("north-files",)},
        True,
        True,
        4,
    ),
    (
        "payroll-officer",
        "HR and payroll officer",
        ("payroll", "intranet"),
        ("files",),
        {"north": ("south-records",)},
        True,
        True,
        2,
    ),
    (
        "customer-services",
        "Customer services adviser",
        ("housing", "revenues", "intranet"),
        ("printers",),
        {},
        True,
        True,
        4,
    ),
    (
        "manager",
        "Service manager",
        ("intranet", "payroll", "timesheets", "webmail"),
        ("files",),
        {},
        True,
        True,
        2,
    ),
    (
        "field-worker",
        "Field worker (no desk phone)",
        ("intranet", "timesheets", "webmail"),
        (),
        {},
        False,
        True,
        3,
    ),
    ("service-account", "Application service account", (), (), {}, False, False, 0),
    ("shared-mailbox", "Shared team mailbox", (), (), {}, False, True, 0),
)


def _roles(resources: tuple[NetworkResource, ...]) -> tuple[Role, ...]:
    roles: list[Role] = []
    for org in ("north", "south"):
        own = {r.id.split("-", 1)[1]: r.id for r in resources if r.organisation == org}
        for suffix, desc, apps, res, cross, ext, mailbox, weight in _ROLE_SHAPES:
            resource_ids = tuple(own[s] for s in res if s in own) + cross.get(org, ())
            groups = tuple(f"app-{a}" for a in apps)
            if weight:
                groups = ("all-staff", *groups)
            roles.append(
                Role(f"{org}-{suffix}", org, desc, apps, resource_ids, groups, ext, mailbox, weight)
            )
    return tuple(roles)


# Directories matched by HR employee number (the others by username, the AD by UPN).
EMPLOYEE_NUMBER_MATCHED = ("south-ldap",)


def _directories(orgs: tuple[Organisation, ...], slot: Slot) -> tuple[Directory, ...]:
    out = [
        Directory(
            o.directory_id,
            "openldap",
            (o.id,),
            (),
            f"ldap://{o.ldap_host}:389",
            True,
            o.base_dn,
            o.people_base,
            o.groups_base,
            o.bind_dn,
            f"{o.directory_id}-readiness.secret",
            "employee_number" if o.directory_id in EMPLOYEE_NUMBER_MATCHED else "username",
            o.it_owner,
            o.ldap_ip,
        )
        for o in orgs
    ]
    out.append(
        Directory(
            "shared-ad",
            "ad",
            tuple(o.id for o in orgs),
            ("migrated",),
            f"ldaps://dc1.{AD_DOMAIN}:636",
            False,
            AD_BASE_DN,
            f"OU=Staff,{AD_BASE_DN}",
            AD_BASE_DN,  # groups at the domain root, as an AD estate usually says
            f"CN=svc-readiness,OU=Service Accounts,{AD_BASE_DN}",
            "shared-ad-readiness.secret",
            "upn",
            "Shared service identity team",
            slot.ad,
        )
    )
    return tuple(out)


def _branch(org: Organisation, sites: tuple[Site, ...]) -> tuple[str, ...]:
    """The organisation's smallest site: the branch still on its legacy telephony."""
    own = [s for s in sites if s.organisation == org.id]
    return (min(own, key=lambda s: (s.weight, s.id)).id,) if own else ()


def _sip_endpoints(
    orgs: tuple[Organisation, ...], sites: tuple[Site, ...]
) -> tuple[SipEndpoint, ...]:
    return tuple(
        SipEndpoint(
            f"{o.id}-pbx",
            f"{o.name} legacy PBX",
            f"pbx.{o.domain}",
            o.pbx_ip,
            5060,
            o.owner,
            o.id,
            sites=_branch(o, sites),
        )
        for o in orgs
    )


def _sbcs(
    orgs: tuple[Organisation, ...], sites: tuple[Site, ...], slot: Slot
) -> tuple[SipEndpoint, ...]:
    return tuple(
        SipEndpoint(
            f"{o.id}-sbc",
            f"{o.name} carrier trunk SBC",
            f"sbc.{o.domain}",
            slot.host(6, 21 + i),
            5061,
            o.owner,
            o.id,
            "sbc",
            sites=_branch(o, sites),
        )
        for i, o in enumerate(orgs)
    )


def validate_size(staff_per_org: int) -> None:
    if not MIN_STAFF <= staff_per_org <= MAX_STAFF:
        raise ValueError(
            f"staff per organisation must be between {MIN_STAFF} and {MAX_STAFF}, "
            f"not {staff_per_org}"
        )


def generate(
    staff_per_org: int = DEFAULT_STAFF, seed: int = DEFAULT_SEED, slot: Slot = DEFAULT_SLOT
) -> Estate:
    """The estate for ``staff_per_org`` people per organisation (10..10,000), with the
    addresses of ``slot``."""
    validate_size(staff_per_org)
    orgs = _organisations(slot)
    sites = _sites(slot)
    resources = _resources(slot)
    roles = _roles(resources)
    people: list[Person] = []
    for org in orgs:
        people += _people(org, staff_per_org, seed, sites, roles, borrow=people)
    people = _new_mail(people)
    people = _migrate(people, seed, staff_per_org)
    applications = _applications()
    people = _specialists(people, applications, seed, staff_per_org)
    return Estate(
        staff_per_org,
        seed,
        slot,
        GO_LIVE,
        orgs,
        sites,
        applications,
        resources,
        roles,
        _directories(orgs, slot),
        _sip_endpoints(orgs, sites),
        tuple(people),
        _sbcs(orgs, sites, slot),
    )


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _people(
    org: Organisation,
    size: int,
    seed: int,
    sites: tuple[Site, ...],
    roles: tuple[Role, ...],
    borrow: list[Person],
) -> list[Person]:
    """One organisation's people; a few borrow the name of someone in ``borrow`` (the
    other organisation), so the same username exists in both organisations."""
    rng = random.Random(f"{seed}:{org.id}:people")
    borrowable = [p for p in borrow if p.kind == "staff" and not p.pilot]
    borrowers = (
        set(rng.sample(range(3, size), min(max(2, size // 100), size - 3))) if borrowable else set()
    )
    org_sites = [(s.id, s.weight) for s in sites if s.organisation == org.id]
    hq = next(s.id for s in sites if s.organisation == org.id and s.namespace)
    ordinary = [(r.id, r.weight) for r in roles if r.organisation == org.id and r.weight]
    usernames: set[str] = set()
    local_parts: set[str] = set()
    n_service = max(1, size // 100)
    n_shared = max(1, size // 150)
    n_leavers = max(1, size // 50)
    # Ordinary staff make up ``size``; service accounts and shared mailboxes come on top of
    # it in the inventory, leavers only in the old directory.
    out: list[Person] = []
    number = 0

    def next_id() -> str:
        nonlocal number
        number += 1
        return f"{org.letter}{number:05d}"

    def unique(base: str, taken: set[str]) -> str:
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}{n}"
        taken.add(candidate)
        return candidate

    ext_next = org.ext_base
    for index in range(size + n_leavers):
        given, surname = rng.choice(_GIVEN), rng.choice(_SURNAMES)
        if index in borrowers:
            twin = rng.choice(borrowable)
            given, surname = twin.given, twin.surname
        role = _weighted(rng, ordinary)
        extra_role = rng.random() < 0.08
        person_roles: tuple[str, ...] = (role,)
        if extra_role:
            second = _weighted(rng, ordinary)
            if second != role:
                person_roles = (role, second)
        site = hq if index < 3 else _weighted(rng, org_sites)
        username = unique(ascii_fold(given[0] + surname)[:20], usernames)
        local = unique(f"{ascii_fold(given)}.{ascii_fold(surname)}", local_parts)
        role_objs = [r for r in roles if r.id in person_roles]
        leaver = index >= size
        extension = ""
        if not leaver and any(r.extension for r in role_objs):
            extension = str(ext_next)
            ext_next += 1
        out.append(
            Person(
                id=next_id(),
                organisation=org.id,
                site=site,
                kind="leaver" if leaver else "staff",
                given=given,
                surname=surname,
                username=username,
                roles=person_roles,
                old_mail=(f"{local}@{org.domain}",),
                new_mail="" if leaver else local,
                extension=extension,
                tags=("leaver",) if leaver else (),
                groups=tuple(sorted({g for r in role_objs for g in r.groups})),
            )
        )
    for index in range(n_service):
        name = ("payments", "scanner", "backup", "sync", "reports")[index % 5]
        suffix = "" if index < 5 else str(index // 5 + 1)
        username = unique(f"svc-{name}{suffix}", usernames)
        out.append(
            Person(
                id=next_id(),
                organisation=org.id,
                site=hq,
                kind="service",
                given="Service",
                surname=f"account {username}",
                username=username,
                roles=(f"{org.id}-service-account",),
                old_mail=(),
                new_mail="",
                extension="",
                tags=("service-account",),
                owner=org.owner,
            )
        )
    for index in range(n_shared):
        team = ("housing-enquiries", "council-tax", "recruitment", "complaints")[index % 4]
        suffix = "" if index < 4 else str(index // 4 + 1)
        username = unique(f"{team}{suffix}", usernames)
        out.append(
            Person(
                id=next_id(),
                organisation=org.id,
                site=hq,
                kind="shared-mailbox",
                given="Shared mailbox",
                surname=username,
                username=username,
                roles=(f"{org.id}-shared-mailbox",),
                old_mail=(f"{username}@{org.domain}",),
                new_mail=f"{org.id}-{username}",
                extension="",
                tags=("shared-mailbox",),
                owner=org.owner,
            )
        )
    # Pilots: the first few ordinary staff of the HQ (deterministic, easy to find).
    pilots = [p.id for p in out if p.kind == "staff" and p.site == hq][:PILOTS_PER_ORG]
    return [replace(p, pilot=True) if p.id in pilots else p for p in out]


def _new_mail(people: list[Person]) -> list[Person]:
    """New addresses, unique across both organisations: a clash gets the organisation's
    initial (``john.smith.s@``), then a number."""
    taken: set[str] = set()
    out: list[Person] = []
    for p in people:
        local = p.new_mail
        if not local:
            out.append(p)
            continue
        candidate = local if local not in taken else f"{local}.{p.organisation[0]}"
        n = 1
        while candidate in taken:
            n += 1
            candidate = f"{local}{n}"
        taken.add(candidate)
        out.append(replace(p, new_mail=f"{candidate}@{SHARED_DOMAIN}"))
    return out


def _migrate(people: list[Person], seed: int, size: int) -> list[Person]:
    """Tag the subset already migrated to the shared AD (at most MIGRATED_MAX in all)."""
    rng = random.Random(f"{seed}:migrated")
    per_org = min(MIGRATED_MAX // 2, max(3, size // 5))
    chosen: set[str] = set()
    for org in ("north", "south"):
        candidates = [p for p in people if p.organisation == org and p.kind == "staff"]
        pilots = [p for p in candidates if p.pilot][:1]  # one pilot per organisation is migrated
        rest = [p for p in candidates if not p.pilot]
        picked = pilots + rng.sample(rest, min(per_org - len(pilots), len(rest)))
        chosen.update(p.key for p in picked)
    ad_names: set[str] = set()
    out: list[Person] = []
    for p in people:
        if p.key not in chosen:
            out.append(p)
            continue
        ad = p.username if p.username not in ad_names else f"{p.username}.{p.organisation[0]}"
        ad_names.add(ad)
        out.append(replace(p, tags=(*p.tags, "migrated"), ad_username=ad))
    return out


def _specialists(
    people: list[Person], applications: tuple[Application, ...], seed: int, size: int
) -> list[Person]:
    """Give each specialist application to a few ordinary staff per organisation (of its
    roles when there are enough), as per-person needs: SPECIALISTS_PER_APP each, or one
    in SPECIALIST_SHARE at larger sizes; under SMALL_ESTATE staff, to one person of one
    organisation, in turn. Pilots keep to the applications of their roles."""
    rng = random.Random(f"{seed}:specialists")
    wanted = max(SPECIALISTS_PER_APP, size // SPECIALIST_SHARE)
    specialist = [a for a in applications if a.specialist_roles]
    extra: dict[str, list[Application]] = {}
    for n, org in enumerate(("north", "south")):
        staff = [p for p in people if p.organisation == org and p.kind == "staff" and not p.pilot]
        for i, app in enumerate(specialist):
            if size < SMALL_ESTATE and i % 2 != n:
                continue
            count = 1 if size < SMALL_ESTATE else wanted
            roles = {f"{org}-{r}" for r in app.specialist_roles}
            pool = [p for p in staff if roles & set(p.roles)]
            if len(pool) < count:
                pool = staff
            for p in rng.sample(pool, min(count, len(pool))):
                extra.setdefault(p.key, []).append(app)
    out: list[Person] = []
    for p in people:
        apps = extra.get(p.key)
        if apps:
            p = replace(
                p,
                needs_apps=tuple(a.id for a in apps),
                groups=tuple(sorted({*p.groups, *(a.group for a in apps)})),
            )
        out.append(p)
    return out
