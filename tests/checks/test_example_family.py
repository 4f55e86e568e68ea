"""The toy family of docs/writing-a-family.md (docs/examples/greeting.py), installed as a
third-party plug-in through the entry-point door and swept by the command line against
a real OpenSSH server: the walkthrough works as written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "greeting.py"


def test_the_toy_family_plugs_in_and_sweeps(sshd: Any, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    shutil.copy(EXAMPLE, plugin / "greeting.py")
    dist = plugin / "greeting-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[readiness.families]\ngreeting = greeting:family\n")
    env = {**os.environ, "PYTHONPATH": str(plugin), "NO_COLOR": "1"}
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "inventory.yaml").write_text(
        f"""
programme: {{name: Toy, go_live: 2027-01-04}}
organisations: {{north: {{name: North}}}}
sites: {{hq: {{organisation: north}}}}
roles: {{admin: {{network_resources: [ssh, wrong]}}}}
network_resources:
  ssh: {{host: {sshd.host}, port: {sshd.port}, greeting: {{expect: SSH-2.0}}}}
  wrong: {{host: {sshd.host}, port: {sshd.port}, owner: Infra, greeting: {{expect: "220 "}}}}
staff:
  - {{id: N1, organisation: north, site: hq, roles: [admin]}}
""",
        encoding="utf-8",
    )

    def readiness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "readiness.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    listed = readiness("checks")
    assert "greeting: Network resources greet" in listed.stdout, listed.stderr
    assert "greeting.first-line" in listed.stdout
    schema = json.loads(readiness("schema").stdout)
    assert "Greeting" in schema["$defs"]
    swept = readiness(
        "sweep",
        str(inventory),
        "--family",
        "greeting",
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert swept.returncode == 1, swept.stdout + swept.stderr
    results = {
        r["subject"]: r
        for r in json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    }
    ok, wrong = results["network_resources:ssh"], results["network_resources:wrong"]
    assert ok["status"] == "pass" and ok["observed"].startswith("SSH-2.0")
    assert wrong["status"] == "fail" and wrong["owner"] == "Infra"
    bad = (inventory / "inventory.yaml").read_text().replace("expect: SSH-2.0", "expct: x")
    (inventory / "inventory.yaml").write_text(bad)
    refused = readiness("validate", str(inventory))
    assert refused.returncode == 2 and "did you mean 'expect'?" in refused.stderr
