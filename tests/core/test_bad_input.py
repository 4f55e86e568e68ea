"""Every kind of bad input: a clear message with file:line, exit code 2, no traceback.

One invalid inventory per folder under tests/data/bad/, with the exact text expected.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from readiness.cli import main

BAD = Path(__file__).parent.parent / "data" / "bad"

CASES = {
    "malformed": ("inventory.yaml:8", "malformed YAML: did not find expected '-' indicator"),
    "wrong_type": ("inventory.yaml:9", "staff N1 (inventory.yaml:6): pilot must be true or false"),
    "unknown_key": ("inventory.yaml:9", "unknown key 'usernme' in staff N1 (inventory.yaml:6)"),
    "bad_date": (
        "inventory.yaml:3",
        "programme: go_live: '2027-13-04' is not a date, YYYY-MM-DD (the start of that day, "
        "UTC), e.g. 2027-01-04, or a date-time with a time zone",
    ),
    "duplicate_staff": (
        "inventory.yaml:7",
        "duplicate staff id 'N1' in organisation 'north' (also at",
    ),
    "dangling": ("inventory.yaml:6", "role 'clerc' does not exist"),
    "literal_secret": (
        "inventory.yaml:10",
        "staff N1 (inventory.yaml:6): credential: this field holds a secret, so it must not "
        "be written literally",
    ),
    "not_utf8": ("inventory.yaml:6", "not UTF-8 text (byte 0xe9"),
    "python_tag": (
        "inventory.yaml:6",
        "YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed",
    ),
    "empty": ("", "the inventory is empty"),
    "csv_missing_column": ("hr.csv:1", "column 'EmployeeID' (mapped to id at"),
    "defined_twice": ("b.yaml:2", "site 'north-hq' is defined twice (also at"),
    "csv_bad_delimiter": (
        "inventory.yaml:8",
        "staff source hr.csv (inventory.yaml:6): delimiter must be at least 1 character(s) long",
    ),
}
HINTS = {
    "unknown_key": "did you mean 'username'?",
    "dangling": "did you mean 'clerk'?",
    "csv_missing_column": "did you mean 'EmployeeId'?",
    "literal_secret": "e.g. file:",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    where, message = CASES[case]
    code = main(["validate", str(BAD / case)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    line = next((ln for ln in err.splitlines() if message in ln), None)
    assert line is not None, err
    prefix = f"{BAD / case / where}:" if where else f"{BAD / case}:"
    assert line.startswith(prefix), line
    if case in HINTS:
        assert f"hint: {HINTS[case]}" in err


def test_literal_secret_is_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    main(["validate", str(BAD / "literal_secret")])
    captured = capsys.readouterr()
    assert "Winter2026!" not in captured.err + captured.out


def test_python_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = Path("/tmp/readiness-pwned")
    marker.unlink(missing_ok=True)
    main(["validate", str(BAD / "python_tag")])
    assert not marker.exists()


def test_missing_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(BAD / "does-not-exist")]) == 2
    assert "does-not-exist: no such file or folder" in capsys.readouterr().err


def test_console_script_exit_code_and_no_traceback() -> None:
    argv = [sys.executable, "-m", "readiness.cli", "validate", str(BAD / "malformed")]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "malformed YAML" in proc.stderr


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["sweep", "--no-such-option"])
    assert caught.value.code == 2


def test_a_csv_row_the_csv_module_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "inventory.yaml").write_text(
        "programme: {name: x, go_live: 2027-01-04}\n"
        "organisations: {north: {name: N}}\n"
        "sites: {hq: {organisation: north}}\n"
        "staff_sources:\n  - {file: hr.csv, organisation: north, columns: {id: Id, site: S}}\n",
        encoding="utf-8",
    )
    (tmp_path / "hr.csv").write_text('Id,S\nN1,hq\nN2,"' + "x" * 200_000 + '"\n', encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'hr.csv'}:3: unreadable CSV row: field larger than field limit" in err


def test_type_errors_are_in_the_inventorys_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What each field must be, read from its type; the object named as written."""
    (tmp_path / "inventory.yaml").write_text(
        "programme: {name: Bad, go_live: soon}\n"  # 1
        "organisations: {north: {name: North, mail_domains: {old: 3}}}\n"  # 2
        'sites: {north-hq: {organisation: north}, "north hq": {organisation: north}}\n'  # 3
        "vantage_points: {jump: {kind: sssh, port: 99999}}\n"  # 4
        "roles: {clerk: {groups: [g], extension: maybe}}\n"  # 5
        "staff_sources:\n"  # 6
        "  - file: hr.csv\n"  # 7
        "    organisation: north\n"  # 8
        "    columns: {idd: Id, site: Site}\n"  # 9
        "staff:\n"  # 10
        "  - id: N1\n"  # 11
        "    organisation: north\n"  # 12
        "    site: north-hq\n"  # 13
        "    roles: clerk\n"  # 14
        "  - organisation: north\n"  # 15
        "    site: north-hq\n",  # 16
        encoding="utf-8",
    )
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    at = tmp_path / "inventory.yaml"
    for line, message in [
        (1, "programme: go_live: 'soon' is not a date, YYYY-MM-DD"),
        (2, "organisations.north: mail_domains.old must be a list"),
        (3, "sites.north hq must be an id: letters, digits, '.', '_', '@' or '-'"),
        (4, "vantage_points.jump: kind must be one of 'local' or 'ssh'"),
        (4, "vantage_points.jump: port must be at most 65535"),
        (5, "roles.clerk: extension must be true or false"),
        (
            9,
            "staff source hr.csv (inventory.yaml:7): columns: the key 'idd': columns maps "
            "unknown field 'idd' (did you mean 'id'?)",
        ),
        (14, "staff N1 (inventory.yaml:11): roles must be a list"),
        (15, "missing required key 'id' in the staff member at inventory.yaml:15"),
    ]:
        assert f"{at}:{line}: {message}" in err, message
    assert "Input should be" not in err  # the validation library's words
    assert err.count("go_live") == 1  # one problem, not one per member of the union
