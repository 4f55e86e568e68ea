"""The example pipelines in docs/ci run here, line for line, against the lab: the
shards' sweep lines in one folder each (a matrix job), their outputs gathered as the
CI system's artifacts would be, then the gate job's lines. The gate says NO-GO on the
lab's seeded faults (exit 6: the job fails, as it should), the report and JUnit are
still written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from readiness_lab.pytest_fixtures import LabHandle

pytestmark = [pytest.mark.integration, pytest.mark.lab]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ci"
SCHEMA = ROOT / "tests" / "reports" / "junit-10.xsd"
SHARDS = 3


def _env(lab: LabHandle, state: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "NO_COLOR": "1",
        "INVENTORY": str(lab.inventory),
        "SECRETS_DIR": str(lab.secrets_dir),
        "POLICY": str(DOCS / "gate-policy.yaml"),
        "STATE_DIR": str(state),
        **extra,
    }


def _run(line: str, cwd: Path, env: dict[str, str]) -> int:
    if line.startswith("pip install"):
        return 0  # installed already (the test runs from the project's own venv)
    proc = subprocess.run(["bash", "-e", "-c", line], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode:
        print(f"$ {line}\n{proc.stdout}{proc.stderr}")  # shown by pytest when the test fails
    return proc.returncode


def _gather(shard_dirs: list[Path], into: Path) -> None:
    """What download-artifact / GitLab's artifacts do: each shard's folder in place."""
    into.mkdir(parents=True, exist_ok=True)
    for k, folder in enumerate(shard_dirs, 1):
        shutil.copytree(folder / f"shard-{k}", into / f"shard-{k}")


def _outputs(gate: Path) -> None:
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(gate / "junit.xml"))
    assert "Day-1 readiness" in (gate / "report.html").read_text("utf-8")
    assert "NO-GO" in (gate / "report.html").read_text("utf-8")
    assert (gate / "merged" / "results.json").exists()


def test_github_actions_pipeline(lab: LabHandle, tmp_path: Path) -> None:
    flow: dict[str, Any] = yaml.safe_load((DOCS / "github-actions.yml").read_text("utf-8"))
    jobs = flow["jobs"]
    assert jobs["sweep"]["strategy"]["matrix"]["shard"] == list(range(1, SHARDS + 1))
    state = tmp_path / "history"
    shard_dirs = []
    for k in range(1, SHARDS + 1):
        work = tmp_path / f"runner-{k}"
        work.mkdir()
        env = _env(lab, state, SHARD=str(k), SHARDS=str(flow["env"]["SHARDS"]))
        for step in jobs["sweep"]["steps"]:
            if "run" in step:
                assert _run(step["run"], work, env) == 0, step["run"]
        shard_dirs.append(work)
    gate = tmp_path / "gate"
    _gather(shard_dirs, gate)
    failed, codes = False, []
    for step in jobs["gate"]["steps"]:
        if "run" not in step or (failed and step.get("if") != "always()"):
            continue
        code = _run(step["run"], gate, _env(lab, state))
        codes.append(code)
        failed = failed or code != 0
    assert codes == [0, 6, 0, 0]  # install, merge + gate: NO-GO, report, diff
    _outputs(gate)


def test_gitlab_ci_pipeline(lab: LabHandle, tmp_path: Path) -> None:
    flow: dict[str, Any] = yaml.safe_load((DOCS / "gitlab-ci.yml").read_text("utf-8"))
    sweep, gate_job = flow["sweep"], flow["gate"]
    state = tmp_path / "history"
    shard_dirs = []
    for k in range(1, sweep["parallel"] + 1):
        work = tmp_path / f"runner-{k}"
        work.mkdir()
        env = _env(lab, state, CI_NODE_INDEX=str(k), CI_NODE_TOTAL=str(sweep["parallel"]))
        for line in sweep["script"]:
            assert _run(line, work, env) == 0, line
        shard_dirs.append(work)
    gate = tmp_path / "gate"
    _gather(shard_dirs, gate)
    codes = [_run(line, gate, _env(lab, state)) for line in gate_job["script"]]
    assert codes == [0, 6]
    assert [_run(line, gate, _env(lab, state)) for line in gate_job["after_script"]] == [0]
    _outputs(gate)
