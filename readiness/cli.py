"""The ``readiness`` command line.

Exit codes are :class:`readiness.results.ExitCode`: 0 nothing failed or errored;
1 something failed; 3 nothing failed but something could not be determined; 2 invalid
input or usage; 4 an internal error; 130 interrupted. Heavy libraries are imported only
by the subcommand that needs them. Other packages add subcommands through the
entry-point group ``readiness.commands`` (the lab's ``readiness lab`` is one).
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

from readiness.results import ExitCode

if TYPE_CHECKING:
    from readiness.engine import Plan
    from readiness.family import CheckFamily
    from readiness.inventory import Inventory, Selection
    from readiness.record import SweepRecord

COMMANDS_GROUP = "readiness.commands"


class UsageError(Exception):
    """Bad input or usage: printed without a traceback, exit code 2."""


BUILT_IN = ("validate", "sweep", "checks", "schema")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-") and args[0] not in BUILT_IN:
        command = _plugin_command(args[0])
        if command is not None:
            return int(command(args[1:]))
    parser = _parser()
    ns = parser.parse_args(args)
    try:
        return int(ns.handler(ns))
    except UsageError as exc:
        print(f"readiness: {exc}", file=sys.stderr)
        return ExitCode.INVALID
    except KeyboardInterrupt:
        print("readiness: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # never a traceback for the user; READINESS_DEBUG shows one
        if os.environ.get("READINESS_DEBUG"):
            raise
        print(
            f"readiness: internal error: {type(exc).__name__}: {exc}\n"
            "  (set READINESS_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _plugin_commands() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def _plugin_command(name: str) -> Any:
    """A subcommand another package provides (e.g. ``lab``), or None."""
    ep = _plugin_commands().get(name)
    if ep is None:
        return None
    try:
        return ep.load()
    except ImportError as exc:
        print(f"readiness: the {name} command is not available: {exc}", file=sys.stderr)
        return lambda _args: ExitCode.INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="readiness",
        description="Day-1 readiness sweeps for merging organisations: can every staff member "
        "log in and reach what they need on go-live day?",
        epilog="Exit codes: " + "; ".join(f"{int(c)} {c.meaning}" for c in ExitCode) + ".",
    )
    from readiness import __version__

    parser.add_argument("--version", action="version", version=f"readiness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate an inventory (exit 0 valid, 2 invalid)")
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("sweep", help="run the checks and report who is Day-1 ready")
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    p.add_argument(
        "--out",
        type=Path,
        help="write results.json and staff.csv (one row per person) into this folder",
    )
    p.add_argument(
        "--secrets-dir",
        type=Path,
        default=_env_path("READINESS_SECRETS_DIR"),
        help="where relative file: secret references resolve "
        "(default $READINESS_SECRETS_DIR, else the inventory folder)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state folder: credential-attempt ledger, history "
        "(default $READINESS_STATE_DIR, else ~/.local/state/day1-readiness)",
    )
    for name, help_text in (
        ("org", "organisation id"),
        ("site", "site id"),
        ("role", "role id"),
        ("staff", "staff id (or org/id)"),
        ("family", "check family"),
        ("tag", "staff tag"),
    ):
        p.add_argument(
            f"--{name}",
            action="append",
            default=[],
            metavar="ID",
            help=f"only this {help_text} (repeatable)",
        )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be probed and each pilot account's lockout cost; no I/O",
    )
    p.add_argument(
        "--go-live",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="judge expiry as of this date instead of the programme's go-live",
    )
    p.add_argument("--workers", type=_positive, default=8, help="batches run at once (default 8)")
    p.add_argument(
        "--server-limit", type=_positive, default=8, help="concurrent probes per server (default 8)"
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser("checks", help="list installed check families and the fields they read")
    p.set_defaults(handler=cmd_checks)

    p = sub.add_parser("schema", help="print the JSON Schema of the inventory")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.set_defaults(handler=cmd_schema)

    for name, ep in sorted(_plugin_commands().items()):
        sub.add_parser(
            name, help=f"provided by {ep.value.partition(':')[0]} (readiness {name} --help)"
        )
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


def _families() -> list[CheckFamily[Any]]:
    from readiness.registry import RegistryError, load_families

    try:
        return load_families()
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def _load(path: Path, families: Sequence[CheckFamily[Any]]) -> Inventory:
    from readiness.inventory import InventoryError, load

    try:
        return load(path, families)
    except InventoryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the inventory {path}") from None


def cmd_validate(ns: argparse.Namespace) -> int:
    inventory = _load(ns.inventory, _families())
    counted = {k: len(v) for k, v in inventory.objects.items()}
    counted.update({k: len(v) for k, v in inventory.sections.items()})
    sections = ", ".join(f"{n} {k}" for k, n in sorted(counted.items()) if n)
    print(
        f"{ns.inventory}: valid. {len(inventory.organisations)} organisations, "
        f"{len(inventory.sites)} sites, {len(inventory.roles)} roles, "
        f"{len(inventory.staff)} staff" + (f", {sections}" if sections else "")
    )
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
        if fam.verifies:
            print(f"  verifies: {', '.join(sorted(fam.verifies))}")
        if fam.sections:
            print(f"  owns sections: {', '.join(sorted(fam.sections))}")
        if fam.blocks:
            print(f"  blocks: {', '.join(f'{s}.*.{k}' for s, k in sorted(fam.blocks))}")
        if fam.reads:
            print(f"  reads: {', '.join(fam.reads)}")
        for spec in fam.checks:
            need = f" [{spec.need}]" if spec.need else ""
            print(f"  - {spec.id}{need}: {spec.title}")
    return 0


def _selection(
    ns: argparse.Namespace, inventory: Inventory, families: Sequence[CheckFamily[Any]]
) -> Selection:
    from readiness.inventory import Selection

    known: dict[str, list[str]] = {
        "org": list(inventory.organisations),
        "site": list(inventory.sites),
        "role": list(inventory.roles),
        "family": [f.name for f in families],
    }
    for option, values in known.items():
        for value in getattr(ns, option):
            if value not in values:
                close = difflib.get_close_matches(value, values, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(f"--{option} {value!r} is not in the inventory{hint}")
    return Selection(
        frozenset(ns.org),
        frozenset(ns.site),
        frozenset(ns.role),
        frozenset(ns.staff),
        frozenset(ns.family),
        frozenset(ns.tag),
    )


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _state_dir(ns: argparse.Namespace) -> Path:
    found: Path = (
        ns.state_dir
        or _env_path("READINESS_STATE_DIR")
        or (
            Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
            / "day1-readiness"
        )
    )
    return found


def cmd_sweep(ns: argparse.Namespace) -> int:
    import time
    import uuid

    from readiness import __version__
    from readiness.engine import make_plan, run_plan
    from readiness.family import RunContext
    from readiness.record import SweepMeta
    from readiness.record.rollup import build

    families = _families()
    inventory = _load(ns.inventory, families)
    selection = _selection(ns, inventory, families)
    go_live = inventory.go_live
    if ns.go_live:
        go_live = dt.datetime.combine(ns.go_live, dt.time(0, 0), tzinfo=dt.UTC)
    started_plan = time.perf_counter()
    plan = make_plan(inventory, families, selection, go_live)
    plan_s = time.perf_counter() - started_plan
    if ns.dry_run:
        _print_plan(plan)
        return ExitCode.of_statuses(r.status for r in plan.failed)
    ctx = RunContext(
        inventory,
        go_live=go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=ns.secrets_dir or inventory.root,
        state_dir=_state_dir(ns),
        server_limit=ns.server_limit,
    )
    started = dt.datetime.now(dt.UTC)
    started_run = time.perf_counter()
    try:
        if ns.no_progress or not _color():
            results = run_plan(plan, ctx, workers=ns.workers)
        else:
            results = _run_with_progress(plan, ctx, ns.workers)
    finally:
        ctx.close()
    run_s = time.perf_counter() - started_run
    meta = SweepMeta(
        sweep_id=ctx.sweep_id or uuid.uuid4().hex,
        tool_version=__version__,
        programme=inventory.programme.name,
        go_live=go_live,
        go_live_source="--go-live" if ns.go_live else "programme",
        inventory=str(ns.inventory),
        fingerprint=inventory.fingerprint(),
        selection=selection.to_json(),
        families=tuple(f.name for f in plan.families),
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        timings={"plan_s": round(plan_s, 3), "run_s": round(run_s, 3)},
    )
    record = build(inventory, plan.staff, results, meta, families)
    _show(record)
    if ns.out:
        written = [_write(name, record, ns.out) for name in ("json", "csv")]
        print("Written: " + ", ".join(str(path) for path in written))
    return record.exit_code


def _show(record: SweepRecord) -> None:
    from readiness.reports import RenderOptions, renderer

    color = _color()
    text = renderer("console").render(record, RenderOptions(color=color))
    if color:
        from rich.console import Console

        Console(highlight=False).print(text)
    else:
        print(text)


def _write(name: str, record: SweepRecord, out_dir: Path) -> Path:
    from readiness.reports import RenderOptions, renderer, write

    chosen = renderer(name)
    return write(chosen.render(record, RenderOptions()), out_dir / chosen.filename)


def _run_with_progress(plan: Plan, ctx: Any, workers: int) -> Any:
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from readiness.engine import run_plan
    from readiness.results import Result

    counts: Counter[str] = Counter()
    done: set[str] = set()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("sweeping", total=len(plan.probes))

        def on_result(result: Result) -> None:
            counts[result.status.value] += 1
            done.add(result.probe)
            progress.update(
                task,
                completed=len(done),
                description=" ".join(
                    f"{s} {counts[s]}" for s in ("pass", "warn", "fail", "error", "skip")
                ),
            )

        return run_plan(plan, ctx, on_result, workers=workers)


def _print_plan(plan: Plan) -> None:
    from collections import Counter, defaultdict

    by_family: dict[str, list[Any]] = defaultdict(list)
    for probe in plan.probes:
        by_family[probe.family].append(probe)
    print(
        f"Plan: {len(plan.probes)} probes for {len(plan.staff)} staff, "
        f"go-live {plan.go_live.date().isoformat()} (dry run: nothing is contacted)"
    )
    for fam in plan.families:
        probes = by_family.get(fam.name, [])
        checks = Counter(c for p in probes for c in p.checks)
        print(
            f"\n{fam.name}: {len(probes)} probes, checking "
            + ", ".join(f"{c} x{n}" for c, n in sorted(checks.items()))
        )
        targets = Counter(p.server or p.target for p in probes)
        for target, n in sorted(targets.items()):
            print(f"  {target}: {n}")
    costly = [p for p in plan.probes if p.lockout_cost]
    total = sum(p.lockout_cost for p in costly)
    print(f"\nAuthentication attempts this sweep may spend: {total}")
    for probe in costly:
        print(
            f"  {probe.account}: up to {probe.lockout_cost} attempt(s) via "
            f"{probe.server or probe.target} ({probe.check})"
        )
    for failed in plan.failed:
        print(f"\nPLANNING ERROR: {failed.summary}")


if __name__ == "__main__":
    sys.exit(main())
