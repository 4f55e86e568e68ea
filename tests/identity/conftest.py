"""Real slapd fixtures for the identity family: two organisations' directories with one
account per fault kind, an inventory describing them, and helpers to sweep.

The directories are started once per test session (``identity_lab``) by PID through the
lab Supervisor and stopped at the end, on addresses of a slot claimed for the session
(readiness_lab.claim), so a lab or another test run on this machine never collides with
them. A machine without slapd fails these tests loudly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from readiness.family import PlanContext, RunContext
from readiness.inventory import Inventory, load
from readiness.results import Result
from readiness_checks.identity import IdentityFamily
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor
from readiness_lab.pytest_fixtures import lab  # noqa: F401  (the whole lab, session-wide)
from readiness_lab.slapd import (
    PERMANENT_LOCK,
    DirectorySpec,
    GroupSpec,
    PersonSpec,
    PolicySpec,
    SlapdInfo,
    start_slapd,
)
from readiness_lab.slot import Slot

from .samba_dc import ad_dc  # noqa: F401  (a session fixture of the identity tests)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
GO_LIVE = (NOW + dt.timedelta(days=30)).date()
DAY = dt.timedelta(days=1)
PILOT_PASSWORD = "Pilot-Correct-1"
POLICIES = (
    PolicySpec(
        "default",
        max_failure=3,
        lockout=True,
        lockout_duration=900,
        max_age=90 * 86400,
        grace_limit=2,
    ),
    PolicySpec(
        "privileged",
        max_failure=5,
        lockout=True,
        lockout_duration=0,
        max_age=30 * 86400,
        grace_limit=0,
    ),
    PolicySpec("nolock", max_failure=3, lockout=False, max_age=0),
)


def person(uid: str, org_domain: str = "northvale.test", **kw: Any) -> PersonSpec:
    first, _, last = uid.partition(".")
    defaults: dict[str, object] = {
        "given_name": first.title(),
        "sn": (last or uid).title(),
        "password": f"pw-{uid}",
        "mail": [f"{uid}@valeshared.test", f"{uid}@{org_domain}"],
        "telephone_number": "+44 20 7946 4100",
        "employee_number": uid,
    }
    defaults.update(kw)
    return PersonSpec(uid=uid, **defaults)  # type: ignore[arg-type]


# uid -> (PersonSpec kwargs); each account carries exactly one condition.
NORTH_PEOPLE: dict[str, dict[str, Any]] = {
    "healthy": {},
    "nested": {},  # gets its app group through a nested group
    "nogroup": {},  # missing the app group
    "disabled": {"locked_time": PERMANENT_LOCK},
    "lockedhard": {"locked_time": NOW - dt.timedelta(minutes=5), "policy": "privileged"},
    "lockedtemp": {"locked_time": NOW - dt.timedelta(minutes=1)},  # ends before go-live
    "oldlock": {"locked_time": NOW - 2 * DAY},  # expired lock: not a lock
    "nolockpol": {"locked_time": NOW - dt.timedelta(minutes=1), "policy": "nolock"},
    "mustchange": {"pwd_reset": True},
    "expiring": {"pwd_changed_time": NOW - 80 * DAY},  # valid today, expired at go-live
    "graceused": {
        "pwd_changed_time": NOW - 100 * DAY,
        "grace_use_times": [NOW - 2 * DAY, NOW - DAY],
    },
    "notyet": {"pwd_start_time": NOW + 40 * DAY},
    "ended": {"pwd_end_time": NOW + 10 * DAY},
    "nomail": {"mail": []},
    "wrongmail": {"mail": ["wrongmail@northvale.test"]},
    "oldmaildropped": {"mail": ["oldmaildropped@valeshared.test"]},
    "noext": {"telephone_number": ""},
    "jsmyth": {"mail": ["jsmith@valeshared.test"]},  # near miss for the missing jsmith
    "pilot.ok": {"password": PILOT_PASSWORD},
    "pilot.bad": {"password": PILOT_PASSWORD},  # the inventory holds a wrong password
    "pilot.low": {
        "password": PILOT_PASSWORD,
        "failure_times": [NOW - dt.timedelta(minutes=3), NOW - dt.timedelta(minutes=2)],
    },
    "pilot.reset": {"password": PILOT_PASSWORD, "pwd_reset": True},
    "pilot.shared": {"password": PILOT_PASSWORD},  # test_lockout_sharing.py's
}
NORTH_MISSING = ["jsmith", "ghost"]  # in the inventory, not in the directory


@dataclass(frozen=True)
class Hosts:
    """The addresses of these tests' directories, on the session's own slot."""

    slot: Slot

    @property
    def north(self) -> str:
        return self.slot.host(1, 10)

    @property
    def south(self) -> str:
        return self.slot.host(2, 10)

    @property
    def dead(self) -> str:
        """Nothing listens there: connection refused."""
        return self.slot.host(1, 99)

    @property
    def silent(self) -> str:
        """A listener that never answers: timeout."""
        return self.slot.host(1, 98)


def north_spec(hosts: Hosts, extra_people: int = 0) -> DirectorySpec:
    people = [person(uid, **kw) for uid, kw in NORTH_PEOPLE.items()]
    people += [person(f"bulk{i:05d}") for i in range(extra_people)]
    everyone = [p.uid for p in people if p.uid not in ("nogroup", "nested")]
    return DirectorySpec(
        org="north",
        base_dn="dc=northvale,dc=test",
        host=hosts.north,
        dns_name="ldap.northvale.test",
        people=people,
        policies=POLICIES,
        groups=[
            GroupSpec("app-housing", members=everyone, member_groups=["housing-team"]),
            GroupSpec("housing-team", members=["nested"]),
            GroupSpec("all-staff", members=[p.uid for p in people]),
        ],
        referrals={"ou=elsewhere": f"ldap://{hosts.south}/ou=people,dc=southmere,dc=test"},
        limited_services={"readiness-small": "size=5"},
        organisation_name="Northvale Borough Council",
    )


def south_spec(hosts: Hosts) -> DirectorySpec:
    people = [person("southie", "southmere.test"), person("jsmith", "southmere.test")]
    return DirectorySpec(
        org="south",
        base_dn="dc=southmere,dc=test",
        host=hosts.south,
        dns_name="ldap.southmere.test",
        people=people,
        policies=POLICIES,
        groups=[GroupSpec("app-housing", members=["southie", "jsmith"])],
        organisation_name="Southmere District Council",
    )


@dataclass
class IdentityLab:
    root: Path
    hosts: Hosts
    supervisor: Supervisor
    ca: LabCA
    north: SlapdInfo
    south: SlapdInfo
    silent: socket.socket
    inventories: dict[str, Path] = field(default_factory=dict)


@pytest.fixture(scope="session")
def identity_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityLab]:
    root = tmp_path_factory.mktemp("identity-lab")
    with claimed(root) as slot:
        hosts = Hosts(slot)
        supervisor = Supervisor(root / "state")
        ca = LabCA(root / "state" / "ca")
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind((hosts.silent, 389))
        silent.listen(16)  # accepts into the backlog, never answers
        try:
            north = start_slapd(north_spec(hosts), supervisor, ca, root / "state")
            south = start_slapd(south_spec(hosts), supervisor, ca, root / "state")
            yield IdentityLab(root, hosts, supervisor, ca, north, south, silent)
        finally:
            supervisor.stop()
            silent.close()


def _staff_yaml(
    uid: str,
    org: str = "north",
    *,
    tags: tuple[str, ...] = (),
    pilot: str | None = None,
    roles: tuple[str, ...] = ("housing-officer",),
    domain: str = "northvale.test",
) -> str:
    lines = [
        f"  - id: {uid.replace('.', '-')}",
        f"    organisation: {org}",
        f"    site: {org}-hq",
        f"    roles: [{', '.join(roles)}]",
        f"    username: {uid}",
        f"    new_mail: {uid}@valeshared.test",
        f"    old_mail: [{uid}@{domain}]",
        '    extension: "4100"',
    ]
    if tags:
        lines.append(f"    tags: [{', '.join(tags)}]")
    if pilot:
        lines += ["    pilot: true", f"    credential: file:{pilot}"]
    return "\n".join(lines) + "\n"


def write_inventory(ilab: IdentityLab, name: str = "main", *, budget: int = 2) -> Path:
    folder = ilab.root / f"inv-{name}"
    folder.mkdir(exist_ok=True)
    (folder / "north-service.secret").write_text(ilab.north.service_password_file.read_text())
    (folder / "south-service.secret").write_text(ilab.south.service_password_file.read_text())
    (folder / "wrong-service.secret").write_text("not-the-password\n")
    (folder / "pilot-ok.secret").write_text(PILOT_PASSWORD + "\n")
    (folder / "pilot-bad.secret").write_text("Wrong-Password-9\n")
    for f in folder.glob("*.secret"):
        f.chmod(0o600)
    ca = ilab.ca.cert_path
    staff = "".join(
        _staff_yaml(uid) for uid in NORTH_PEOPLE if not uid.startswith("pilot") and uid != "jsmyth"
    )
    staff += "".join(_staff_yaml(uid) for uid in NORTH_MISSING)
    staff += _staff_yaml("pilot.ok", pilot="pilot-ok.secret")
    staff += _staff_yaml("pilot.bad", pilot="pilot-bad.secret")
    staff += _staff_yaml("pilot.low", pilot="pilot-ok.secret")
    staff += _staff_yaml("pilot.reset", pilot="pilot-ok.secret")
    staff += _staff_yaml("southie", "south", domain="southmere.test")
    for tag in ("err-unreachable", "err-service", "err-referral", "err-size", "err-timeout"):
        staff += _staff_yaml(f"{tag}.person", tags=(tag,)).replace(
            f"username: {tag}.person", "username: healthy"
        )
    hosts = ilab.hosts
    north_dir = f"""
    kind: openldap
    url: ldap://{hosts.north}:389
    start_tls: true
    base_dn: dc=northvale,dc=test
    people_base: ou=people,dc=northvale,dc=test
    groups_base: ou=groups,dc=northvale,dc=test
    policies_base: ou=policies,dc=northvale,dc=test
    default_policy: cn=default,ou=policies,dc=northvale,dc=test
    bind_dn: {ilab.north.service_dn}
    bind_password: file:north-service.secret
    ca_bundle: {ca}
    owner: Northvale identity team
    attempt_budget: {budget}
    timeout: 3
