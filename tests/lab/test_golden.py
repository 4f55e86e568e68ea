"""The demo sweep finds exactly what it found before: every result's id, status and root
cause, and every person's verdict, against ``golden/demo-findings.tsv`` (recorded before
the core was reshaped). The sweep's results.json also reads back into the same record."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from readiness.record import SweepRecord
from readiness_lab.estate import DEFAULT_SEED, DEFAULT_STAFF
from readiness_lab.pytest_fixtures import LabHandle
from tests.style import assert_sentence

from .golden import findings, golden

pytestmark = [pytest.mark.integration, pytest.mark.lab]

READINESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "readiness"


def test_the_demo_sweep_finds_what_it_found_before(lab: LabHandle, tmp_path: Path) -> None:
    if (lab.options.staff, lab.options.seed) != (DEFAULT_STAFF, DEFAULT_SEED):
        pytest.fail(
            f"the golden findings are those of the default lab ({DEFAULT_STAFF} staff, "
            f"seed {DEFAULT_SEED}); this lab has {lab.options.staff}, "
            f"seed {lab.options.seed}"
        )
    out = subprocess.run(
        [
            str(READINESS),
            "sweep",
            str(lab.inventory),
            "--secrets-dir",
            str(lab.secrets_dir),
            "--state-dir",
            str(tmp_path / "state"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (1, 3), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    n = lab.slot.number  # a lab on another slot: its addresses read as the default slot's
    found = findings(data, {f"127.{n}.": "127.77.", f"10.{n}.": "10.77."})
    expected = golden()
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    assert not missing and not extra, (
        f"{len(missing)} finding(s) no longer made, {len(extra)} new:\n- "
        + "\n- ".join(missing[:15])
        + "\n+ "
        + "\n+ ".join(extra[:15])
    )
    record = SweepRecord.from_json(data)
    assert record.to_json() == data
    for result in record.results:  # every hint and impact in the one style
        assert_sentence(result.hint)
        assert_sentence(result.impact)
