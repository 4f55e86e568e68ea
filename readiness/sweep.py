"""The outcome of one sweep: results plus the per-person roll-up. Reports render this.

Per staff member, every result whose subject that person depends on (their own
account, their site, the applications and resources their roles need...) counts:
any ``fail`` makes them *not ready*, else any ``error`` makes them *unknown*; a
person no check applied to is *unknown* too (nothing was verified).
Failures are grouped by root cause into blockers, ranked by people affected.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness import __version__
from readiness.inventory import Inventory
from readiness.inventory.models import Staff
from readiness.results import SCHEMA_VERSION, Result, Status, Verdict, exit_code, verdict


@dataclass(frozen=True)
class PersonVerdict:
    person: Staff
    verdict: Verdict
    reasons: tuple[Result, ...]  # the fail/error results behind the verdict, worst first


@dataclass(frozen=True)
class Blocker:
    """Failures (or errors) sharing one root cause, and the people they stop."""

    root_cause: str
    status: Status
    check: str
    summary: str
    hint: str
    impact: str
    owner: str
    people: int
    results: int
    organisations: tuple[str, ...]


@dataclass
class SweepReport:
    inventory: Inventory
    staff: Sequence[Staff]
    results: list[Result]
    started_at: dt.datetime
    finished_at: dt.datetime
    go_live: dt.datetime
    selection: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        by_subject: dict[str, list[Result]] = defaultdict(list)
        for result in self.results:
            by_subject[result.subject].append(result)
        verdicts = []
        for person in self.staff:
            site = self.inventory.sites.get(person.site)
            here = {"local", *(site.vantage_points if site else ())}
            mine = [r for s in self.inventory.needs(person).subjects
                    for r in by_subject.get(s, ()) if _speaks_for(r, person.site, here)]
            bad = sorted((r for r in mine if r.status in (Status.FAIL, Status.ERROR)),
                         key=lambda r: (-r.status.severity, r.id))
            # Nothing checked is not "ready": leadership must be able to trust the word.
            outcome = verdict(mine) if mine else Verdict.UNKNOWN
            verdicts.append(PersonVerdict(person, outcome, tuple(bad)))
        self.verdicts = verdicts

    @property
    def exit_code(self) -> int:
        return exit_code(self.results)

    def counts(self) -> Counter[str]:
        return Counter(r.status.value for r in self.results)

    def verdict_counts(self, organisation: str | None = None) -> Counter[str]:
        return Counter(v.verdict.value for v in self.verdicts
                       if organisation is None or v.person.organisation == organisation)

    def blockers(self) -> list[Blocker]:
        """Root causes of fail/error results, ranked by the number of people they stop."""
        people: dict[str, set[str]] = defaultdict(set)
        for v in self.verdicts:
            for r in v.reasons:
                people[_cause(r)].add(v.person.key)
        grouped: dict[str, list[Result]] = defaultdict(list)
        for r in self.results:
            if r.status in (Status.FAIL, Status.ERROR):
                grouped[_cause(r)].append(r)
        blockers = []
        for cause, results in grouped.items():
            worst = max(results, key=lambda r: (r.status.severity, r.id))
            affected = people.get(cause, set())
            orgs = sorted({k.split(":", 1)[1].split("/", 1)[0] for k in affected})
            blockers.append(Blocker(cause, worst.status, worst.check, worst.summary, worst.hint,
                                    worst.impact, worst.owner, len(affected), len(results),
                                    tuple(orgs)))
        return sorted(blockers, key=lambda b: (-b.status.severity, -b.people, -b.results,
                                               b.root_cause))

    def to_json(self) -> dict[str, Any]:
        programme = self.inventory.programme
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "day1-readiness", "version": __version__},
            "programme": {"name": programme.name, "go_live": self.go_live.isoformat()},
            "inventory": self.source,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "selection": self.selection,
            "exit_code": self.exit_code,
            "counts": dict(sorted(self.counts().items())),
            "staff_verdicts": dict(sorted(self.verdict_counts().items())),
            "organisations": {
                org: dict(sorted(self.verdict_counts(org).items()))
                for org in sorted(self.inventory.organisations)
            },
            "blockers": [
                {"root_cause": b.root_cause, "status": b.status.value, "check": b.check,
                 "summary": b.summary, "hint": b.hint, "impact": b.impact, "owner": b.owner,
                 "people": b.people, "results": b.results, "organisations": list(b.organisations)}
                for b in self.blockers()
            ],
            "staff": [
                {"subject": v.person.key, "organisation": v.person.organisation,
                 "site": v.person.site, "verdict": v.verdict.value,
                 "reasons": [r.id for r in v.reasons]}
                for v in self.verdicts
            ],
            "results": [r.to_json() for r in self.results],
        }


def _speaks_for(result: Result, site: str, vantages: set[str]) -> bool:
    """Whether a result says something about a person at ``site``: a probe giving other
    sites' view (their vantage point, their resolvers) says nothing about this person."""
    if result.sites:
        return site in result.sites
    return result.vantage in vantages


def _cause(result: Result) -> str:
    return result.root_cause or f"{result.check}|{result.target}"