"""

    def variant(tag: str, **changes: str) -> str:
        text = north_dir + f"    organisations: [north]\n    staff_tags: [{tag}]\n"
        for key, value in changes.items():
            lines = [ln for ln in text.splitlines() if not ln.strip().startswith(f"{key}:")]
            text = "\n".join(lines) + f"\n    {key}: {value}\n"
        return text

    text = textwrap.dedent(f"""\
    programme:
      name: Identity test programme
      go_live: {GO_LIVE.isoformat()}
    organisations:
      north:
        name: Northvale Borough Council
        mail_domains: {{old: [northvale.test], new: valeshared.test}}
      south:
        name: Southmere District Council
        mail_domains: {{old: [southmere.test], new: valeshared.test}}
    sites:
      north-hq: {{organisation: north}}
      south-hq: {{organisation: south}}
    roles:
      housing-officer:
        groups: [app-housing]
        extension: true
        mailbox: true
    """)
    text += "directories:\n  north-ldap:\n" + textwrap.indent(
        textwrap.dedent(north_dir + "    organisations: [north]\n    staff_tags: []\n"), "    "
    )
    text += "  south-ldap:\n" + textwrap.indent(
        textwrap.dedent(
            north_dir.replace("northvale", "southmere")
            .replace(hosts.north, hosts.south)
            .replace("north-service", "south-service")
            .replace("Northvale", "Southmere")
            .replace(ilab.north.service_dn, ilab.south.service_dn)
            + "    organisations: [south]\n"
        ),
        "    ",
    )
    variants = {
        "err-unreachable": variant("err-unreachable", url=f"ldap://{hosts.dead}:389"),
        "err-service": variant("err-service", bind_password="file:wrong-service.secret"),
        "err-referral": variant("err-referral", people_base="ou=elsewhere,dc=northvale,dc=test"),
        "err-size": variant(
            "err-size", bind_dn="cn=readiness-small,ou=services,dc=northvale,dc=test"
        ),
        "err-timeout": variant("err-timeout", url=f"ldap://{hosts.silent}:389", timeout="1"),
    }
    for tag, body in variants.items():
        text += f"  {tag.replace('err-', 'north-')}:\n" + textwrap.indent(
            textwrap.dedent(body), "    "
        )
    text += "staff:\n" + staff
    (folder / "inventory.yaml").write_text(text, encoding="utf-8")
    return folder


def north_key(ilab: IdentityLab, uid: str) -> tuple[str, str]:
    """(realm, account) the attempt ledger keys a north account by: the server as it
    knows itself (address and naming context) and the entry's DN."""
    return (
        f"ldap:{ilab.hosts.north}/dc=northvale,dc=test",
        f"dn:uid={uid},ou=people,dc=northvale,dc=test",
    )


