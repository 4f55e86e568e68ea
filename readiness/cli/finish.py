"""What ``readiness sweep`` (and ``readiness merge``) do with a finished record: show
it, write results.json and staff.csv, store it in history, write JUnit, gate it. Kept
apart from the sweep itself so that both commands share one ending."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import color, state_dir

if TYPE_CHECKING:
    from readiness.record import SweepRecord


def add_options(p: Any) -> None:
    p.add_argument("--gate", type=Path, metavar="POLICY",
                   help="then gate the sweep with this policy: exit 0 GO, 5 CONDITIONAL GO, "
                   "6 NO-GO")  # fmt: skip
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    p.add_argument("--shard", metavar="K/N",
                   help="run share K of N of the plan (whole batches and pilot accounts; the "
                   "same on every machine); `readiness merge` combines the shards")  # fmt: skip


def show_and_write(record: SweepRecord, out: Path | None) -> None:
    """The console summary, then results.json and staff.csv into ``out`` (if given)."""
    from readiness.reports import RenderOptions, renderer, write

    colored = color()
    text = renderer("console").render(record, RenderOptions(color=colored))
    if colored:
        from rich.console import Console

        Console(highlight=False).print(text)
    else:
        print(text)
    if out:
        written = []
        for name in ("json", "csv"):
            chosen = renderer(name)
            written.append(write(chosen.render(record, RenderOptions()), out / chosen.filename))
        print("Written: " + ", ".join(str(path) for path in written))


def store(record: SweepRecord, state: Path) -> int:
    """Store ``record`` in the history of ``state``; its number there."""
    from readiness.history import History

    with History.of(state) as history:
        return history.add(record)


def finish(ns: argparse.Namespace, record: SweepRecord) -> int:
    """Store, write JUnit, gate; the exit code (the gate's when gated)."""
    from readiness.history import HistoryError

    state = state_dir(ns.state_dir)
    if record.meta.selection.get("shard"):
        print("A shard is not stored in history: `readiness merge` stores the whole sweep")
    else:
        try:
            seq = store(record, state)
            print(f"Stored as sweep #{seq} in {state} (readiness history, report, diff)")
        except HistoryError as exc:
            print(f"readiness: the sweep was not stored: {exc}", file=sys.stderr)
    if getattr(ns, "junit", None):
        from readiness.cli.report import render
        from readiness.record.context import ReportContext

        render("junit", record, ReportContext(), ns.junit)
    if getattr(ns, "gate", None):
        from readiness.cli.gate import run_gate

        return run_gate(ns.gate, record, ns.state_dir)
    return int(record.exit_code)
