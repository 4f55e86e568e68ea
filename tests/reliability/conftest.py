"""The session's lab (``lab``, for tests that only read it), and a small lab of its own
(``own_lab``, 10 staff per organisation) for the fault tests: they stop, freeze and
replace its servers, so they never share the session's lab with tests that expect it
intact. Started once per module, stopped by PID at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness_lab.pytest_fixtures import LabHandle, lab, start_lab, stop_lab
from readiness_lab.up import UpOptions


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    state = tmp_path_factory.mktemp("reliability-lab")
    handle = start_lab(state, UpOptions(staff=10, seed=1, state=state, slot=None))
    try:
        yield handle
    finally:
        stop_lab(handle)


@pytest.fixture
def readiness_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a sweep subprocess: a private temporary folder (so any file
    left behind is seen) and a marker variable its children inherit (so any process left
    behind is found in /proc)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp), "RELIABILITY_MARK": str(tmp_path)}


__all__ = ["lab", "own_lab", "readiness_env"]
