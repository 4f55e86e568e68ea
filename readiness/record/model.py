"""The sweep record: everything one sweep found, in one serialisable value.

Built by the roll-up (:mod:`readiness.record.rollup`), written to ``results.json`` and
read back unchanged (:meth:`SweepRecord.from_json`), stored in history, diffed, gated
and merged; it is the only thing renderers see. It holds no inventory object and no
secret: people, organisations and sites are carried as the plain facts reports show.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from readiness.results import SCHEMA_VERSION, ExitCode, Origin, Result, Status, Verdict

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

TOOL = "day1-readiness"
# The outcome of a need no result spoke about in this sweep.
NOT_VERIFIED = "not verified"


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@dataclass(frozen=True)
class SweepMeta:
    """What was swept, how, when, and against which go-live."""

    sweep_id: str
    tool_version: str
    programme: str
    go_live: dt.datetime  # the moment expiry was judged against
    go_live_source: str  # "programme" or "--go-live"
    inventory: str  # the path as given
    fingerprint: str  # sha256 of the inventory's files
    selection: Mapping[str, list[str]]
    families: tuple[str, ...]  # the families that ran
    started_at: dt.datetime
    finished_at: dt.datetime
    partial: str = ""  # non-empty: why the sweep is incomplete (interrupted, ...)
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per phase
    # The programme's own go-live, when the sweep judged against another (--go-live).
    programme_go_live: dt.datetime | None = None
    # Safety defaults the inventory turns off ("applications.x.http.verify_tls: false").
    opt_outs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteInfo:
    organisation: str
    name: str


@dataclass(frozen=True)
class NeedOutcome:
    """One need of one person: ``ready``, ``not ready``, ``unknown`` or ``not verified``,
    and the ids of the fail/error results behind it (its own, then its account's)."""

    need: str
    verdict: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonRecord:
    key: str  # staff:<org>/<id>
    id: str
    organisation: str
    site: str
    name: str
    username: str
    mail: str
    roles: tuple[str, ...]
    tags: tuple[str, ...]
    verdict: Verdict
    reasons: tuple[str, ...]  # fail/error result ids behind the verdict, worst first
    warnings: tuple[str, ...]  # warn result ids: ready, but with something to do
    needs: tuple[NeedOutcome, ...]
    unverified: tuple[str, ...]  # needs no result spoke about

    @property
    def label(self) -> str:
        """The person as a service desk names them: name (username, org/id, site)."""
        known = (self.username, f"{self.organisation}/{self.id}", self.site)
        return f"{self.name or self.id} ({', '.join(k for k in known if k)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.key,
            "id": self.id,
            "organisation": self.organisation,
            "site": self.site,
            "name": self.name,
            "username": self.username,
            "mail": self.mail,
            "roles": list(self.roles),
            "tags": list(self.tags),
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "needs": {
                n.need: {"verdict": n.verdict, "reasons": list(n.reasons)} for n in self.needs
            },
            "unverified": list(self.unverified),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PersonRecord:
        return cls(
            key=data["subject"],
            id=data["id"],
            organisation=data["organisation"],
            site=data["site"],
            name=data.get("name", ""),
            username=data.get("username", ""),
            mail=data.get("mail", ""),
            roles=tuple(data.get("roles", ())),
            tags=tuple(data.get("tags", ())),
            verdict=Verdict(data["verdict"]),
            reasons=tuple(data.get("reasons", ())),
            warnings=tuple(data.get("warnings", ())),
            needs=tuple(
                NeedOutcome(k, v["verdict"], tuple(v.get("reasons", ())))
                for k, v in data.get("needs", {}).items()
            ),
            unverified=tuple(data.get("unverified", ())),
        )


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
    # need key -> people whose need it stops (an account blocker also stops the
    # applications and mailbox that account opens)
    needs: Mapping[str, int] = field(default_factory=dict)
    origin: str = Origin.ESTATE.value  # whose problem it is (readiness.results.Origin)

    @property
    def sweep(self) -> bool:
        """The sweep's own problem (configuration, access, a defect): the people it stops
        could not be judged, whatever the estate holds."""
        return Origin(self.origin).sweep

    def to_json(self) -> dict[str, Any]:
        return {
            "root_cause": self.root_cause,
            "status": self.status.value,
            "check": self.check,
            "summary": self.summary,
            "hint": self.hint,
            "impact": self.impact,
            "owner": self.owner,
            "people": self.people,
            "results": self.results,
            "organisations": list(self.organisations),
            "needs": dict(self.needs),
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Blocker:
        return cls(
            data["root_cause"],
            Status(data["status"]),
            data["check"],
            data["summary"],
            data.get("hint", ""),
            data.get("impact", ""),
            data.get("owner", ""),
            int(data["people"]),
            int(data["results"]),
            tuple(data.get("organisations", ())),
            dict(data.get("needs", {})),
            data.get("origin") or Origin.ESTATE.value,
        )


@dataclass(frozen=True)
class Coverage:
    """Of the people in scope who have a need of this kind, how many had all of those
    needs spoken about by at least one result."""

    needed: int
    verified: int


@dataclass(frozen=True)
class SweepRecord:
    meta: SweepMeta
    organisations: Mapping[str, str]  # id -> name
    sites: Mapping[str, SiteInfo]
    results: tuple[Result, ...]
    people: tuple[PersonRecord, ...]
    blockers: tuple[Blocker, ...]
    coverage: Mapping[str, Coverage]  # need kind -> coverage

    # ------------------------------------------------------------------ derived
    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.of_statuses(r.status for r in self.results)

    def counts(self) -> Counter[str]:
        return Counter(r.status.value for r in self.results)

    @property
    def unjudged(self) -> int:
        """People the sweep could not judge (verdict unknown)."""
        return sum(p.verdict is Verdict.UNKNOWN for p in self.people)

    @property
    def warned(self) -> tuple[PersonRecord, ...]:
        """Ready people with something to do first (a warning): Day 1's first callers."""
        return tuple(p for p in self.people if p.verdict is Verdict.READY and p.warnings)

    def verdict_counts(self, organisation: str | None = None) -> Counter[str]:
        return Counter(
            p.verdict.value
            for p in self.people
            if organisation is None or p.organisation == organisation
        )

    @cached_property
    def by_id(self) -> dict[str, Result]:
        return {r.id: r for r in self.results}

    def results_of(self, ids: Iterable[str]) -> list[Result]:
        return [self.by_id[i] for i in ids if i in self.by_id]

    @cached_property
    def matrix(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Site x service object: for each site, each object (``section:id``) some result
        speaks for it about, the worst status and the checks not passed. Derived from
        the results (those that give a site's view, ``Result.sites``), so it is the same
        whichever families ran and is never stored apart from them."""
        cells: dict[str, dict[str, dict[str, Any]]] = {}
        for r in self.results:
            if not r.sites or r.subject.startswith("staff:") or ":" not in r.subject:
                continue
            for site in r.sites:
                cell = cells.setdefault(site, {}).setdefault(
                    r.subject, {"status": r.status.value, "results": 0, "not_passed": []}
                )
                cell["results"] += 1
                if r.status.severity > Status(cell["status"]).severity:
                    cell["status"] = r.status.value
                if r.status.bad and r.check not in cell["not_passed"]:
                    cell["not_passed"].append(r.check)
        return {site: dict(sorted(row.items())) for site, row in sorted(cells.items())}

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        m = self.meta
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": TOOL, "version": m.tool_version},
            "sweep": {
                "id": m.sweep_id,
                "started_at": m.started_at.isoformat(),
                "finished_at": m.finished_at.isoformat(),
                "partial": m.partial,
                "families": list(m.families),
                "timings": dict(m.timings),
            },
            "programme": {
                "name": m.programme,
                "go_live": m.go_live.isoformat(),
                "go_live_source": m.go_live_source,
                **(
                    {"programme_go_live": m.programme_go_live.isoformat()}
                    if m.programme_go_live
                    else {}
                ),
            },
            "inventory": {
                "path": m.inventory,
                "fingerprint": m.fingerprint,
                "opt_outs": list(m.opt_outs),
            },
            "selection": {k: list(v) for k, v in m.selection.items()},
            "exit_code": int(self.exit_code),
            "counts": dict(sorted(self.counts().items())),
            "staff_verdicts": dict(sorted(self.verdict_counts().items())),
            "organisations": {
                org: {"name": name, "verdicts": dict(sorted(self.verdict_counts(org).items()))}
                for org, name in self.organisations.items()
            },
            "sites": {
                s: {"organisation": i.organisation, "name": i.name} for s, i in self.sites.items()
            },
            "coverage": {
                k: {"needed": c.needed, "verified": c.verified} for k, c in self.coverage.items()
            },
            "blockers": [b.to_json() for b in self.blockers],
            "matrix": self.matrix,
            "staff": [p.to_json() for p in self.people],
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepRecord:
        """Rebuild a record from ``results.json`` (derived figures are recomputed)."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"results format version {version!r} is not {SCHEMA_VERSION} "
                "(written by another version of the tool)"
            )
        sweep, programme = data["sweep"], data["programme"]
        meta = SweepMeta(
            sweep_id=sweep["id"],
            tool_version=data["tool"]["version"],
            programme=programme["name"],
            go_live=_time(programme["go_live"]),
            go_live_source=programme.get("go_live_source", "programme"),
            inventory=data["inventory"]["path"],
            fingerprint=data["inventory"]["fingerprint"],
            selection={k: list(v) for k, v in data.get("selection", {}).items()},
            families=tuple(sweep.get("families", ())),
            started_at=_time(sweep["started_at"]),
            finished_at=_time(sweep["finished_at"]),
            partial=sweep.get("partial", ""),
            timings=dict(sweep.get("timings", {})),
            programme_go_live=(
                _time(programme["programme_go_live"])
                if programme.get("programme_go_live")
                else None
            ),
            opt_outs=tuple(data["inventory"].get("opt_outs", ())),
        )
        return cls(
            meta=meta,
            organisations={k: v["name"] for k, v in data.get("organisations", {}).items()},
            sites={
                k: SiteInfo(v["organisation"], v.get("name", ""))
                for k, v in data.get("sites", {}).items()
            },
            results=tuple(Result.from_json(r) for r in data.get("results", ())),
            people=tuple(PersonRecord.from_json(p) for p in data.get("staff", ())),
            blockers=tuple(Blocker.from_json(b) for b in data.get("blockers", ())),
            coverage={
                k: Coverage(int(v["needed"]), int(v["verified"]))
                for k, v in data.get("coverage", {}).items()
            },
        )
