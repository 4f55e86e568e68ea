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


@pytest.fixture
def pilot_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The minimal inventory's pilot reads env:PILOT_N0001 (the pre-flight checks it)."""
    monkeypatch.setenv("PILOT_N0001", "x")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--staff", "N99999"], "--staff 'N99999' matches no staff member"),
        (["--staff", "anibhrian"], "(did you mean 'anibhriain'?)"),
        (
            ["--tag", "migratd"],
            "--tag 'migratd' matches no staff member (did you mean 'migrated'?)",
        ),
        (["--role", "clerc"], "--role 'clerc' matches no staff member: there is no such role"),
        (["--site", "north-hq", "--tag", "migrated"], "select no staff member together"),
        (["--family", "idnetity"], "(did you mean 'identity'?)"),
    ],
)
def test_a_filter_that_matches_nobody_is_a_usage_error(
    argv: list[str], message: str, pilot_secret: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CI gate must never go green on "Staff in scope: 0"."""
    assert main(["sweep", str(MINIMAL), "--dry-run", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Plan:" not in captured.out


@pytest.mark.parametrize(
    "who", ["N0001", "north/N0001", "anibhriain", "AOIFE.NIBHRIAIN@shared.test", "zlukasz"]
)
def test_staff_is_named_by_id_org_id_username_or_mail(
    who: str, pilot_secret: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(MINIMAL), "--dry-run", "--staff", who]) == 0
    assert " for 1 staff," in capsys.readouterr().out


def test_an_unknown_option_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["sweep", str(MINIMAL), "--familly", "dns"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "usage: readiness sweep" in err
    assert "unrecognised option --familly (did you mean --family?)" in err
    with pytest.raises(SystemExit):
        main(["validate", str(MINIMAL), "--secret-dir=x"])
    assert "(did you mean --secrets-dir?)" in capsys.readouterr().err


def test_an_out_folder_that_cannot_be_written_is_refused_before_the_sweep(
    tmp_path: Path, pilot_secret: None, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a folder")
    for out, message in (
        (a_file, "this is a file, not a folder"),
        (a_file / "reports", "cannot create this folder"),
    ):
        code = main(["sweep", str(MINIMAL), "--out", str(out), "--state-dir", str(tmp_path)])
        assert code == 2
        err = capsys.readouterr().err
        assert f"readiness: --out {out}: {message}" in err
        assert "internal error" not in err
    assert not (tmp_path / "ledger.sqlite").exists()  # nothing ran


def _closed_pipe_run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the command line with standard output a pipe nobody reads any more (as in
    ``readiness ... | head`` after head has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "readiness.cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
            check=False,
        )
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    code, err = _closed_pipe_run("checks")
    assert (code, err) == (0, "")
    code, err = _closed_pipe_run(
        "sweep",
        str(MINIMAL),
        "--family",
        "dns",
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(tmp_path / "state"),
        env={"PILOT_N0001": "x"},
    )
    assert err == ""
    # The sweep still finished its work: its own exit code, and the reports written.
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert code == data["exit_code"]
    assert (tmp_path / "out" / "staff.csv").exists()
