"""Shards of a real lab sweep, merged, equal the unsharded sweep: the same result ids,
statuses and verdicts; the merged sweep is stored, gated and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from readiness_lab.pytest_fixtures import LabHandle
from tests.reports.test_lab_history import readiness

pytestmark = [pytest.mark.integration, pytest.mark.lab]


def _read(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "results.json").read_text("utf-8"))
    return data


def test_shards_merged_equal_the_whole_sweep(lab: LabHandle, tmp_path: Path) -> None:
    common = ("--secrets-dir", str(lab.secrets_dir), "--no-progress")
    whole = readiness(
        "sweep",
        str(lab.inventory),
        *common,
        "--state-dir",
        str(tmp_path / "w"),
        "--out",
        str(tmp_path / "whole"),
    )
    assert whole.returncode == 1, whole.stderr
    for k in (1, 2, 3):
        done = readiness(
            "sweep",
            str(lab.inventory),
            *common,
            "--shard",
            f"{k}/3",
            "--state-dir",
            str(tmp_path / f"s{k}"),
            "--out",
            str(tmp_path / f"s{k}"),
        )
        assert done.returncode in (0, 1, 3), done.stderr
        assert "not stored in history" in done.stdout
    policy = tmp_path / "gate.yaml"
    policy.write_text("critical: [identity.account-exists]\n", "utf-8")
    merged = readiness(
        "merge",
        str(lab.inventory),
        *(str(tmp_path / f"s{k}") for k in (1, 2, 3)),
        "--state-dir",
        str(tmp_path / "m"),
        "--out",
        str(tmp_path / "merged"),
        "--gate",
        str(policy),
        "--junit",
        str(tmp_path / "junit.xml"),
    )
    assert merged.returncode == 6, merged.stdout + merged.stderr  # the lab's faults: NO-GO
    assert "Stored as sweep #1" in merged.stdout and "Gate: NO-GO" in merged.stdout
    a, m = _read(tmp_path / "whole"), _read(tmp_path / "merged")

    def statuses(data: dict[str, object]) -> dict[str, str]:
        return {r["id"]: r["status"] for r in data["results"]}  # type: ignore[attr-defined]

    def verdicts(data: dict[str, object]) -> dict[str, str]:
        return {p["subject"]: p["verdict"] for p in data["staff"]}  # type: ignore[attr-defined]

    assert statuses(m) == statuses(a)
    assert verdicts(m) == verdicts(a)
    sizes = [len(_read(tmp_path / f"s{k}")["results"]) for k in (1, 2, 3)]  # type: ignore[arg-type]
    assert sum(sizes) == len(statuses(a)) and all(sizes)
    report = readiness(
        "report", "--state-dir", str(tmp_path / "m"), "--out", str(tmp_path / "r.html")
    )
    assert report.returncode == 0
