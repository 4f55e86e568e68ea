"""Inventories of estates built by someone else (issue 8): go-live as a moment, the
programme's password settings, employee numbers and per-target credentials, and HR CSV
sources that carry everything inline staff can."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.inventory import Inventory, InventoryError, load
from readiness.inventory.models import go_live_moment

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"
PROGRAMME = (MINIMAL / "programme.yaml").read_text(encoding="utf-8")


def write(folder: Path, programme: str = PROGRAMME, **files: str) -> Path:
    (folder / "programme.yaml").write_text(programme, encoding="utf-8")
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text, encoding="utf-8")
    return folder


def problems(folder: Path) -> list[str]:
    with pytest.raises(InventoryError) as err:
        load(folder, [])
    return [str(p) for p in err.value.problems]


# --------------------------------------------------------------------------- go-live


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2027-01-04", dt.datetime(2027, 1, 4, tzinfo=dt.UTC)),  # a date: start of day, UTC
        ("2027-01-04T07:00:00+01:00", dt.datetime(2027, 1, 4, 6, tzinfo=dt.UTC)),
        ("'2027-01-04T07:00Z'", dt.datetime(2027, 1, 4, 7, tzinfo=dt.UTC)),
        ("'2027-07-05T07:00 Europe/London'", dt.datetime(2027, 7, 5, 6, tzinfo=dt.UTC)),
    ],
)
def test_go_live_is_a_moment(tmp_path: Path, written: str, utc: dt.datetime) -> None:
    inv = load(write(tmp_path, PROGRAMME.replace("2027-01-04", written, 1)), [])
    assert inv.go_live.tzinfo is not None and inv.go_live == utc


def test_a_time_without_its_zone_is_refused_with_file_and_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, PROGRAMME.replace("2027-01-04", "2027-01-04 07:00:00", 1)))
    assert len(found) == 1
    assert "programme.yaml:3" in found[0] and "has no time zone" in found[0]
    assert "Europe/London" in found[0]  # says how to write it


def test_go_live_moment_parser() -> None:
    london = go_live_moment("2027-01-04T07:00 Europe/London")
    assert london.tzinfo == zoneinfo.ZoneInfo("Europe/London")
    assert go_live_moment(dt.date(2027, 1, 4)) == dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    for bad in ("2027-13-01", "tomorrow", "2027-01-04T07:00 Mars/Base", "2027-01-04T07:00"):
        with pytest.raises(ValueError, match="2027-01-04"):
            go_live_moment(bad)


def test_sweep_go_live_option_takes_a_moment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path)
    code = main(["sweep", str(folder), "--dry-run", "--go-live", "2027-03-01T07:00 Europe/Paris"])
    assert code == 0, capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", str(folder), "--dry-run", "--go-live", "2027-03-01T07:00"])
    assert exit_.value.code == 2
    assert "has no time zone" in capsys.readouterr().err


def test_programme_password_settings(tmp_path: Path) -> None:
    assert load(MINIMAL, []).programme.passwords.must_change_blocks is False
    assert load(MINIMAL, []).programme.passwords.expiring_before_go_live == "warn"
    text = PROGRAMME.replace(
        "  go_live: 2027-01-04\n",
        "  go_live: 2027-01-04\n  passwords: {must_change_blocks: true, "
        "expiring_before_go_live: fail}\n",
    )
    passwords = load(write(tmp_path, text), []).programme.passwords
    assert passwords.must_change_blocks and passwords.expiring_before_go_live == "fail"
    bad = problems(write(tmp_path, text.replace("expiring_before_go_live: fail", "x: 1")))
    assert "unknown key 'x'" in bad[0]


# --------------------------------------------------------------------------- staff


def test_per_target_credentials_and_employee_number(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        staff_yaml="applications: {payroll: {url: 'https://payroll.shared.test/'}}\n"
        "staff:\n"
        "  - id: N1\n    organisation: north\n    site: north-hq\n    employee_number: E-77\n"
        "    pilot: true\n    credentials: {payroll: file:p.pw}\n",
    )
    (person,) = load(folder, []).staff
    assert person.employee_key == "E-77"
    assert person.credential_for("payroll") == "file:p.pw"
    assert person.credential_for("north-ldap") is None  # nothing to try there


def test_a_credential_for_nothing_is_a_problem(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        staff_yaml="applications: {payroll: {url: 'https://payroll.shared.test/'}}\n"
        "staff:\n"
        "  - id: N1\n    organisation: north\n    site: north-hq\n    pilot: true\n"
        "    credentials: {payrol: file:p.pw}\n",
    )
    (found,) = problems(folder)
    assert "credentials names 'payrol'" in found and "did you mean 'payroll'" in found
    assert "staff.yaml:7" in found


# --------------------------------------------------------------------------- CSV sources

CSV = (
    "Number;Name;Login;Office;Pilot;AdSecret;ExtraApps;NotApps;Type;HRNumber\n"
    "N1;Ann Lee;alee;north-hq;yes;;payroll;;permanent;E-1\n"
    "N2;Bo Ray;bray;north-hq;yes;file:ad-N2.pw;;payroll;;E-2\n"
    "N3;Cy Dow;cdow;north-hq;;;;;temporary;E-3\n"
)
SOURCE = """\
applications: {payroll: {url: 'https://payroll.shared.test/'}}
staff_sources:
  - file: hr.csv
    organisation: north
    delimiter: ";"
    list_separator: "|"
    credential: "file:pilots/{organisation}-{id}.pw"
    credentials: {payroll: "file:pilots/payroll-{username}.pw"}
    columns:
      id: Number
      name: Name
      username: Login
      site: Office
      pilot: Pilot
      credentials.payroll: AdSecret
      needs.applications: ExtraApps
      exempt.applications: NotApps
      attributes.employeeType: Type
      employee_number: HRNumber