@contextlib.contextmanager
def extra_slapd(ilab: IdentityLab, org: str, last_octet: int, **kw: Any) -> Iterator[SlapdInfo]:
    """One more small slapd on the session's slot (``dc=<org>,dc=test``, one person
    ``someone``), stopped by PID at the end."""
    spec = DirectorySpec(
        org=org,
        base_dn=f"dc={org},dc=test",
        host=ilab.hosts.slot.host(1, last_octet),
        dns_name=f"ldap.{org}.test",
        organisation_name=org.title(),
        **{"people": [person("someone", f"{org}.test")], **kw},
    )
    info = start_slapd(spec, ilab.supervisor, ilab.ca, ilab.root / "state")
    try:
        yield info
    finally:
        ilab.supervisor.stop(info.name)


def run_context(
    inventory: Inventory, secrets_dir: Path, state_dir: Path, go_live: dt.datetime | None = None
) -> RunContext:
    """A sweep's run context at the real time (go-live: the inventory's unless given)."""
    return RunContext(
        inventory,
        go_live=go_live or inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=secrets_dir,
        state_dir=state_dir,
    )


def load_inventory(folder: Path) -> Inventory:
    from readiness.registry import load_families

    return load(folder, load_families())


def sweep(inventory: Inventory, state_dir: Path, *, now: dt.datetime | None = None) -> list[Result]:
    """Plan and run the identity family directly (as the engine does, in one thread)."""
    fam = IdentityFamily()
    go_live = inventory.go_live
    probes = list(fam.plan(PlanContext(inventory, inventory.staff, go_live)))
    ctx = RunContext(
        inventory,
        go_live=go_live,
        clock=lambda: now or dt.datetime.now(dt.UTC),
        secrets_dir=inventory.root,
        state_dir=state_dir,
    )
    try:
        batches: dict[str, list[object]] = {}
        for p in probes:
            batches.setdefault(p.batch, []).append(p)
        results: list[Result] = []
        for group in batches.values():
            results.extend(fam.run(group, ctx))  # type: ignore[arg-type]
        return results
    finally:
        ctx.close()


def by_id(results: list[Result]) -> dict[str, Result]:
    return {f"{r.subject}|{r.check}|{r.target}": r for r in results}
