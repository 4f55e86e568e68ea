"""The estate, the fault switch and the inventory writer: pure, deterministic, valid.

No servers here (the inventory writer and validation need none)."""

from __future__ import annotations

import filecmp
import json
import stat
from collections import Counter
from pathlib import Path

import pytest

from readiness.inventory import load as load_inventory
from readiness.registry import load_families
from readiness_lab import internet
from readiness_lab.estate import INTERNET, MIGRATED_MAX, ascii_fold, generate
from readiness_lab.faults import (
    DIRECTORY_NUMBER_MISMATCH,
    EXTENSION_COLLISION,
    EXTENSION_OUT_OF_RANGE,
    HR_MISMATCH,
    KINDS,
    PASSWORD_MUST_CHANGE,
    RESOURCE_EXPOSED,
    choose,
    load,
    observed,
)
from readiness_lab.gateway import twin
from readiness_lab.up import render
from readiness_lab.writer import FILES, inventory_documents, write_secrets

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"


def test_same_size_and_seed_give_the_same_estate() -> None:
    assert generate(150, 1) == generate(150, 1)
    assert generate(150, 1).fingerprint() == generate(150, 1).fingerprint()
    assert generate(150, 2).fingerprint() != generate(150, 1).fingerprint()


@pytest.mark.parametrize("size", [10, 150, 2000])
def test_estate_shape(size: int) -> None:
    estate = generate(size, 7)
    staff = estate.staff
    for org in estate.organisations:
        ordinary = [p for p in estate.people_of(org.id) if p.kind == "staff"]
        assert len(ordinary) == size
        assert 2 <= len([s for s in estate.sites if s.organisation == org.id]) <= 3
        ids = [p.id for p in estate.people_of(org.id)]
        assert len(ids) == len(set(ids))
        usernames = [p.username for p in estate.people_of(org.id)]
        assert len(usernames) == len(set(usernames)), "usernames unique within an organisation"
    extensions = [p.extension for p in estate.people if p.extension]
    assert len(extensions) == len(set(extensions)), "extensions unique across both plans"
    new_mail = [p.new_mail for p in staff if p.new_mail]
    assert len(new_mail) == len(set(new_mail))
    assert all(m.endswith("@valeshared.test") for m in new_mail)
    north = {p.username for p in estate.people_of("north")}
    south = {p.username for p in estate.people_of("south")}
    assert north & south, "some usernames exist in both organisations"
    assert any(not p.name.isascii() for p in staff), "non-ASCII names"
    kinds = Counter(p.kind for p in estate.people)
    assert kinds["service"] and kinds["shared-mailbox"] and kinds["leaver"]
    assert not any(p.kind == "leaver" for p in staff), "leavers are not in the inventory"
    migrated = estate.migrated
    assert 0 < len(migrated) <= MIGRATED_MAX
    ad_names = [p.ad_username for p in migrated]
    assert len(ad_names) == len(set(ad_names)), "AD logins unique across both organisations"
    assert all(p.upn.endswith("@ad.valeshared.test") for p in migrated)
    assert 2 <= len(estate.pilots) <= 8
    # 5 for whole roles, 5 specialist ones (the faulty), 1 remote-access entry point
    assert len(estate.applications) == 11


def test_ten_thousand_per_organisation_caps_migrated() -> None:
    estate = generate(10_000, 1)
    assert len([p for p in estate.staff if p.kind == "staff"]) == 20_000
    assert len(estate.migrated) == MIGRATED_MAX


def test_size_limits() -> None:
    for bad in (9, 10_001):
        with pytest.raises(ValueError, match="between 10 and 10000"):
            generate(bad, 1)


def test_ascii_fold() -> None:
    assert ascii_fold("Łukasz Ødegård") == "lukaszodegard"
    assert ascii_fold("Ní Bhriain") == "nibhriain"
    assert ascii_fold("O'Brien") == "obrien"


def test_faults_are_deterministic_and_unambiguous(tmp_path: Path) -> None:
    estate = generate(150, 1)
    plan = choose(estate)
    assert plan == choose(generate(150, 1))
    assert plan != choose(generate(150, 2))
    assert {f.kind for f in plan.faults} == set(KINDS), "every kind is injected at 150"
    staff_faults = [f.subject for f in plan.faults if f.subject.startswith("staff:")]
    assert len(staff_faults) == len(set(staff_faults)), "one fault per person"
    by_key = {p.key: p for p in estate.people}
    for subject in staff_faults:
        person = by_key[subject]
        assert not person.pilot and person.kind == "staff"
    for f in plan.faults:
        assert f.result_prefix == f"{f.subject}|{f.check}"
    a, b = tmp_path / "a", tmp_path / "b"
    plan.write(a)
    choose(generate(150, 1)).write(b)
    assert (a / "ground-truth.json").read_bytes() == (b / "ground-truth.json").read_bytes()
    assert load(a) == plan


@pytest.mark.parametrize("size", [10, 40, 10_000])
def test_faults_at_other_sizes(size: int) -> None:
    plan = choose(generate(size, 3))
    missing = set(KINDS) - {f.kind for f in plan.faults}
    if size == 10:  # every ordinary person already has a fault when the plan's are drawn
        missing -= {
            EXTENSION_COLLISION,
            EXTENSION_OUT_OF_RANGE,
            DIRECTORY_NUMBER_MISMATCH,
            HR_MISMATCH,
        }
    assert len(missing) <= 1
    staff = [f.subject for f in plan.faults if f.subject.startswith("staff:")]
    assert len(staff) == len(set(staff))


