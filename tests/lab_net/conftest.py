"""Fixtures of the lab-net tests. Each test module starts its own component(s) in its
own state folder on a test layout (see tools.py) and stops them by PID."""

from __future__ import annotations

import pytest

from readiness_lab.ca import LabCA


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("lab-net-ca"))
