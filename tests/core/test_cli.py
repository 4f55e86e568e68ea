"""The command line on the minimal inventory: validate, schema, checks, dry run, sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from readiness.cli import main

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"


def test_validate_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOT_N0001", "x")
    assert main(["validate", str(MINIMAL)]) == 0
    assert "valid. 2 organisations, 2 sites, 2 roles, 3 staff" in capsys.readouterr().out


def test_schema_is_one_json_schema_with_family_sections(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert {
        "programme",
        "organisations",
        "sites",
        "roles",
        "staff",
        "staff_sources",
        "vantage_points",
    } <= set(schema["properties"])
    staff = schema["$defs"]["Staff"]
    assert staff["additionalProperties"] is False
    assert "pattern" in json.dumps(staff["properties"]["credential"])


def test_checks_lists_families(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    for name in ("dns", "network", "identity"):
        assert f"\n{name}: " in f"\n{out}"


def test_sweep_minimal_writes_results_json(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "PILOT_N0001": "x"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "readiness.cli",
            "sweep",
            str(MINIMAL),
            "--out",
            str(tmp_path),
            "--state-dir",
            str(tmp_path / "state"),
            "--family",
            "dns",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert "\x1b[" not in proc.stdout  # plain output off a terminal
    assert "Staff in scope: 3" in proc.stdout
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 2
    assert data["exit_code"] == proc.returncode
    assert len(data["staff"]) == 3
    rows = (tmp_path / "staff.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("subject,organisation,site,id,name,username,mail,verdict")
    assert len(rows) == 4


def test_unknown_filter_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(MINIMAL), "--org", "nroth", "--dry-run"]) == 2
    assert "did you mean 'north'?" in capsys.readouterr().err


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, readiness.cli as c\n"
        "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'ldap3', 'paramiko', 'dns', 'pydantic', 'rich', 'yaml'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_workers_and_server_limit_must_be_positive(value: str) -> None:
    for option in ("--workers", "--server-limit"):
        with pytest.raises(SystemExit) as caught:
            main(["sweep", str(MINIMAL), option, value])
        assert caught.value.code == 2