"""


def test_csv_rows_carry_everything_inline_staff_can(tmp_path: Path) -> None:
    folder = write(tmp_path, sources_yaml=SOURCE, hr_csv=CSV)
    inv: Inventory = load(folder, [])
    ann, bo, cy = inv.staff
    assert ann.pilot and ann.credential == "file:pilots/north-N1.pw"  # the pattern
    assert ann.credentials == {"payroll": "file:pilots/payroll-alee.pw"}  # pattern
    assert bo.credentials == {"payroll": "file:ad-N2.pw"}  # the column wins
    assert not cy.pilot and cy.credential is None and not cy.credentials  # only pilots
    assert ann.needs.applications == ["payroll"] and bo.exempt.applications == ["payroll"]
    assert ann.attributes == {"employeeType": "permanent"}
    assert cy.employee_key == "E-3"
    assert "payroll" in inv.needs(ann).applications and "payroll" not in inv.needs(bo).applications
    assert inv.where_staff(1).endswith("hr.csv:3")


def test_csv_column_mapping_problems(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        sources_yaml=SOURCE.replace("      pilot: Pilot\n", "      pilots: Pilot\n").replace(
            "{organisation}-{id}", "{org}-{id}"
        ),
        hr_csv=CSV,
    )
    found = problems(folder)
    assert any("unknown field 'pilots'" in p and "did you mean 'pilot'" in p for p in found)
    assert any("unknown placeholder {org}" in p and "sources.yaml:7" in p for p in found)


def test_a_pattern_that_cannot_be_filled_names_the_csv_line(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        sources_yaml=SOURCE.replace("{username}", "{upn}"),
        hr_csv=CSV,
    )
    found = problems(folder)
    assert len(found) == 2  # the two pilot rows: no upn column
    assert "hr.csv:2" in found[0] and "needs upn" in found[0]


def test_a_literal_secret_in_a_credential_column_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, sources_yaml=SOURCE, hr_csv=CSV.replace("file:ad-N2.pw", "hunter2"))
    (found,) = problems(folder)
    assert "hr.csv:3" in found and "must not be written literally" in found
    assert "hunter2" not in found


def test_a_what_if_sweep_says_which_moment_it_judged_against() -> None:
    from readiness.record import SweepMeta, SweepRecord
    from readiness.reports import RenderOptions, renderer

    now = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    own = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    what_if = go_live_moment("2027-07-05T07:00 Europe/London")
    meta = SweepMeta(
        "s", "v", "P", what_if, "--go-live", "inv", "", {}, (), now, now, programme_go_live=own
    )
    record = SweepRecord(meta, {}, {}, (), (), (), {})
    assert SweepRecord.from_json(record.to_json()) == record  # read back unchanged
    text = renderer("console").render(record, RenderOptions())
    assert "judged as of 2027-07-05T07:00+01:00 (in 219 days, --go-live)" in text
    assert (
        "not the programme's go-live: 2027-07-05T07:00+01:00 is 182 days after 2027-01-04" in text
    )
