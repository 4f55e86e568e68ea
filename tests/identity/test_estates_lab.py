"""Estates built by someone else (issue 8), against the lab's real slapd directories, Samba
AD DC, BIND and jump hosts: the AD's groups base at the domain root, people found by
HR employee number, a pilot with another password in each directory, the directory
services themselves, must-change people listed apart, what-if dates, near misses,
and trusting a vantage point's host keys."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness.engine import make_plan, run_plan
from readiness.inventory import Inventory, Selection, load
from readiness.net.vantage import VantageError
from readiness.record import SweepMeta, SweepRecord
from readiness.record.rollup import build
from readiness.registry import load_families
from readiness.results import Result, Status
from readiness_checks.identity.config import Directory
from readiness_checks.identity.snapshot import Snapshot, _vals, fetch
from readiness_lab.estate import UNTRUSTED_VANTAGE
from readiness_lab.faults import ACCOUNT_MISSING, HR_MISMATCH, PASSWORD_EXPIRED, Fault
from readiness_lab.pytest_fixtures import LabHandle

from .conftest import run_context

pytestmark = [pytest.mark.integration, pytest.mark.lab]

READINESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "readiness"


# --------------------------------------------------------------------------- helpers


def copy_inventory(lab: LabHandle, to: Path) -> Path:
    """The lab's inventory in another folder, its paths into the lab's state made
    absolute (they are written relative to the inventory's files)."""
    shutil.copytree(lab.inventory, to)
    for path in to.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f"../../{lab.state.name}/", f"{lab.state}/"), "utf-8")
    return to


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def sweep(
    folder: Path,
    lab: LabHandle,
    state: Path,
    *,
    go_live: dt.datetime | None = None,
    secrets: Path | None = None,
) -> SweepRecord:
    """The identity family's sweep, as `readiness sweep --family identity` runs it."""
    families = load_families()
    inventory = load(folder, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"identity"})), go_live)
    ctx = run_context(inventory, secrets or lab.secrets_dir, state, plan.go_live)
    try:
        results = run_plan(plan, ctx)
    finally:
        ctx.close()
    now = dt.datetime.now(dt.UTC)
    meta = SweepMeta(
        uuid.uuid4().hex,
        "test",
        "lab",
        plan.go_live,
        "test",
        str(folder),
        "",
        {},
        ("identity",),
        now,
        now,
    )
    return build(inventory, plan.staff, results, meta, families)


def by_id(record: SweepRecord) -> dict[str, Result]:
    return {f"{r.subject}|{r.check}|{r.target}": r for r in record.results}


def faults(lab: LabHandle, kind: str, directory: str) -> list[Fault]:
    return [f for f in lab.plan.of_kind(kind) if f.target == directory]


