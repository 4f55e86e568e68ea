"""``readiness report``: any stored sweep (or a ``results.json``) in any format, with
what history adds (trend, blocker age, changes since the previous sweep) and, given a
policy, the gate's verdict and accepted exceptions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import UsageError
from readiness.cli.history import SWEEP_HELP, add_state_dir, load_sweep
from readiness.results import ExitCode

if TYPE_CHECKING:
    from readiness.record import SweepRecord
    from readiness.record.context import ReportContext


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write the report of a stored sweep: html, md, csv, blockers-csv, json, junit",
    )
    p.add_argument(
        "sweep", nargs="?", default="latest", help=SWEEP_HELP + ", or a results.json file"
    )
    p.add_argument(
        "--format",
        default="html",
        help="a renderer: html (leadership report), md, csv (per person), blockers-csv, "
        "json (results format), junit, console (default html)",
    )
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument("--policy", type=Path, help="a gate policy: the report shows its verdict")
    add_state_dir(p)
    p.set_defaults(handler=cmd_report)


def render(name: str, record: SweepRecord, context: ReportContext, out: Path | None) -> None:
    from readiness.reports import RendererError, RenderOptions, renderer, write

    try:
        chosen = renderer(name)
    except RendererError as exc:
        raise UsageError(str(exc)) from None
    text = chosen.render(record, RenderOptions(context=context))
    if out is None:
        sys.stdout.write(text)
    else:
        print(f"Written: {write(text, out)}")


def cmd_report(ns: argparse.Namespace) -> int:
    from dataclasses import replace

    record, context = load_sweep(ns)
    if ns.policy:
        from readiness.cli.gate import evaluate

        context = replace(context, gate=evaluate(ns.policy, record, ns.state_dir))
    render(ns.format, record, context, ns.out)
    return ExitCode.OK
