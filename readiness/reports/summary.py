"""The figures leadership reports share (HTML and Markdown), computed from the record.

Per organisation side by side (same figures, same order: neither partner first by
design, organisations sorted by id), the red/amber/green grid of service x
organisation x site, per-owner KPIs, days to go-live. Pure functions of the record
and of the plain history data a report may carry.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from readiness.record.context import BlockerAge
from readiness.record.model import NOT_VERIFIED, SweepRecord

__all__ = [
    "AMBER",
    "GREEN",
    "SERVICES",
    "Cell",
    "OrgHeadline",
    "OwnerRow",
    "days_to_go_live",
    "grid",
    "headlines",
    "owners",
    "person_owners",
]

# Service (as leadership names it) -> the kind of need it serves.
SERVICES: tuple[tuple[str, str], ...] = (
    ("identity", "account"),
    ("mail", "mailbox"),
    ("applications", "application"),
    ("telephony", "phone"),
    ("network", "network_resource"),
)
GREEN = 98.0  # % ready at or above which a cell is green
AMBER = 90.0  # ... amber; below: red
_RANK = {"not ready": 3, "unknown": 2, NOT_VERIFIED: 1, "ready": 0}


@dataclass(frozen=True)
class Cell:
    """People of one place who need one service, by the outcome of those needs."""

    counts: Mapping[str, int]  # "ready", "not ready", "unknown", "not verified"

    @property
    def needed(self) -> int:
        return sum(self.counts.values())

    @property
    def pct(self) -> float | None:
        return 100.0 * self.counts.get("ready", 0) / self.needed if self.needed else None

    @property
    def rag(self) -> str:
        """green / amber / red, ``grey`` when no one needs it or nothing verified it."""
        pct = self.pct
        if pct is None or self.counts.get(NOT_VERIFIED, 0) == self.needed:
            return "grey"
        return "green" if pct >= GREEN else "amber" if pct >= AMBER else "red"

    @property
    def label(self) -> str:
        pct = self.pct
        if pct is None:
            return "-"
        if self.rag == "grey":
            return "not verified"
        return f"{pct:.1f}%"


@dataclass(frozen=True)
class OrgHeadline:
    id: str
    name: str
    staff: int
    ready: int
    not_ready: int
    unknown: int

    @property
    def pct(self) -> float:
        return 100.0 * self.ready / self.staff if self.staff else 0.0


@dataclass(frozen=True)
class OwnerRow:
    owner: str
    blockers: int
    people: int  # distinct people stopped by at least one of the owner's blockers
    oldest_days: int | None  # the oldest open blocker's age (None: no history)


def days_to_go_live(record: SweepRecord) -> int:
    return (record.meta.go_live.date() - record.meta.finished_at.date()).days


def headlines(record: SweepRecord) -> list[OrgHeadline]:
    out = []
    for org in sorted(record.organisations):
        c = record.verdict_counts(org)
        staff = sum(c.values())
        out.append(
            OrgHeadline(
                org, record.organisations[org], staff, c["ready"], c["not ready"], c["unknown"]
            )
        )
    return out


def _outcome(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=lambda v: _RANK.get(v, 0))


def grid(record: SweepRecord) -> dict[str, dict[str, Cell]]:
    """service -> place -> cell; places are organisation ids and ``org/site`` ids."""
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    kinds = dict((kind, service) for service, kind in SERVICES)
    for person in record.people:
        per_kind: dict[str, list[str]] = defaultdict(list)
        for need in person.needs:
            per_kind[need.need.partition(":")[0]].append(need.verdict)
        for kind, verdicts in per_kind.items():
            service = kinds.get(kind)
            if service is None:
                continue
            outcome = _outcome(verdicts)
            counts[service][person.organisation][outcome] += 1
            counts[service][f"{person.organisation}/{person.site}"][outcome] += 1
    return {
        service: {place: Cell(dict(c)) for place, c in counts.get(service, {}).items()}
        for service, _ in SERVICES
    }


def places(record: SweepRecord) -> list[tuple[str, list[str]]]:
    """(organisation, its sites with people in scope), organisations sorted by id."""
    sites: dict[str, set[str]] = defaultdict(set)
    for person in record.people:
        sites[person.organisation].add(person.site)
    return [(org, sorted(sites.get(org, ()))) for org in sorted(record.organisations)]


def person_owners(record: SweepRecord) -> dict[str, list[str]]:
    """person key -> owners of the results behind their verdict."""
    by_id = record.by_id
    return {
        p.key: sorted({by_id[i].owner for i in p.reasons if i in by_id and by_id[i].owner})
        for p in record.people
    }


def owners(record: SweepRecord, ages: Mapping[str, BlockerAge], now: dt.datetime) -> list[OwnerRow]:
    """Per owner: open blockers, people they stop, the oldest one's age; most people first."""
    by_id = record.by_id
    stopped: dict[str, set[str]] = defaultdict(set)
    for person in record.people:
        for rid in person.reasons:
            result = by_id.get(rid)
            if result is not None:
                stopped[result.owner or "(no owner)"].add(person.key)
    grouped: dict[str, list[str]] = defaultdict(list)
    for blocker in record.blockers:
        grouped[blocker.owner or "(no owner)"].append(blocker.root_cause)
    rows = []
    for owner, causes in grouped.items():
        days = [ages[c].days_open(now) for c in causes if c in ages]
        rows.append(
            OwnerRow(owner, len(causes), len(stopped.get(owner, ())), max(days, default=None))
        )
    return sorted(rows, key=lambda r: (-r.people, -r.blockers, r.owner))
