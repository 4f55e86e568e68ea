"""Loading and merging valid inventories: YAML folders, HR CSV exports, the needs graph."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from readiness.inventory import InventoryError, load
from readiness.registry import load_families

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"


def test_minimal_inventory_merges_files_and_csv() -> None:
    inv = load(MINIMAL, [])
    assert inv.programme.name == "Minimal merger"
    assert inv.go_live == dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    assert [p.key for p in inv.staff] == [
        "staff:north/N0001",
        "staff:south/S0001",
        "staff:south/S0002",
    ]
    zoe = inv.staff[1]
    assert zoe.name == "Zoë Łukasz"  # UTF-8 with a byte-order mark, CRLF line ends
    assert zoe.tags == ["migrated"]
    assert inv.staff[2].roles == ["clerk", "manager"]
    assert inv.where("staff", 2).endswith("south.csv:3")
    assert inv.where("staff", 0, "username").endswith("staff.yaml:7")


def test_needs_graph_comes_from_roles_with_additions_and_exemptions(tmp_path: Path) -> None:
    inv = load(MINIMAL, [])
    bob = inv.staff_by_key["staff:south/S0002"]
    needs = inv.needs(bob)
    assert needs.groups == {"staff-all", "managers"}
    assert needs.phone and needs.mailbox
    assert {"staff:south/S0002", "sites:south-hq", "organisations:south"} <= needs.subjects.keys()
    assert needs.keys == ("account", "mailbox", "phone")


def test_service_objects_map_to_needs(tmp_path: Path) -> None:
    (tmp_path / "programme.yaml").write_text(
        (MINIMAL / "programme.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "objects.yaml").write_text(
        "applications: {payroll: {url: 'https://payroll.shared.test/'}}\n"
        "network_resources: {files: {host: files.north.test, port: 445}}\n"
        "mail_domains: {shared.test: {owner: Mail team}, north.test: {organisation: north}}\n"
        "telephony_endpoints:\n"
        "  pbx-north: {serves: [north]}\n"
        "  sbc: {}\n"
        "roles: {officer: {applications: [payroll], network_resources: [files], mailbox: true,"
        " extension: true}}\n"
        "staff:\n"
        "  - {id: N1, organisation: north, site: north-hq, roles: [officer],"
        " new_mail: a@shared.test, old_mail: [a@north.test]}\n"
        "  - {id: S1, organisation: south, site: south-hq, roles: [officer]}\n",
        encoding="utf-8",
    )
    inv = load(tmp_path, [])
    north, south = (inv.needs(p) for p in inv.staff)
    assert north.keys == (
        "account",
        "mailbox",
        "phone",
        "application:payroll",
        "network_resource:files",
    )
    assert north.subjects["applications:payroll"] == "application:payroll"
    assert north.subjects["network_resources:files"] == "network_resource:files"
    assert north.subjects["mail_domains:shared.test"] == "mailbox"
    assert north.subjects["mail_domains:north.test"] == "mailbox"  # coexistence
    assert north.subjects["telephony_endpoints:pbx-north"] == "phone"
    assert north.subjects["telephony_endpoints:sbc"] == "phone"
    # South's new address comes from its organisation's new domain; its PBX is not north's.
    assert south.subjects["mail_domains:shared.test"] == "mailbox"
    assert "mail_domains:north.test" not in south.subjects
    assert "telephony_endpoints:pbx-north" not in south.subjects


def test_host_port_fields_are_validated(tmp_path: Path) -> None:
    for bad in ("ns1:abc", "1.2.3.4:99999", "[::1", "host:0"):
        (tmp_path / "inv.yaml").write_text(
            f"programme: {{name: x, go_live: 2027-01-04, resolvers: ['{bad}']}}\n", encoding="utf-8"
        )
        with pytest.raises(InventoryError) as info:
            load(tmp_path, [])
        assert "programme: resolvers[0]:" in str(info.value.problems[0]), bad


def test_csv_with_lf_and_no_bom(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(
        (MINIMAL / "programme.yaml").read_text(encoding="utf-8")
        + "staff_sources:\n  - file: hr.csv\n    organisation: north\n"
        "    columns: {id: Id, site: Site}\n",
        encoding="utf-8",
    )
    (tmp_path / "hr.csv").write_text("Id,Site\nN1,north-hq\nN2,north-hq\n", encoding="utf-8")
    inv = load(tmp_path, [])
    assert [p.id for p in inv.staff] == ["N1", "N2"]


def test_real_families_load_and_own_distinct_sections() -> None:
    families = load_families()
    names = [f.name for f in families]
    assert names == sorted(names) and len(set(names)) == len(names)
    owned = [s for f in families for s in f.sections]
    assert len(owned) == len(set(owned))


def test_inventory_error_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "programme: {name: x, go_live: 2027-01-04}\n"
        "organisations: {north: {name: N}}\n"
        "sites: {hq: {organisation: nort}}\n"
        "staff:\n"
        "  - {id: A, organisation: north, site: hq, roles: [nope]}\n"
        "  - {id: B, organisation: north, site: hq, colour: red}\n",
        encoding="utf-8",
    )
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, [])
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "a.yaml:3: organisation 'nort' does not exist" in text
    assert "did you mean 'north'?" in text
    assert "a.yaml:5: role 'nope' does not exist" in text
    assert "a.yaml:6: unknown key 'colour' in staff B (a.yaml:6)" in text
