"""``readiness history``, ``readiness diff`` and ``readiness person``: what history says.

Every command here reads the history database of the state folder (``--state-dir``,
as ``sweep``); a sweep is named by its number in ``readiness history``, ``latest``,
``previous``, ``-N`` or an id prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import UsageError, positive, state_dir
from readiness.results import ExitCode

if TYPE_CHECKING:
    from readiness.history import History, StoredSweep
    from readiness.record import PersonRecord, SweepRecord
    from readiness.record.context import ReportContext

STATE_HELP = (
    "state folder holding the history (default $READINESS_STATE_DIR, else "
    "~/.local/state/day1-readiness)"
)
SWEEP_HELP = "a sweep: its number in `readiness history`, latest, previous, -N or an id prefix"


def add_state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, default=None, help=STATE_HELP)


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="stored sweeps, newest first, with their headline figures")
    add_state_dir(p)
    p.add_argument("--limit", type=positive, default=30, help="sweeps shown (default 30)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser(
        "diff",
        help="what changed between two stored sweeps (exit 7 on regressions)",
        description="New failures, fixed, still failing, regressions (passed before, fail "
        "now), people who became ready or not ready. Exit code 7 when anything regressed.",
    )
    p.add_argument("before", nargs="?", default="previous", help=SWEEP_HELP + " (default previous)")
    p.add_argument("after", nargs="?", default="latest", help=SWEEP_HELP + " (default latest)")
    add_state_dir(p)
    p.add_argument("--limit", type=positive, default=20, help="ids listed per kind (default 20)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser(
        "person",
        help="why can't this person log in? everything about one person, and their history",
    )
    p.add_argument("who", metavar="ID", help="staff id, org/id, username or mail address")
    p.add_argument("--sweep", default="latest", help=SWEEP_HELP + " (default latest)")
    add_state_dir(p)
    p.set_defaults(handler=cmd_person)


@contextmanager
def opened(ns: argparse.Namespace) -> Iterator[History]:
    from readiness.history import History, HistoryError

    try:
        with History.of(state_dir(ns.state_dir)) as history:
            yield history
    except HistoryError as exc:
        raise UsageError(str(exc)) from None


def resolve(history: History, ref: str | None) -> StoredSweep:
    from readiness.history import HistoryError

    try:
        return history.resolve(ref)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def cmd_history(ns: argparse.Namespace) -> int:
    with opened(ns) as history:
        sweeps = history.sweeps(limit=ns.limit)
    if ns.json:
        print(json.dumps([_sweep_json(s) for s in sweeps], indent=1))
        return ExitCode.OK
    if not sweeps:
        print("No sweeps stored yet in this state folder.")
        return ExitCode.OK
    orgs = sorted({org for s in sweeps for org in s.organisations})
    header = ["#", "sweep", "finished (UTC)", "go-live", "staff", "ready", *orgs, "not ready",
              "unknown", "exit", "note"]  # fmt: skip
    rows = []
    for s in sweeps:
        note = [s.partial] if s.partial else []
        if s.filtered:
            note.append("filtered: " + ", ".join(f"{k} {' '.join(v)}"
                                                 for k, v in s.selection.items() if v))  # fmt: skip
        rows.append(
            [str(s.seq), s.id[:12], s.finished_at.strftime("%Y-%m-%d %H:%M"),
             s.go_live.date().isoformat(), str(s.staff), _pct(s.ready, s.staff),
             *[f"{p:.1f}%" if (p := s.ready_pct(o)) is not None else "-" for o in orgs],
             str(s.not_ready), str(s.unknown), str(s.exit_code), "; ".join(note)]
        )  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return ExitCode.OK


def _sweep_json(s: StoredSweep) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "id": s.id,
        "programme": s.programme,
        "finished_at": s.finished_at.isoformat(),
        "go_live": s.go_live.isoformat(),
        "fingerprint": s.fingerprint,
        "selection": s.selection,
        "partial": s.partial,
        "exit_code": s.exit_code,
        "staff": s.staff,
        "verdicts": {"ready": s.ready, "not ready": s.not_ready, "unknown": s.unknown},
        "organisations": s.organisations,
        "timings": s.timings,
    }


def cmd_diff(ns: argparse.Namespace) -> int:
    from readiness.history.context import changes

    with opened(ns) as history:
        before, after = resolve(history, ns.before), resolve(history, ns.after)
        if before.seq == after.seq:
            raise UsageError(f"both sides are sweep #{before.seq}: name two different sweeps")
        maps = (history.statuses(before.seq), history.statuses(after.seq))
        c = changes(history, before, after, maps)
    code = ExitCode.REGRESSED if c.regressions else ExitCode.OK
    kinds = {
        "regressions": c.regressions,
        "new_failures": c.new_failures,
        "fixed": c.fixed,
        "still_failing": c.still_failing,
        "not_checked_now": c.gone,
        "new_blockers": c.new_blockers,
        "fixed_blockers": c.fixed_blockers,
        "became_ready": c.became_ready,
        "became_not_ready": c.became_not_ready,
    }
    if ns.json:
        print(json.dumps({"before": _sweep_json(before), "after": _sweep_json(after),
                          "same_inventory": c.same_inventory,
                          **{k: list(v) for k, v in kinds.items()},
                          "exit_code": int(code)}, indent=1))  # fmt: skip
        return code
    print(f"Sweep #{before.seq} ({before.finished_at:%Y-%m-%d %H:%M}) -> #{after.seq} "
          f"({after.finished_at:%Y-%m-%d %H:%M})"
          + ("" if c.same_inventory else ": the inventory changed between them"))  # fmt: skip
    for org in sorted(set(before.organisations) | set(after.organisations)):
        a, b = before.ready_pct(org), after.ready_pct(org)
        print(f"  {org}: {_fmt(a)} -> {_fmt(b)} ready")
    # The summaries of fail/error results are in the status maps: no record is read.
    summaries = {rid: e[2] for m in maps for rid, e in m.items() if len(e) > 2}
    print("  " + ", ".join(f"{k.replace('_', ' ')} {len(v)}" for k, v in kinds.items()))
    for kind, ids in kinds.items():
        if not ids or kind == "still_failing":
            continue
        print(f"\n{kind.replace('_', ' ')} ({len(ids)}):")
        for item in ids[: ns.limit]:
            extra = summaries.get(item)
            print(f"  {item}" + (f"\n      {extra}" if extra else ""))
        if len(ids) > ns.limit:
            print(f"  ... and {len(ids) - ns.limit} more (--limit, --json)")
    print(f"\nExit code {int(code)}: {code.meaning if code else 'no regressions'}")
    return code


def _fmt(pct: float | None) -> str:
    return "-" if pct is None else f"{pct:.1f}%"


def find_person(record: SweepRecord, who: str) -> PersonRecord:
    """A person by staff id, org/id, subject key, username or mail (case-insensitive)."""
    text = who.strip().lower()
    found = [
        p
        for p in record.people
        if text in {p.id.lower(), f"{p.organisation}/{p.id}".lower(), p.key.lower()}
        or (p.username and p.username.lower() == text)
        or (p.mail and p.mail.lower() == text)
    ]
    if not found:
        raise UsageError(f"no one in sweep {record.meta.sweep_id[:12]} is named {who!r} "
                         "(staff id, org/id, username or mail address)")  # fmt: skip
    if len(found) > 1:
        names = ", ".join(f"{p.organisation}/{p.id} ({p.name})" for p in found)
        raise UsageError(f"{who!r} names several people: {names}; use org/id")
    return found[0]


def cmd_person(ns: argparse.Namespace) -> int:
    with opened(ns) as history:
        sweep = resolve(history, ns.sweep)
        record = history.record(sweep.seq)
        person = find_person(record, ns.who)
        past = history.person(person.key)
        dates = {s.seq: s for s in history.sweeps(programme=sweep.programme)}
    out = sys.stdout
    out.write(f"{person.name} ({person.organisation}/{person.id}), site {person.site}, "
              f"roles {', '.join(person.roles) or '-'}\n")  # fmt: skip
    if person.username or person.mail:
        out.write(f"username {person.username or '-'}, mail {person.mail or '-'}\n")
    out.write(f"\nVerdict in sweep #{sweep.seq} ({sweep.finished_at:%Y-%m-%d %H:%M}): "
              f"{person.verdict.value.upper()}\n")  # fmt: skip
    for need in person.needs:
        out.write(f"  {need.need}: {need.verdict}\n")
    if person.unverified:
        out.write(f"  not verified by any check in this sweep: {', '.join(person.unverified)}\n")
    problems = record.results_of(person.reasons)
    if problems:
        out.write(f"\nProblems ({len(problems)}), worst first:\n")
    for r in problems:
        out.write(f"  {r.status.value.upper()} {r.check} ({r.target}, from {r.vantage})\n"
                  f"     seen: {r.summary}\n")  # fmt: skip
        if r.expected or r.observed:
            out.write(f"     expected {r.expected or '-'}; observed {r.observed or '-'}\n")
        if r.impact:
            out.write(f"   impact: {r.impact}\n")
        if r.hint:
            out.write(f"      fix: {r.hint}\n")
        out.write(f"    owner: {r.owner or '(no owner)'}\n")
    warnings = record.results_of(person.warnings)
    for r in warnings:
        out.write(f"  WARN {r.check}: {r.summary}" + (f"; fix: {r.hint}" if r.hint else "") + "\n")
    out.write("\nAcross sweeps:\n")
    for seq, verdict, checks in past:
        s = dates.get(seq)
        when = s.finished_at.strftime("%Y-%m-%d %H:%M") if s else "?"
        out.write(f"  #{seq} {when}  {verdict}" + (f"  ({checks})" if checks else "") + "\n")
    return {"ready": ExitCode.OK, "not ready": ExitCode.FAILED}.get(
        person.verdict.value, ExitCode.UNKNOWN
    )


def load_sweep(ns: argparse.Namespace) -> tuple[SweepRecord, ReportContext]:
    """The record named by ``ns.sweep`` and what history knows about it."""
    from readiness.history import History, HistoryError, report_context
    from readiness.record import SweepRecord
    from readiness.record.context import ReportContext

    path = Path(ns.sweep)
    try:
        with History.of(state_dir(ns.state_dir)) as history:
            if path.suffix == ".json" or path.is_file():
                try:
                    record = SweepRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise UsageError(f"{path}: not a readable results.json: {exc}") from None
                try:
                    stored = history.resolve(record.meta.sweep_id)
                except HistoryError:
                    return record, ReportContext()
            else:
                stored = history.resolve(ns.sweep)
                record = history.record(stored.seq)
            causes = [b.root_cause for b in record.blockers]
            return record, report_context(history, stored, causes)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
