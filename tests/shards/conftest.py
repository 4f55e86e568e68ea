"""The lab fixture (session-scoped, shared process-wide: see readiness_lab.pytest_fixtures)."""

from readiness_lab.pytest_fixtures import lab

__all__ = ["lab"]
