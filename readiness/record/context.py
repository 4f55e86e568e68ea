"""What a report may show beyond one sweep record, as plain data.

History (trend, blocker age, what changed since the previous sweep) and the gate's
verdict are computed above the record (``readiness.history``, ``readiness.gate``) and
handed to renderers as these values, so renderers still import nothing but the record
layer. Every field is optional: a report of a lone ``results.json`` has none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "BlockerAge",
    "Changes",
    "GateOutcome",
    "GateReason",
    "ReportContext",
    "TrendPoint",
    "WaiverUse",
]


@dataclass(frozen=True)
class TrendPoint:
    """One stored sweep on the way to go-live: % of staff ready per organisation."""

    seq: int
    sweep_id: str
    finished_at: dt.datetime
    ready_pct: Mapping[str, float]  # organisation id -> % ready (0..100)
    partial: bool = False


@dataclass(frozen=True)
class BlockerAge:
    """Since when a root cause has been blocking: the first sweep of its current run."""

    root_cause: str
    first_seq: int
    first_sweep: str
    first_seen: dt.datetime
    sweeps: int  # sweeps in a row it has been seen in (this one included)

    def days_open(self, now: dt.datetime) -> int:
        return max(0, (now - self.first_seen).days)


@dataclass(frozen=True)
class Changes:
    """What changed between two sweeps (result ids and person keys, sorted)."""

    before: str  # sweep id
    after: str
    before_seq: int
    after_seq: int
    new_failures: tuple[str, ...] = ()  # fail/error now, not before (regressions included)
    regressions: tuple[str, ...] = ()  # passed (or warned) before, fail now
    fixed: tuple[str, ...] = ()  # fail/error before, pass/warn now
    still_failing: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()  # fail/error before, not checked now
    new_blockers: tuple[str, ...] = ()  # root causes
    fixed_blockers: tuple[str, ...] = ()
    became_ready: tuple[str, ...] = ()
    became_not_ready: tuple[str, ...] = ()
    same_inventory: bool = True  # both sweeps read the same inventory fingerprint

    @property
    def anything(self) -> bool:
        return bool(
            self.new_failures
            or self.fixed
            or self.new_blockers
            or self.fixed_blockers
            or self.became_ready
            or self.became_not_ready
        )


@dataclass(frozen=True)
class GateReason:
    """One rule of the gate policy and how it went."""

    rule: str  # e.g. "critical identity.account-usable", "threshold site>=98%"
    outcome: str  # "pass", "fail" (NO-GO) or "waived" (CONDITIONAL GO)
    message: str


@dataclass(frozen=True)
class WaiverUse:
    """A waiver of the policy and what it did in this sweep."""

    pattern: str
    owner: str
    reason: str
    expires: dt.date
    state: str  # "applied", "expired", "stale" (matched nothing)
    results: tuple[str, ...] = ()  # result ids it matched


@dataclass(frozen=True)
class GateOutcome:
    verdict: str  # "GO", "CONDITIONAL GO", "NO-GO"
    policy: str  # the policy file, as given
    reasons: tuple[GateReason, ...] = ()
    waivers: tuple[WaiverUse, ...] = ()


@dataclass(frozen=True)
class ReportContext:
    trend: tuple[TrendPoint, ...] = ()
    ages: Mapping[str, BlockerAge] = field(default_factory=dict)  # root cause -> age
    changes: Changes | None = None
    gate: GateOutcome | None = None
    seq: int = 0  # the sweep's number in history (0: not stored)
