"""Third-party check families arrive through the `readiness.families` entry-point group,
the same door as the built-ins; a broken or clashing plug-in is named in a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = """
from readiness.family import CheckFamily

class Printers(CheckFamily):
    name = "{name}"
    sections = {sections}
    description = "Print queues accept jobs (a third-party family)"
    reads = ("printers.*.queue",)

    def plan(self, ctx):
        return []

    def run(self, probes, ctx):
        return []

family = {value}
"""


def _install(
    tmp_path: Path, name: str, value: str = "Printers()", sections: str = "{}"
) -> dict[str, str]:
    source = PLUGIN.format(name=name, value=value, sections=sections)
    (tmp_path / "acme_printers.py").write_text(source, encoding="utf-8")
    dist = tmp_path / "acme_printers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-printers\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[readiness.families]\nprinters = acme_printers:family\n", encoding="utf-8"
    )
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def _checks(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "readiness.cli", "checks"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_entry_point_family_is_listed_beside_the_built_ins(tmp_path: Path) -> None:
    proc = _checks(_install(tmp_path, "printers"))
    assert proc.returncode == 0, proc.stderr
    assert "printers: Print queues accept jobs (a third-party family)" in proc.stdout
    assert "reads: printers.*.queue" in proc.stdout
    assert "\nidentity: " in proc.stdout


def test_a_clashing_name_is_a_clear_error(tmp_path: Path) -> None:
    proc = _checks(_install(tmp_path, "dns"))
    assert proc.returncode == 2
    assert "two check families are named 'dns'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_plug_in_that_is_not_a_family_is_named(tmp_path: Path) -> None:
    proc = _checks(_install(tmp_path, "printers", value="object()"))
    assert proc.returncode == 2
    assert "entry point printers (acme_printers:family)" in proc.stderr


def test_a_section_claimed_twice_is_a_clear_error(tmp_path: Path) -> None:
    sections = "{'directories': __import__('readiness.inventory.models').inventory.models.Role}"
    proc = _checks(_install(tmp_path, "printers", sections=sections))
    assert proc.returncode == 2
    assert "section 'directories' is claimed by two check families" in proc.stderr
