"""Fixtures of the lab-net tests. Each test module starts its own component(s) in its
own state folder on a slot of its own (see tools.py) and stops them by PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.slot import Slot


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("lab-net-ca"))


@pytest.fixture(scope="module")
def net_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slot]:
    """The test module's slot: addresses and namespace names no one else uses meanwhile."""
    with claimed(tmp_path_factory.mktemp("slot")) as slot:
        yield slot
