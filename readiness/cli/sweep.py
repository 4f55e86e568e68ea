"""``readiness sweep``: plan, run, roll up, show and write the reports."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import (
    UsageError,
    add_secrets_dir,
    color,
    families,
    load_inventory,
    positive,
    preflight,
    state_dir,
)
from readiness.cli.finish import add_options, finish, show_and_write
from readiness.cli.interrupt import interruptible, reason
from readiness.cli.shards import share
from readiness.results import ExitCode

if TYPE_CHECKING:
    from readiness.engine import Plan
    from readiness.family import CheckFamily
    from readiness.inventory import Inventory, Selection


def register(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run the checks and report who is Day-1 ready")
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    p.add_argument(
        "--out",
        type=Path,
        help="write results.json and staff.csv (one row per person) into this folder",
    )
    add_secrets_dir(p)
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
        ("staff", "staff member: staff id, org/id, username or mail address"),
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
        help="check the secrets and files the inventory names, then list what would be "
        "probed and each pilot account's lockout cost; no network I/O",
    )
    p.add_argument(
        "--go-live",
        type=go_live_arg,
        metavar="WHEN",
        help="judge expiry as of this moment instead of the programme's go-live: "
        "YYYY-MM-DD (start of the day, UTC), or a date-time with a time zone "
        "(2027-01-04T07:00+00:00, or '2027-01-04T07:00 Europe/London')",
    )
    p.add_argument("--workers", type=positive, default=8, help="batches run at once (default 8)")
    p.add_argument(
        "--server-limit", type=positive, default=8, help="concurrent probes per server (default 8)"
    )
    p.add_argument(
        "--deadline",
        type=positive,
        metavar="SECONDS",
        help="finish within this many seconds whatever the servers do: what is not done by "
        "then is reported as not determined (default: each check's own timeouts)",
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    add_options(p)
    p.set_defaults(handler=cmd_sweep)


def go_live_arg(text: str) -> dt.datetime:
    """``--go-live``: what ``programme.go_live`` accepts."""
    from readiness.inventory.models import go_live_moment

    try:
        return go_live_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _selection(
    ns: argparse.Namespace, inventory: Inventory, families: Sequence[CheckFamily[Any]]
) -> Selection:
    """The filters given; a value that matches nothing is a usage error (a CI gate must
    never go green on "Staff in scope: 0")."""
    from readiness.inventory import Selection

    selection = Selection(
        frozenset(ns.org),
        frozenset(ns.site),
        frozenset(ns.role),
        frozenset(ns.staff),
        frozenset(ns.family),
        frozenset(ns.tag),
    )
    problems = selection.problems(inventory, [f.name for f in families])
    if problems:
        raise UsageError("\n".join(problems))
    return selection


def _out_dir(out: Path | None) -> None:
    """Refuse an --out folder that cannot be written before the sweep starts."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"--out {out}: this is a file, not a folder; give a folder for the reports"
        )
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)  # reports name people
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create this folder: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: this folder is not writable")


def cmd_sweep(ns: argparse.Namespace) -> int:
    import gc
    import time
    import uuid

    from readiness import __version__
    from readiness.engine import make_plan, run_plan
    from readiness.family import RunContext
    from readiness.inventory.optouts import opt_outs
    from readiness.record import SweepMeta
    from readiness.record.nogc import paused_gc
    from readiness.record.rollup import build
    from readiness.results import Result

    _out_dir(ns.out)
    installed = families()
    inventory = load_inventory(ns.inventory, installed)
    selection = _selection(ns, inventory, installed)
    checked = preflight(inventory, ns.secrets_dir)
    go_live = ns.go_live or inventory.go_live
    started_plan = time.perf_counter()
    plan = make_plan(inventory, installed, selection, go_live)
    plan, shard = share(plan, ns.shard)
    plan_s = time.perf_counter() - started_plan
    # The inventory and the plan live until the end (millions of objects at 10,000 staff
    # per organisation): the cycle collector need not walk them again during the run.
    gc.freeze()
    if ns.dry_run:
        print(checked[:1].upper() + checked[1:])
        _print_plan(plan)
        return ExitCode.of_statuses(r.status for r in plan.failed)
    ctx = RunContext(
        inventory,
        go_live=go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=ns.secrets_dir or inventory.root,
        state_dir=state_dir(ns.state_dir),
        server_limit=ns.server_limit,
    )
    started = dt.datetime.now(dt.UTC)
    started_run = time.perf_counter()
    collected: dict[str, Result] = {}  # what a Ctrl-C or SIGTERM leaves us
    partial = ""
    try:
        with interruptible():
            if ns.no_progress or not color():
                results = run_plan(
                    plan,
                    ctx,
                    lambda r: collected.__setitem__(r.id, r),
                    ns.workers,
                    deadline=ns.deadline,
                )
            else:
                results = _run_with_progress(plan, ctx, ns.workers, collected, ns.deadline)
    except KeyboardInterrupt as exc:
        results = list(collected.values())
        partial = reason(exc, len(results))
    finally:
        ctx.close()
    run_s = time.perf_counter() - started_run
    meta = SweepMeta(
        sweep_id=ctx.sweep_id or uuid.uuid4().hex,
        tool_version=__version__,
        programme=inventory.programme.name,
        go_live=go_live,
        go_live_source="--go-live" if ns.go_live else "programme",
        programme_go_live=inventory.go_live if ns.go_live else None,
        inventory=str(ns.inventory),
        fingerprint=inventory.fingerprint(),
        selection={**selection.to_json(), **({"shard": [shard]} if shard else {})},
        families=tuple(f.name for f in plan.families),
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        timings={"plan_s": round(plan_s, 3), "run_s": round(run_s, 3)},
        partial="; ".join(x for x in (shard and f"shard {shard}", partial) if x),
        opt_outs=opt_outs(inventory),
    )
    with paused_gc():  # the record, its renderings and its storing: no cycles, only size
        record = build(inventory, plan.staff, results, meta, installed)
        show_and_write(record, ns.out)
        code = finish(ns, record)
    return ExitCode.INTERRUPTED if partial else code


def _run_with_progress(
    plan: Plan, ctx: Any, workers: int, collected: dict[str, Any], deadline: int | None
) -> Any:
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
            collected[result.id] = result
            counts[result.status.value] += 1
            done.add(result.probe)
            progress.update(
                task,
                completed=len(done),
                description=" ".join(
                    f"{s} {counts[s]}" for s in ("pass", "warn", "fail", "error", "skip")
                ),
            )

        return run_plan(plan, ctx, on_result, workers=workers, deadline=deadline)


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