@pytest.mark.parametrize("size", [150, 10_000])
def test_faulty_applications_reach_few_people(size: int) -> None:
    """Every application fault sits on a specialist application that a few named people
    need (per-person needs), never on one a whole role needs: a demo reads like a real
    programme, most people ready and a minority blocked by a handful of causes."""
    estate = generate(size, 1)
    plan = choose(estate)
    faulty = {f.subject.removeprefix("applications:") for f in plan.faults if "app" in f.subject}
    assert faulty == {a.id for a in estate.applications if a.specialist_roles}
    assert not faulty & {a for r in estate.roles for a in r.applications}
    staff = [p for p in estate.staff if p.kind == "staff"]
    needing = [p for p in staff if set(p.needs_apps) & faulty]
    assert 0 < len(needing) <= 0.08 * len(staff)
    for p in needing:  # entitled like everyone else: the group comes with the need
        assert not p.pilot and {f"app-{a}" for a in p.needs_apps} <= set(p.groups)


def test_the_perimeter_publishes_the_entry_point_and_the_exposed_hole() -> None:
    estate = generate(150, 1)
    plan = choose(estate)
    slot = estate.slot
    (exposed,) = plan.of_kind(RESOURCE_EXPOSED)
    assert exposed.vantage == INTERNET and exposed.check == "network.exposure"
    rules = internet.perimeter(estate, plan)
    assert rules.published == ((twin(slot.remote_access, slot), 443),)
    assert rules.exposed == ((exposed.detail("dst"), int(exposed.detail("port"))),)
    private = [r for r in estate.resources if r.private]
    assert private and {(a, p) for _, a, p in rules.private} == {(r.ip, r.port) for r in private}
    text = internet.ruleset(slot, rules)
    assert text.index("ct state established") < text.index('accept comment "published"')
    assert text.index("forgotten rule") < text.index('comment "internet"')
    docs = inventory_documents(estate)
    assert "checked_from: internet" in docs["applications.yaml"]
    assert "not_reachable_from:\n      - internet" in docs["applications.yaml"]
    assert f"  {INTERNET}:\n    kind: ssh" in docs["sites.yaml"]
    fallback = inventory_documents(estate, namespaces=False)  # no internet to stand for
    assert INTERNET not in fallback["sites.yaml"] + fallback["applications.yaml"]


def test_observed_matches_results_by_prefix_and_status() -> None:
    plan = choose(generate(150, 1))
    must_change = plan.of_kind(PASSWORD_MUST_CHANGE)[0]
    other = next(f for f in plan.faults if f.status == "fail")
    results = [
        {"id": f"{must_change.result_prefix}|directories:x|local", "status": "warn"},
        {"id": f"{other.result_prefix}|t|local", "status": "pass"},
    ]
    seen = observed(plan, results)
    assert seen[must_change] and not seen[other]


def test_writer_is_byte_identical(tmp_path: Path) -> None:
    render(tmp_path / "a", 150, 1)
    render(tmp_path / "b", 150, 1)
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert inventory_documents(generate(150, 2)) != inventory_documents(generate(150, 1))


@pytest.mark.parametrize("size", [10, 150, 10_000])
def test_written_inventory_is_valid(tmp_path: Path, size: int) -> None:
    estate = generate(size, 1)
    render(tmp_path / "inv", size, 1)
    inventory = load_inventory(tmp_path / "inv", load_families())
    assert len(inventory.staff) == len(estate.staff)
    assert set(inventory.sections["directories"]) == {"north-ldap", "south-ldap", "shared-ad"}
    pilots = [s for s in inventory.staff if s.pilot]
    assert pilots and all(s.credential and s.credential.startswith("file:") for s in pilots)
    csv_staff = (tmp_path / "inv" / "hr" / "staff-north.csv").read_text(encoding="utf-8-sig")
    rows = csv_staff.count("\n") - 1
    # Every staff member, pilots and people with per-person needs included, comes from
    # the HR CSV: it carries every staff field.
    assert rows == len([p for p in estate.people_of("north") if p.kind == "staff"])
    assert any(row.split(",")[-1].strip() for row in csv_staff.splitlines()[1:])  # ExtraApps


def test_committed_example_is_what_render_writes(tmp_path: Path) -> None:
    render(tmp_path / "example")
    cmp = filecmp.dircmp(EXAMPLE, tmp_path / "example")
    assert not cmp.left_only and not cmp.right_only, "file sets differ"
    for name in FILES:
        assert (EXAMPLE / name).read_bytes() == (tmp_path / "example" / name).read_bytes(), (
            f"inventories/example/{name} is stale: run `readiness lab render "
            "--out inventories/example`"
        )


def test_secrets_are_private_and_stable(tmp_path: Path) -> None:
    estate = generate(30, 1)
    first = write_secrets(estate, tmp_path / "secrets")
    again = write_secrets(estate, tmp_path / "secrets")
    assert first == again
    for name in first:
        mode = stat.S_IMODE((tmp_path / "secrets" / name).stat().st_mode)
        assert mode == 0o600, name
    text = "".join(inventory_documents(estate).values())
    for value in first.values():
        assert value not in text
    assert json.dumps(first)  # plain strings