def snapshot(lab: LabHandle, dir_id: str, state: Path) -> Snapshot:
    inventory = load(lab.inventory, load_families())
    ctx = run_context(inventory, lab.secrets_dir, state)
    try:
        return fetch(dir_id, inventory.section("directories", Directory)[dir_id], ctx)
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def record(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> SweepRecord:
    return sweep(lab.inventory, lab, tmp_path_factory.mktemp("estates-state"))


@pytest.fixture(scope="module")
def results(record: SweepRecord) -> dict[str, Result]:
    return by_id(record)


# --------------------------------------------------------------------------- AD referrals


def test_ad_continuation_references_of_the_groups_search_do_not_hide_anyone(
    lab: LabHandle, results: dict[str, Result], tmp_path: Path
) -> None:
    ad = lab.estate.directory("shared-ad")
    assert ad.groups_base == ad.base_dn  # the domain root, as AD estates say
    snap = snapshot(lab, "shared-ad", tmp_path)
    # AD refers the subtree search at its root to its Configuration partition: routine.
    assert any("CN=Configuration" in ref for ref in snap.ignored_references)
    assert snap.references == []
    assert "app-housing" in {c.lower() for c in snap.group_cn.values()}
    (missing,) = faults(lab, ACCOUNT_MISSING, "shared-ad")
    r = results[f"{missing.subject}|identity.account-exists|directories:shared-ad"]
    assert r.status == Status.FAIL, r  # "not ready", never "unknown"
    assert not [x for x in results.values() if x.root_cause.endswith("|referral")]


# --------------------------------------------------------------------------- employee numbers


def test_people_are_found_by_employee_number_and_a_renamed_entry_is_reported(
    lab: LabHandle, results: dict[str, Result]
) -> None:
    assert lab.estate.directory("south-ldap").match == "employee_number"
    (renamed,) = faults(lab, HR_MISMATCH, "south-ldap")
    exists = results[f"{renamed.subject}|identity.account-exists|directories:south-ldap"]
    assert exists.status == Status.WARN, exists
    assert exists.details["codes"] == ["hr-mismatch"]
    person = next(p for p in lab.estate.people if p.key == renamed.subject)
    assert f"directory '{person.given} {renamed.detail('surname')}'" in exists.summary
    assert f"HR {person.name!r}" in exists.summary
    assert f"uid={renamed.detail('username')}," in exists.observed  # the entry found
    # Found, so everything else about the account is judged (and fine).
    for check in ("account-usable", "password-valid", "mail-attribute"):
        other = results[f"{renamed.subject}|identity.{check}|directories:south-ldap"]
        assert other.status == Status.PASS, other


# --------------------------------------------------------------------------- credentials


def _bad_password_count(lab: LabHandle, upn: str, tmp_path: Path) -> int:
    snap = snapshot(lab, "shared-ad", tmp_path)
    (row,) = snap.find(upn)
    return int(_vals(snap.people[row][1], "badPwdCount")[0])


def test_a_pilot_logs_in_to_each_directory_with_its_own_password(
    lab: LabHandle, results: dict[str, Result], tmp_path: Path
) -> None:
    pilots = [p for p in lab.estate.pilots if p.migrated]
    assert pilots
    for p in pilots:
        council = (lab.secrets_dir / p.credential_secret).read_text()
        assert council != (lab.secrets_dir / p.ad_credential_secret).read_text()
        for directory in (lab.estate.org(p.organisation).directory_id, "shared-ad"):
            login = results[f"{p.key}|identity.pilot-login|directories:{directory}"]
            assert login.status == Status.PASS, login
        assert _bad_password_count(lab, p.upn, tmp_path) == 0  # no wrong password sent


def test_no_attempt_where_a_pilot_has_no_credential(lab: LabHandle, tmp_path: Path) -> None:
    folder = copy_inventory(lab, tmp_path / "inventory")
    # Northvale's pilots hold a credential for their council's directory only.
    edit(
        folder,
        "staff.yaml",
        "  credential: file:pilots/{organisation}-{id}.pw\n- file: hr/staff-south.csv",
        "  credentials: {north-ldap: 'file:pilots/{organisation}-{id}.pw'}\n"
        "- file: hr/staff-south.csv",
    )
    edit(folder, "staff.yaml", "    credentials.shared-ad: SharedADPassword\n", "")
    (pilot,) = [p for p in lab.estate.pilots if p.migrated and p.organisation == "north"]
    families = load_families()
    inventory: Inventory = load(folder, families)
    plan = make_plan(inventory, families, Selection(staff=frozenset({pilot.id})))
    costs = {p.account: p.lockout_cost for p in plan.probes if p.check == "identity.pilot-login"}
    assert costs == {f"north-ldap/{pilot.username}": 1, f"shared-ad/{pilot.upn}": 0}
    state = tmp_path / "state"
    r = by_id(sweep(folder, lab, state))
    skipped = r[f"{pilot.key}|identity.pilot-login|directories:shared-ad"]
    assert skipped.status == Status.SKIP and "without a credential for shared-ad" in skipped.summary
    assert r[f"{pilot.key}|identity.pilot-login|directories:north-ldap"].status == Status.PASS
    assert _bad_password_count(lab, pilot.upn, tmp_path) == 0
    ledger = sqlite3.connect(state / "ledger.sqlite")  # its one attempt: in north
    labels = {row[0] for row in ledger.execute("SELECT label FROM attempts")}
    ledger.close()
    assert f"north-ldap/{pilot.username}" in labels and f"shared-ad/{pilot.upn}" not in labels


# --------------------------------------------------------------------------- services


def test_the_directory_services_are_checked(results: dict[str, Result]) -> None:
    services = [r for r in results.values() if r.subject.startswith("directories:")]
    assert services and all(r.status == Status.PASS for r in services), [
        r for r in services if r.status != Status.PASS
    ]
    checks = {(r.subject, r.check, r.target.split(" via ")[0]) for r in services}
    ad = "directories:shared-ad"
    for name in ("_ldap._tcp.ad.valeshared.test", "_kerberos._tcp.ad.valeshared.test"):
        assert (ad, "identity.srv", name) in checks
    assert (ad, "identity.kdc", "dc1.ad.valeshared.test:88") in checks
    for subject in ("directories:north-ldap", "directories:south-ldap", ad):
        tls = {(c, t) for s, c, t in checks if s == subject and c.startswith("tls.")}
        assert len(tls) == 12, tls  # six properties, LDAPS and StartTLS
    access = [r for r in results.values() if r.subject == "family:identity"]
    assert {(r.check, r.status) for r in access} == {
        ("identity.service-bind", Status.PASS),
        ("identity.lockout-policy", Status.PASS),
    }
    assert len(access) == 6


def test_directory_service_faults(lab: LabHandle, tmp_path: Path) -> None:
    folder = copy_inventory(lab, tmp_path / "inventory")
    edit(
        folder,
        "directories.yaml",
        "    owner: Shared service identity team\n",
        "    owner: Shared service identity team\n    dns_domain: southmere.test\n",
    )
    secrets = tmp_path / "secrets"
    shutil.copytree(lab.secrets_dir, secrets)
    (secrets / "north-ldap-readiness.secret").write_text("not-the-password")
    record = sweep(folder, lab, tmp_path / "state", secrets=secrets)
    r = by_id(record)
    kerberos = next(
        x for k, x in r.items() if k.startswith("directories:shared-ad|identity.srv|_kerberos")
    )
    assert kerberos.status == Status.FAIL and "NXDOMAIN" in kerberos.summary, kerberos
    assert not [k for k in r if k.startswith("directories:shared-ad|identity.kdc")]
    bind = r["family:identity|identity.service-bind|directories:north-ldap"]
    assert bind.status == Status.FAIL and "invalidCredentials" in bind.summary, bind
    # One blocker: the team's finding and every north person it leaves unknown.
    (blocker,) = [b for b in record.blockers if b.root_cause == bind.root_cause]
    north = [p for p in record.people if p.organisation == "north"]
    assert blocker.status == Status.FAIL and blocker.people == len(north)
    causes = {x.id: x.root_cause for x in record.results}
    assert all(bind.root_cause in {causes[i] for i in p.reasons} for p in north)
    assert {p.verdict.value for p in north if "migrated" not in p.tags} == {"unknown"}


# --------------------------------------------------------------------------- passwords


def test_must_change_people_are_listed_apart(lab: LabHandle, record: SweepRecord) -> None:
    warned = {w for p in record.people for w in p.warnings}
    must = [r for r in record.results if r.details.get("codes") == ["must-change"]]
    assert must and all(r.status == Status.WARN and r.id in warned for r in must)
    assert all(r.root_cause.endswith("|must-change") for r in must)
    assert all("ready once the person has changed the password" in r.impact for r in must)


def test_must_change_blocks_when_the_programme_says_so(lab: LabHandle, tmp_path: Path) -> None:
    folder = copy_inventory(lab, tmp_path / "inventory")
    edit(
        folder,
        "programme.yaml",
        "  go_live: 2027-01-04\n",
        "  go_live: 2027-01-04\n  passwords: {must_change_blocks: true}\n",
    )
    record = sweep(folder, lab, tmp_path / "state")
    must = [r for r in record.results if r.details.get("codes") == ["must-change"]]
    assert must and all(r.status == Status.FAIL for r in must)
    verdicts = {p.key: p.verdict.value for p in record.people}
    assert all(verdicts[r.subject] == "not ready" for r in must)


def test_a_what_if_date_six_months_ahead_keeps_normal_rotation_ready(
    lab: LabHandle, tmp_path: Path
) -> None:
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=182)
    record = sweep(lab.inventory, lab, tmp_path / "state", go_live=far)
    password = [r for r in record.results if r.check == "identity.password-valid"]
    failed = {r.subject for r in password if r.status == Status.FAIL}
    assert failed == {f.subject for f in lab.plan.of_kind(PASSWORD_EXPIRED)}
    rotating = [
        r for r in password if r.details.get("codes") == ["password-rotates-before-go-live"]
    ]
    assert len(rotating) > len(password) / 2  # everyone set at `lab up`, 90-day maximum
    assert all(r.status == Status.WARN and " 20" in r.summary for r in rotating)  # the date


