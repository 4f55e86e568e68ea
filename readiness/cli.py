"""The ``readiness`` command line.

Exit codes (computed in readiness.results.exit_code for sweeps):
0 nothing failed or errored; 1 something failed; 3 nothing failed but something
could not be determined; 2 invalid input or usage; 4 an internal error.
Heavy libraries are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.family import CheckFamily
    from readiness.inventory import Inventory

EXIT_INVALID = 2
EXIT_INTERNAL = 4


class UsageError(Exception):
    """Bad input or usage: printed without a traceback, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["lab"]:
        return _lab(args[1:])
    parser = _parser()
    ns = parser.parse_args(args)
    try:
        return int(ns.handler(ns))
    except UsageError as exc:
        print(f"readiness: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("readiness: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for the user; READINESS_DEBUG shows one
        if os.environ.get("READINESS_DEBUG"):
            raise
        print(f"readiness: internal error: {type(exc).__name__}: {exc}\n"
              "  (set READINESS_DEBUG=1 for a traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="readiness",
        description="Day-1 readiness sweeps for merging organisations: can every staff member "
                    "log in and reach what they need on go-live day?",
        epilog="Exit codes: 0 ready, 1 something failed, 3 something could not be determined, "
               "2 invalid input or usage, 4 internal error.",
    )
    from readiness import __version__

    parser.add_argument("--version", action="version", version=f"readiness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate an inventory (exit 0 valid, 2 invalid)")
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("sweep", help="run the checks and report who is Day-1 ready")
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    p.add_argument("--out", type=Path,
                   help="write results.json and staff.csv (one row per person) into this folder")
    p.add_argument("--secrets-dir", type=Path,
                   default=_env_path("READINESS_SECRETS_DIR"),
                   help="where relative file: secret references resolve "
                        "(default $READINESS_SECRETS_DIR, else the inventory folder)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="state folder: credential-attempt ledger, history "
                        "(default $READINESS_STATE_DIR, else ~/.local/state/day1-readiness)")
    for name, help_text in (("org", "organisation id"), ("site", "site id"), ("role", "role id"),
                            ("staff", "staff id (or org/id)"), ("family", "check family"),
                            ("tag", "staff tag")):
        p.add_argument(f"--{name}", action="append", default=[], metavar="ID",
                       help=f"only this {help_text} (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be probed and each pilot account's lockout cost; no I/O")
    p.add_argument("--go-live", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                   help="judge expiry as of this date instead of the programme's go-live")
    p.add_argument("--workers", type=_positive, default=8,
                   help="batches run at once (default 8)")
    p.add_argument("--server-limit", type=_positive, default=8,
                   help="concurrent probes per server (default 8)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser("checks", help="list installed check families and the fields they read")
    p.set_defaults(handler=cmd_checks)

    p = sub.add_parser("schema", help="print the JSON Schema of the inventory")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.set_defaults(handler=cmd_schema)

    sub.add_parser("lab", help="the lab of real servers: up|down|status|render (lab --help)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _families() -> list[CheckFamily]:
    from readiness.registry import RegistryError, load_families

    try:
        return load_families()
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def _load(path: Path, families: Sequence[CheckFamily]) -> Inventory:
    from readiness.inventory import InventoryError, load

    try:
        return load(path, families)
    except InventoryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the inventory {path}") from None


def cmd_validate(ns: argparse.Namespace) -> int:
    inventory = _load(ns.inventory, _families())
    sections = ", ".join(f"{len(v)} {k}" for k, v in sorted(inventory.sections.items()) if v)
    print(f"{ns.inventory}: valid. {len(inventory.organisations)} organisations, "
          f"{len(inventory.sites)} sites, {len(inventory.roles)} roles, "
          f"{len(inventory.staff)} staff" + (f", {sections}" if sections else ""))
    return 0


def cmd_schema(ns: argparse.Namespace) -> int:
    import json

    from readiness.inventory.validate import json_schema

    text = json.dumps(json_schema(_families()), indent=2) + "\n"
    if ns.out:
        ns.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_checks(ns: argparse.Namespace) -> int:
    for fam in _families():
        print(f"{fam.name}: {fam.description}")
        if fam.sections:
            print(f"  owns sections: {', '.join(sorted(fam.sections))}")
        if fam.reads:
            print(f"  reads: {', '.join(fam.reads)}")
    return 0


def _selection(ns: argparse.Namespace, inventory: Inventory,
               families: Sequence[CheckFamily]) -> Any:
    from readiness.engine import Selection

    known: dict[str, list[str]] = {
        "org": list(inventory.organisations), "site": list(inventory.sites),
        "role": list(inventory.roles), "family": [f.name for f in families],
    }
    for option, values in known.items():
        for value in getattr(ns, option):
            if value not in values:
                close = difflib.get_close_matches(value, values, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(f"--{option} {value!r} is not in the inventory{hint}")
    return Selection(frozenset(ns.org), frozenset(ns.site), frozenset(ns.role),
                     frozenset(ns.staff), frozenset(ns.family), frozenset(ns.tag))


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cmd_sweep(ns: argparse.Namespace) -> int:
    from readiness.engine import make_plan, run_plan
    from readiness.family import RunContext
    from readiness.reports import console, jsonfile, staffcsv
    from readiness.results import exit_code
    from readiness.sweep import SweepReport

    families = _families()
    inventory = _load(ns.inventory, families)
    selection = _selection(ns, inventory, families)
    go_live = inventory.go_live
    if ns.go_live:
        go_live = dt.datetime.combine(ns.go_live, dt.time(0, 0), tzinfo=dt.UTC)
    plan = make_plan(inventory, families, selection, go_live)
    if ns.dry_run:
        _print_plan(plan)
        return exit_code(plan.failed)
    state_dir = ns.state_dir or _env_path("READINESS_STATE_DIR") or (
        Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
        / "day1-readiness")
    ctx = RunContext(inventory, go_live=go_live, clock=lambda: dt.datetime.now(dt.UTC),
                     secrets_dir=ns.secrets_dir or inventory.root, state_dir=state_dir,
                     server_limit=ns.server_limit)
    started = dt.datetime.now(dt.UTC)
    try:
        if ns.no_progress or not _color():
            results = run_plan(plan, ctx, workers=ns.workers)
        else:
            results = _run_with_progress(plan, ctx, ns.workers)
    finally:
        ctx.close()
    report = SweepReport(inventory, plan.staff, results, started, dt.datetime.now(dt.UTC),
                         go_live, selection.to_json(), str(ns.inventory))
    color = _color()
    text = console.render(report, color=color)
    if color:
        from rich.console import Console

        Console(highlight=False).print(text)
    else:
        print(text)
    if ns.out:
        written = [jsonfile.write(report, ns.out), staffcsv.write(report, ns.out)]
        print("Written: " + ", ".join(str(path) for path in written))
    return report.exit_code


def _run_with_progress(plan: Any, ctx: Any, workers: int) -> Any:
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from readiness.engine import run_plan
    from readiness.results import Result

    counts: Counter[str] = Counter()
    done: set[str] = set()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task("sweeping", total=len(plan.probes))

        def on_result(result: Result) -> None:
            counts[result.status.value] += 1
            done.add(result.probe)
            progress.update(task, completed=len(done), description=" ".join(
                f"{s} {counts[s]}" for s in ("pass", "warn", "fail", "error", "skip")))

        return run_plan(plan, ctx, on_result, workers=workers)


def _print_plan(plan: Any) -> None:
    from collections import Counter, defaultdict

    by_family: dict[str, list[Any]] = defaultdict(list)
    for probe in plan.probes:
        by_family[probe.family].append(probe)
    print(f"Plan: {len(plan.probes)} probes for {len(plan.staff)} staff, "
          f"go-live {plan.go_live.date().isoformat()} (dry run: nothing is contacted)")
    for fam in plan.families:
        probes = by_family.get(fam.name, [])
        targets = Counter(p.server or p.target for p in probes)
        print(f"\n{fam.name}: {len(probes)} probes")
        for target, n in sorted(targets.items()):
            print(f"  {target}: {n}")
    costly = [p for p in plan.probes if p.lockout_cost]
    total = sum(p.lockout_cost for p in costly)
    print(f"\nAuthentication attempts this sweep may spend: {total}")
    for probe in costly:
        print(f"  {probe.account}: up to {probe.lockout_cost} attempt(s) via "
              f"{probe.server or probe.target} ({probe.check})")
    for failed in plan.failed:
        print(f"\nPLANNING ERROR: {failed.summary}")


def _lab(args: list[str]) -> int:
    try:
        from readiness_lab.cli import main as lab_main
    except ImportError as exc:
        print(f"readiness: the lab is not available: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return int(lab_main(args))


if __name__ == "__main__":
    sys.exit(main())
