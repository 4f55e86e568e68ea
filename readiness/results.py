"""The one result model every check family produces and every report renders: a leaf.

A result is one assertion about one subject, checked against one target from one
vantage point. ``fail`` means the target answered and the answer was wrong;
``error`` means we could not find out (timeout, SERVFAIL, refused connection):
Day-1 triage treats "the server said no" very differently from "we could not ask".

Results format version: bump ``SCHEMA_VERSION`` whenever a field of the JSON
results changes meaning or disappears (docs/results-format.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

__all__ = ["SCHEMA_VERSION", "ExitCode", "Origin", "Result", "Status", "Verdict", "result_id"]

SCHEMA_VERSION = 2


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

    @property
    def bad(self) -> bool:
        """A fail or an error: something stands between a person and Day 1."""
        return self in (Status.FAIL, Status.ERROR)


_SEVERITY = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}


class Origin(StrEnum):
    """Whose problem a fail or error is: the estate's (to fix before go-live) or the
    sweep's own (to fix before the sweep can judge anyone it concerns)."""

    ESTATE = "estate"  # the target answered, wrongly: a Day-1 fault in the estate
    CONFIG = "config"  # the sweep's own set-up: a secret, CA bundle, key, service account
    ACCESS = "access"  # the sweep could not reach or ask a server (unreachable, timeout)
    DEFECT = "defect"  # a check family (or the engine) broke: a defect to report

    @property
    def sweep(self) -> bool:
        """The sweep's own problem: whoever runs the sweep fixes it, and until then the
        people it concerns cannot be judged."""
        return self is not Origin.ESTATE


# The origin of a fail or error whose family does not say: a fail is the estate's; an
# error (we could not find out) is the sweep's access.
_DEFAULT_ORIGIN = {Status.FAIL: Origin.ESTATE, Status.ERROR: Origin.ACCESS}


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not ready"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, statuses: Iterable[Status]) -> Verdict:
        """Any fail -> not ready; else any error -> unknown; else ready."""
        worst = max((s.severity for s in statuses), default=0)
        if worst >= Status.FAIL.severity:
            return cls.NOT_READY
        if worst >= Status.ERROR.severity:
            return cls.UNKNOWN
        return cls.READY


class ExitCode(IntEnum):
    """Every exit code of the command line, in one place."""

    OK = 0  # nothing failed or errored
    FAILED = 1  # something failed
    INVALID = 2  # invalid input or usage
    UNKNOWN = 3  # nothing failed, but something could not be determined
    INTERNAL = 4  # a defect: please report it
    CONDITIONAL_GO = 5  # the gate: go, with accepted exceptions (waivers) to follow up
    NO_GO = 6  # the gate: a rule of the policy is not met
    REGRESSED = 7  # diff: something that passed in the earlier sweep fails now
    INTERRUPTED = 130  # Ctrl-C or SIGTERM

    @property
    def meaning(self) -> str:
        return _MEANING[self]

    @classmethod
    def of_statuses(cls, statuses: Iterable[Status]) -> ExitCode:
        """The exit code of a sweep with results of these statuses."""
        verdict = Verdict.of(statuses)
        return {Verdict.NOT_READY: cls.FAILED, Verdict.UNKNOWN: cls.UNKNOWN}.get(verdict, cls.OK)


_MEANING = {
    ExitCode.OK: "nothing failed or errored",
    ExitCode.FAILED: "something failed",
    ExitCode.INVALID: "invalid input or usage",
    ExitCode.UNKNOWN: "nothing failed, but something could not be determined",
    ExitCode.INTERNAL: "internal error",
    ExitCode.CONDITIONAL_GO: "gate: CONDITIONAL GO (go, with waived exceptions)",
    ExitCode.NO_GO: "gate: NO-GO",
    ExitCode.REGRESSED: "diff: regressions since the earlier sweep",
    ExitCode.INTERRUPTED: "interrupted",
}


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
    impact: str = ""  # why it matters on Day 1 (qualitative: the roll-up counts people)
    hint: str = ""  # how to fix it
    root_cause: str = ""  # grouping key: one DNS record breaking 600 people is one blocker
    owner: str = ""  # who fixes it
    family: str = ""
    duration_ms: float = 0.0
    probe: str = ""  # id of the probe that produced it
    sites: tuple[str, ...] = ()  # the sites whose view it gives; empty = not site-specific
    # The need of a person this result speaks about ("account", "mailbox", "phone",
    # "application:<id>", "network_resource:<id>"); empty = decided by the roll-up from
    # the subject and the check's declared need.
    need: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # JSON-native values only
    # Whose problem a fail or error is (Origin values); empty: a fail is the estate's,
    # an error the sweep's access.
    origin: str = ""
    # What is wrong, in words a service desk can read to the person (no raw attribute
    # values): per-person outputs show it with the hint and the owner; empty: summary.
    reason: str = ""

    def __post_init__(self) -> None:
        # Normalised once here, so that a result read back from results.json is equal.
        if not self.root_cause:
            object.__setattr__(self, "root_cause", f"{self.check}|{self.target}")
        if not self.origin and self.status in _DEFAULT_ORIGIN:
            object.__setattr__(self, "origin", _DEFAULT_ORIGIN[self.status].value)
        object.__setattr__(self, "duration_ms", round(self.duration_ms, 3))

    @property
    def id(self) -> str:
        return result_id(self.subject, self.check, self.target, self.vantage)

    @property
    def plain(self) -> str:
        """What is wrong, for a person's outputs: the reason, else the summary."""
        return self.reason or self.summary

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "check": self.check,
            "target": self.target,
            "vantage": self.vantage,
            "status": self.status.value,
            "summary": self.summary,
            "expected": self.expected,
            "observed": self.observed,
            "impact": self.impact,
            "hint": self.hint,
            "root_cause": self.root_cause,
            "owner": self.owner,
            "family": self.family,
            "duration_ms": self.duration_ms,
            "probe": self.probe,
            "sites": list(self.sites),
            "need": self.need,
            "details": self.details,
            "origin": self.origin,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        """The inverse of :meth:`to_json` (``id`` is derived, so it is not read)."""
        return cls(
            subject=data["subject"],
            check=data["check"],
            target=data["target"],
            vantage=data["vantage"],
            status=Status(data["status"]),
            summary=data["summary"],
            expected=data.get("expected", ""),
            observed=data.get("observed", ""),
            impact=data.get("impact", ""),
            hint=data.get("hint", ""),
            root_cause=data.get("root_cause", ""),
            owner=data.get("owner", ""),
            family=data.get("family", ""),
            duration_ms=float(data.get("duration_ms", 0.0)),
            probe=data.get("probe", ""),
            sites=tuple(data.get("sites", ())),
            need=data.get("need", ""),
            details=dict(data.get("details", {})),
            origin=data.get("origin", ""),
            reason=data.get("reason", ""),
        )
