"""The gate: a sweep record + a policy (+ the previous sweep's statuses) -> GO,
CONDITIONAL GO or NO-GO, with the rule behind each reason.

NO-GO when any rule fails; CONDITIONAL GO when every rule holds but some only thanks to
waivers (accepted exceptions, each reported with what it waived); GO otherwise. A
waived failure is listed, never hidden; a waiver past its expiry date waives nothing
and says so; one that matches no failure is reported as stale. A rule with nothing to
judge (a critical check no result speaks about, a threshold whose group is empty)
fails: "ready" is never vacuous.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

from readiness.gate.policy import Policy, Threshold, Waiver
from readiness.history.diff import compare
from readiness.record.context import GateOutcome, GateReason, WaiverUse
from readiness.record.model import PersonRecord, SweepRecord
from readiness.results import ExitCode, Result, Verdict

__all__ = ["CONDITIONAL", "GO", "NO_GO", "evaluate", "exit_code"]

GO, CONDITIONAL, NO_GO = "GO", "CONDITIONAL GO", "NO-GO"
PASS, FAIL, WAIVED, WARNING = "pass", "fail", "waived", "warning"


def exit_code(outcome: GateOutcome) -> ExitCode:
    return {GO: ExitCode.OK, CONDITIONAL: ExitCode.CONDITIONAL_GO}.get(
        outcome.verdict, ExitCode.NO_GO
    )


def _matches(waiver: Waiver, result: Result) -> bool:
    return fnmatchcase(result.id, waiver.pattern)


def _waivers(
    policy: Policy, bad: Sequence[Result], today: dt.date
) -> tuple[dict[str, Waiver], list[WaiverUse]]:
    """result id -> the active waiver covering it; what each waiver did."""
    covered: dict[str, Waiver] = {}
    uses = []
    for waiver in policy.waivers:
        matched = tuple(r.id for r in bad if _matches(waiver, r))
        if waiver.expires < today:
            state = "expired"
        else:
            state = "applied" if matched else "stale"
            for rid in matched:
                covered.setdefault(rid, waiver)
        uses.append(
            WaiverUse(waiver.pattern, waiver.owner, waiver.reason, waiver.expires, state, matched)
        )
    return covered, uses


def _effective(person: PersonRecord, covered: Mapping[str, Waiver]) -> str:
    """``ready``, ``waived`` (ready but for waived failures) or the verdict."""
    if person.verdict is Verdict.READY:
        return "ready"
    if person.reasons and not person.unverified and all(r in covered for r in person.reasons):
        return WAIVED
    return person.verdict.value


def _critical(
    check: str, bad: Sequence[Result], checks: frozenset[str], covered: Mapping[str, Waiver]
) -> GateReason:
    rule = f"critical {check}"
    if not any(fnmatchcase(c, check) for c in checks):
        return GateReason(rule, FAIL, "no result of this check in the sweep: it was not verified")
    failing = [r for r in bad if fnmatchcase(r.check, check)]
    open_ = [r for r in failing if r.id not in covered]
    if open_:
        return GateReason(
            rule,
            FAIL,
            f"{len(open_)} result(s) fail or could not be determined, first: {open_[0].summary}",
        )
    if failing:
        return GateReason(rule, WAIVED, f"{len(failing)} failing result(s), all waived")
    return GateReason(rule, PASS, "passes for everyone in scope")


def _in_group(t: Threshold, p: PersonRecord) -> bool:
    return (
        (t.role is None or t.role in p.roles)
        and (t.tag is None or t.tag in p.tags)
        and (t.organisation is None or p.organisation == t.organisation)
        and (t.site is None or p.site == t.site)
    )


def _threshold(
    t: Threshold, people: Sequence[PersonRecord], effective: Mapping[str, str]
) -> GateReason:
    units: dict[str, list[PersonRecord]] = defaultdict(list)
    for p in people:
        if _in_group(t, p):
            unit = {"programme": "all", "organisation": p.organisation, "site": p.site}[t.per]
            units[unit].append(p)
    if not units:
        return GateReason(t.label, FAIL, "no one in scope is in this group: nothing to judge")
    short, waived, lines = [], [], []
    for unit, members in sorted(units.items()):
        ready = sum(effective[p.key] == "ready" for p in members)
        with_waivers = ready + sum(effective[p.key] == WAIVED for p in members)
        pct, pct_w = 100 * ready / len(members), 100 * with_waivers / len(members)
        lines.append(f"{unit} {pct:.1f}%")
        if pct_w < t.min_ready_pct:
            short.append(f"{unit} {pct_w:.1f}% ({with_waivers} of {len(members)})")
        elif pct < t.min_ready_pct:
            waived.append(f"{unit} {pct:.1f}%, {pct_w:.1f}% with waivers")
    if short:
        return GateReason(t.label, FAIL, "below: " + ", ".join(short))
    if waived:
        return GateReason(t.label, WAIVED, "met only with waivers: " + ", ".join(waived))
    return GateReason(t.label, PASS, ", ".join(lines))


def evaluate(
    policy: Policy,
    record: SweepRecord,
    *,
    policy_name: str,
    today: dt.date,
    previous: Mapping[str, Sequence[str]] | None = None,
) -> GateOutcome:
    """The gate's verdict on ``record``; ``previous``: the status map of the sweep to
    check regressions against (None: no earlier sweep)."""
    bad = [r for r in record.results if r.status.bad]
    covered, uses = _waivers(policy, bad, today)
    reasons: list[GateReason] = []
    if policy.require_complete:
        reasons.append(
            GateReason("complete sweep", FAIL, f"the sweep is partial: {record.meta.partial}")
            if record.meta.partial
            else GateReason("complete sweep", PASS, "every planned probe ran")
        )
    checks = frozenset(r.check for r in record.results)  # the check ids that reported
    reasons += [_critical(check, bad, checks, covered) for check in policy.critical]
    effective = {p.key: _effective(p, covered) for p in record.people}
    reasons += [_threshold(t, record.people, effective) for t in policy.thresholds]
    if policy.max_unknown is not None:
        unknown = sum(v == "unknown" for v in effective.values())
        reasons.append(
            GateReason(
                f"max unknown {policy.max_unknown}",
                FAIL if unknown > policy.max_unknown else PASS,
                f"{unknown} people whose readiness could not be determined",
            )
        )
    if policy.regressions == "fail":
        reasons.append(_regressions(record, previous, covered))
    reasons += _waiver_warnings(uses)
    outcomes = {r.outcome for r in reasons}
    verdict = NO_GO if FAIL in outcomes else CONDITIONAL if WAIVED in outcomes else GO
    return GateOutcome(verdict, policy_name, tuple(reasons), tuple(uses))


def _regressions(
    record: SweepRecord, previous: Mapping[str, Sequence[str]] | None, covered: Mapping[str, Waiver]
) -> GateReason:
    rule = "no regressions"
    if previous is None:
        return GateReason(rule, PASS, "no earlier stored sweep to compare with")
    now = {r.id: (r.status.value, r.root_cause) for r in record.results}
    regressed = compare(previous, now, {}, {}).regressions
    open_ = [rid for rid in regressed if rid not in covered]
    if open_:
        return GateReason(
            rule,
            FAIL,
            f"{len(open_)} result(s) passed in the previous sweep and fail now, first: {open_[0]}",
        )
    if regressed:
        return GateReason(rule, WAIVED, f"{len(regressed)} regression(s), all waived")
    return GateReason(rule, PASS, "nothing that passed in the previous sweep fails now")


def _waiver_warnings(uses: Iterable[WaiverUse]) -> list[GateReason]:
    out = []
    for use in uses:
        if use.state == "expired":
            out.append(
                GateReason(
                    f"waiver {use.pattern}",
                    WARNING,
                    f"EXPIRED on {use.expires.isoformat()}: it waives nothing "
                    f"({len(use.results)} failure(s) it matched count again); "
                    f"owner {use.owner}",
                )
            )
        elif use.state == "stale":
            out.append(
                GateReason(
                    f"waiver {use.pattern}",
                    WARNING,
                    f"stale: matches no failure in this sweep; remove it (owner {use.owner})",
                )
            )
    return out
