"""``readiness gate``: GO / CONDITIONAL GO / NO-GO for a stored sweep (or a
``results.json``) under a policy, the rule behind each reason, a distinct exit code
for each verdict (0, 5, 6). ``sweep --gate`` and ``merge --gate`` end here too."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import UsageError, state_dir
from readiness.cli.history import SWEEP_HELP, add_state_dir, load_sweep
from readiness.results import ExitCode

if TYPE_CHECKING:
    from readiness.gate import Policy
    from readiness.record import SweepRecord
    from readiness.record.context import GateOutcome


def register(sub: Any) -> None:
    p = sub.add_parser(
        "gate",
        help="GO / CONDITIONAL GO / NO-GO of a sweep under a policy (exit 0 / 5 / 6)",
    )
    p.add_argument("sweep", nargs="?", default="latest", help=SWEEP_HELP + ", or a results.json")
    p.add_argument("--policy", type=Path, help="the gate policy (YAML)")
    p.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="judge waivers' expiry as of this date (default today)",
    )
    p.add_argument("--schema", action="store_true", help="print the policy's JSON Schema")
    add_state_dir(p)
    p.set_defaults(handler=cmd_gate)


def policy(path: Path) -> Policy:
    from readiness.gate import load_policy
    from readiness.problems import ProblemError

    try:
        return load_policy(path)
    except ProblemError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the gate policy {path}") from None


def _previous(record: SweepRecord, state: Path) -> Mapping[str, Sequence[str]] | None:
    """The status map of the complete sweep stored before ``record`` (None: none)."""
    from readiness.history import History, HistoryError

    with History.of(state) as history:
        try:
            stored = history.resolve(record.meta.sweep_id)
            before = history.previous(stored)
        except HistoryError:  # not stored: compare with the newest stored sweep
            before = next(
                (s for s in history.sweeps(programme=record.meta.programme) if not s.partial), None
            )
        return history.statuses(before.seq) if before else None


def evaluate(
    path: Path, record: SweepRecord, state: Path | None, today: dt.date | None = None
) -> GateOutcome:
    from readiness.gate import evaluate as judge

    rules = policy(path)
    previous = _previous(record, state_dir(state)) if rules.regressions == "fail" else None
    return judge(
        rules,
        record,
        policy_name=str(path),
        previous=previous,
        today=today or dt.datetime.now(dt.UTC).date(),
    )


def show(outcome: GateOutcome, record: SweepRecord) -> None:
    print(f"\nGate: {outcome.verdict} (policy {outcome.policy}, sweep {record.meta.sweep_id[:12]})")
    for reason in outcome.reasons:
        print(f"  {reason.outcome.upper():<8} {reason.rule}: {reason.message}")
    by_id = record.by_id
    applied = [w for w in outcome.waivers if w.state == "applied"]
    if applied:
        print("Waived failures (accepted exceptions, not hidden):")
    for use in applied:
        print(
            f"  {use.pattern}: owner {use.owner}, expires {use.expires.isoformat()}, "
            f"{len(use.results)} failure(s): {use.reason}"
        )
        for rid in use.results[:10]:
            result = by_id.get(rid)
            print(f"    {rid}" + (f"\n        {result.summary}" if result else ""))
        if len(use.results) > 10:
            print(f"    ... and {len(use.results) - 10} more")


def run_gate(path: Path, record: SweepRecord, state: Path | None) -> int:
    from readiness.gate import exit_code

    outcome = evaluate(path, record, state)
    show(outcome, record)
    code = exit_code(outcome)
    print(f"Exit code {int(code)}: {code.meaning if code else 'gate: GO'}")
    return code


def cmd_gate(ns: argparse.Namespace) -> int:
    from readiness.gate import exit_code, policy_schema

    if ns.schema:
        print(json.dumps(policy_schema(), indent=2))
        return ExitCode.OK
    if ns.policy is None:
        raise UsageError("gate needs --policy FILE (or --schema)")
    rules_path: Path = ns.policy
    policy(rules_path)  # bad input first, before reading any history
    record, _ = load_sweep(ns)
    outcome = evaluate(rules_path, record, ns.state_dir, ns.today)
    show(outcome, record)
    code = exit_code(outcome)
    print(f"Exit code {int(code)}: {code.meaning if code else 'gate: GO'}")
    return code
