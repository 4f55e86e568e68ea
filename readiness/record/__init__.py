"""The sweep record (:mod:`.model`: what renderers, history, diffs and gates read) and
the roll-up that builds it from results and the inventory (:mod:`.rollup`)."""

from __future__ import annotations

from readiness.record.model import (
    NOT_VERIFIED,
    Blocker,
    Coverage,
    NeedOutcome,
    PersonRecord,
    SiteInfo,
    SweepMeta,
    SweepRecord,
)

__all__ = [
    "NOT_VERIFIED",
    "Blocker",
    "Coverage",
    "NeedOutcome",
    "PersonRecord",
    "SiteInfo",
    "SweepMeta",
    "SweepRecord",
]
