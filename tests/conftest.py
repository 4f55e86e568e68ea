"""Shared fixtures. Real-server fixtures live with the tests that use them (and the lab's
in readiness_lab.pytest_fixtures); this file stays light so unit tests start fast."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA
