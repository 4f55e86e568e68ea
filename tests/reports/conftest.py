"""Records made by the real plan and roll-up of the minimal and example inventories,
with synthetic results (tests/reports/synthetic.py): no server is contacted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from readiness.record import SweepRecord
from readiness_lab.pytest_fixtures import lab
from tests.reports.synthetic import make_record

__all__ = ["lab"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example"
MINIMAL = ROOT / "tests" / "data" / "minimal"
DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def example_record() -> SweepRecord:
    return make_record(EXAMPLE, fail_rate=0.01, seed=3, sweep_id="example-1")


def at(day: int) -> dt.datetime:
    return START + day * DAY
