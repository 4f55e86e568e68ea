"""The one result model every check family produces and every report renders.

A result is one assertion about one subject, checked against one target from one
vantage point. ``fail`` means the target answered and the answer was wrong;
``error`` means we could not find out (timeout, SERVFAIL, refused connection):
Day-1 triage treats "the server said no" very differently from "we could not ask".

Results format version: bump ``SCHEMA_VERSION`` whenever a field of the JSON
results changes meaning or disappears (docs/results-format.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"
    FAIL = "fail"

    @property
    def severity(self) -> int:
        """Higher is worse; used to sort failures first and to roll results up."""
        return _SEVERITY[self]


_SEVERITY = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not ready"
    UNKNOWN = "unknown"


def result_id(subject: str, check: str, target: str, vantage: str) -> str:
    """The stable id of a result: history, diffs, waivers and gates refer to it."""
    return f"{subject}|{check}|{target}|{vantage}"


@dataclass(frozen=True, slots=True)
class Result:
    subject: str  # e.g. "staff:north/N0001" or "applications:housing"
    check: str  # e.g. "dns.resolves", "identity.account-usable"
    target: str  # what was asked: "housing.valeshared.test via 127.77.0.53:53"
    vantage: str  # where the probe ran from: "local" or a vantage point id
    status: Status
    summary: str  # what was checked and what was seen, one sentence
    expected: str = ""
    observed: str = ""
    impact: str = ""  # why it matters on Day 1
    hint: str = ""  # how to fix it
    root_cause: str = ""  # grouping key: one DNS record breaking 600 people is one blocker
    owner: str = ""  # who fixes it
    family: str = ""
    duration_ms: float = 0.0
    probe: str = ""  # id of the probe that produced it
    sites: tuple[str, ...] = ()  # the sites whose view it gives; empty = not site-specific
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return result_id(self.subject, self.check, self.target, self.vantage)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["sites"] = list(self.sites)
        data["id"] = self.id
        data["duration_ms"] = round(self.duration_ms, 3)
        if not data["root_cause"]:
            data["root_cause"] = f"{self.check}|{self.target}"
        return data


def exit_code(results: Iterable[Result]) -> int:
    """The one place exit codes are computed.

    0: nothing failed or errored; 1: something failed; 3: nothing failed but
    something could not be determined. (2, invalid input or usage, is decided
    before any result exists.)
    """
    worst = max((r.status.severity for r in results), default=0)
    if worst >= Status.FAIL.severity:
        return 1
    if worst >= Status.ERROR.severity:
        return 3
    return 0


def verdict(results: Iterable[Result]) -> Verdict:
    """Roll one person's results up: any fail -> not ready; else any error -> unknown."""
    worst = max((r.status.severity for r in results), default=0)
    if worst >= Status.FAIL.severity:
        return Verdict.NOT_READY
    if worst >= Status.ERROR.severity:
        return Verdict.UNKNOWN
    return Verdict.READY