# --------------------------------------------------------------------------- near misses


def test_near_misses_are_plausible_and_say_why(lab: LabHandle, results: dict[str, Result]) -> None:
    missing = [f for f in lab.plan.of_kind(ACCOUNT_MISSING) if f.target != "shared-ad"]
    hints = [
        h
        for f in missing
        for h in results[f"{f.subject}|identity.account-exists|directories:{f.target}"].details[
            "near_misses"
        ]
    ]
    assert hints
    reasons = ("the same name", "initial and surname", "the same surname", "address", "username")
    assert all(any(why in h for why in reasons) for h in hints), hints
    assert not any("similar" in h for h in hints)


# --------------------------------------------------------------------------- vantage trust


@pytest.fixture
def untrusted(lab: LabHandle, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A copy of the inventory whose new vantage point has no known-hosts file yet."""
    folder = copy_inventory(lab, tmp_path / "inventory")
    known = tmp_path / "ssh" / "known_hosts"
    edit(
        folder,
        "sites.yaml",
        f"{lab.state}/ssh/known_hosts-{UNTRUSTED_VANTAGE}",
        str(known),
    )
    yield folder, known


def _connect(lab: LabHandle, folder: Path) -> None:
    inventory = load(folder, load_families())
    ctx = run_context(inventory, lab.secrets_dir, folder)
    try:
        host = lab.estate.site("north-hq").jump_ip or ""
        ctx.vantage(UNTRUSTED_VANTAGE).connect(host, 22, 5).close()
    finally:
        ctx.close()


def _trust(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(READINESS), "vantage", "trust", str(folder), "--vantage", UNTRUSTED_VANTAGE, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_vantage_trust_writes_the_known_hosts_file(
    lab: LabHandle, untrusted: tuple[Path, Path]
) -> None:
    folder, known = untrusted
    with pytest.raises(VantageError, match="readiness vantage trust"):
        _connect(lab, folder)  # never trust on first use during a sweep
    asked = _trust(folder)  # nobody at a terminal to confirm
    assert asked.returncode == 2 and "--yes" in asked.stderr and not known.exists()
    host_key = lab.state / "ssh" / "north-hq" / "ssh_host_ed25519_key.pub"
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(host_key)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert expected in asked.stdout  # the fingerprint shown is the host's
    done = _trust(folder, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"{UNTRUSTED_VANTAGE}  " in done.stdout and expected in done.stdout
    assert host_key.read_text().split()[1] in known.read_text()
    _connect(lab, folder)  # verified now
    again = _trust(folder, "--yes")
    assert again.returncode == 0 and "already trusted" in again.stdout


def test_a_changed_host_key_is_not_replaced_silently(
    lab: LabHandle, untrusted: tuple[Path, Path]
) -> None:
    folder, known = untrusted
    other = (lab.state / "ssh" / "south-hq" / "ssh_host_ed25519_key.pub").read_text().split()
    host = lab.estate.site("north-hq").jump_ip
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text(f"{host} {other[0]} {other[1]}\n")
    refused = _trust(folder, "--yes")
    assert refused.returncode == 1 and "CHANGED" in refused.stdout, refused.stdout
    assert "may be an attack" in refused.stderr
    assert other[1] in known.read_text()  # untouched
    with pytest.raises(VantageError, match="does not match"):
        _connect(lab, folder)
    replaced = _trust(folder, "--yes", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    _connect(lab, folder)


def test_the_lab_vantage_point_starts_without_host_keys(lab: LabHandle) -> None:
    point = load(lab.inventory, load_families()).vantage_points[UNTRUSTED_VANTAGE]
    assert point.known_hosts and point.known_hosts.endswith(f"known_hosts-{UNTRUSTED_VANTAGE}")
    text = (lab.state / "ssh" / f"known_hosts-{UNTRUSTED_VANTAGE}").read_text()
    assert all(line.startswith("#") for line in text.splitlines())  # no keys yet
