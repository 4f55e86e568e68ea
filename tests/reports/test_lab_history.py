"""The whole flow against the real lab: sweep, fix one fault, sweep again; history,
diff, the reports of the second sweep (a trend and the fix in them); no secret of the
lab's in any report, in results.json or in history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from readiness.history import History
from readiness.results import ExitCode
from readiness_lab.fix import set_flow_blocked
from readiness_lab.pytest_fixtures import LabHandle

pytestmark = [pytest.mark.integration, pytest.mark.lab]

FORMATS = ("html", "md", "csv", "blockers-csv", "json", "junit")


def readiness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "readiness.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def _secrets(folder: Path) -> list[str]:
    """Every secret value the lab wrote (passwords, keys: each line of each file)."""
    values = []
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text("utf-8", errors="replace")
            values += [line.strip() for line in text.splitlines() if len(line.strip()) >= 8]
            values.append(text.strip())
    return [v for v in values if v and not v.startswith("-----")]


def test_sweep_fix_sweep_history_diff_and_reports(lab: LabHandle, tmp_path: Path) -> None:
    state = tmp_path / "state"
    sweep = ("sweep", str(lab.inventory), "--secrets-dir", str(lab.secrets_dir),
             "--state-dir", str(state), "--no-progress")  # fmt: skip
    first = readiness(*sweep, "--out", str(tmp_path / "one"))
    assert first.returncode == ExitCode.FAILED, first.stderr
    try:
        assert set_flow_blocked(lab.state, False)  # the network team opens the flow
        second = readiness(*sweep, "--out", str(tmp_path / "two"))
    finally:
        set_flow_blocked(lab.state, True)  # the session's lab as the other tests expect it
    assert "Stored as sweep #2" in second.stdout
    diff = readiness("diff", "--state-dir", str(state))
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "fixed blockers (1):" in diff.stdout and "network.tcp-connect" in diff.stdout
    assert "regressions 0," in diff.stdout
    history = readiness("history", "--state-dir", str(state))
    assert [line.split()[0] for line in history.stdout.splitlines()[1:]] == ["2", "1"]
    written = {}
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        done = readiness("report", "--format", fmt, "--out", str(out), "--state-dir", str(state))
        assert done.returncode == 0, done.stderr
        written[fmt] = out.read_text("utf-8")
    html = written["html"]
    assert "Since sweep #1" in html and "tcp|" in html
    assert html.count("<circle") == 4  # two sweeps, two organisations
    with History.of(state) as h:
        stored = [json.dumps(h.record(seq).to_json()) for seq in (1, 2)]
    texts = {**written, "history 1": stored[0], "history 2": stored[1]}
    for name in ("one", "two"):
        for path in (tmp_path / name).iterdir():
            texts[str(path)] = path.read_text("utf-8")
    texts["sweep output"] = first.stdout + first.stderr + second.stdout + second.stderr
    planted = _secrets(lab.secrets_dir)
    assert len(planted) >= 5
    for where, text in texts.items():
        leaked = [s for s in planted if s in text]
        assert not leaked, f"a secret of the lab appears in {where}"
