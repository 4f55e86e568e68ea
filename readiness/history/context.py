"""From history to what a report shows beyond its own sweep: the trend towards go-live,
each blocker's age, and the changes since the previous sweep (plain data of
:mod:`readiness.record.context`, so renderers never read the history themselves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from readiness.history.diff import compare
from readiness.history.store import History, StoredSweep
from readiness.record.context import BlockerAge, Changes, ReportContext, TrendPoint

__all__ = ["ages", "changes", "report_context", "trend"]

TREND_POINTS = 120  # the newest sweeps shown in the trend chart


def trend(history: History, sweep: StoredSweep) -> tuple[TrendPoint, ...]:
    """Complete, unfiltered sweeps of the same programme up to ``sweep`` (always
    included), oldest first: a filtered sweep's % ready is not comparable."""
    points = []
    for s in history.sweeps(programme=sweep.programme):
        if s.seq > sweep.seq or (s.seq != sweep.seq and (s.partial or s.filtered)):
            continue
        ready = {org: pct for org in s.organisations if (pct := s.ready_pct(org)) is not None}
        points.append(TrendPoint(s.seq, s.id, s.finished_at, ready, bool(s.partial)))
        if len(points) == TREND_POINTS:
            break
    return tuple(reversed(points))


def ages(history: History, sweep: StoredSweep, root_causes: list[str]) -> dict[str, BlockerAge]:
    """For each root cause blocking in ``sweep``: the first sweep of its current run.
    A run is broken only by a complete sweep that ran the blocker's family and did not
    see it; a partial sweep or one that did not run that family says nothing."""
    seen: dict[int, dict[str, str]] = {}
    for seq, cause, family in history.blocker_rows(root_causes, sweep.seq):
        seen.setdefault(seq, {})[cause] = family
    earlier = [s for s in history.sweeps(programme=sweep.programme) if s.seq <= sweep.seq]
    found: dict[str, BlockerAge] = {}
    for cause in root_causes:
        family = seen.get(sweep.seq, {}).get(cause, "")
        first, count = sweep, 0
        for s in earlier:  # newest first
            if cause in seen.get(s.seq, {}):
                first, count = s, count + 1
            elif not s.partial and (not family or family in s.families):
                break
        found[cause] = BlockerAge(cause, first.seq, first.id, first.finished_at, max(count, 1))
    return found


def changes(
    history: History,
    before: StoredSweep,
    after: StoredSweep,
    statuses: tuple[Mapping[str, Sequence[str]], Mapping[str, Sequence[str]]] | None = None,
) -> Changes:
    """What changed from ``before`` to ``after`` (``statuses``: their maps, if read)."""
    old, new = statuses or (history.statuses(before.seq), history.statuses(after.seq))
    return compare(
        old,
        new,
        history.verdicts(before.seq),
        history.verdicts(after.seq),
        ids=(before.id, after.id),
        seqs=(before.seq, after.seq),
        same_inventory=before.fingerprint == after.fingerprint,
    )


def report_context(history: History, sweep: StoredSweep, root_causes: list[str]) -> ReportContext:
    """Everything history adds to the report of ``sweep``."""
    previous = history.previous(sweep)
    return ReportContext(
        trend=trend(history, sweep),
        ages=ages(history, sweep, root_causes),
        changes=changes(history, previous, sweep) if previous else None,
        seq=sweep.seq,
    )
