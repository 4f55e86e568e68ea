"""Sharded sweeps: ``sweep --shard K/N`` runs a deterministic share of the plan (see
:mod:`readiness.sharding`); ``readiness merge`` combines the shards' ``results.json``
into one sweep (checked complete and consistent, rolled up again from the inventory),
stored in history, gated and reported like any sweep."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import UsageError, families, load_inventory
from readiness.cli.finish import add_options, finish, show_and_write
from readiness.cli.history import add_state_dir

if TYPE_CHECKING:
    from readiness.engine import Plan
    from readiness.record import SweepRecord


def share(plan: Plan, text: str | None) -> tuple[Plan, str]:
    """This machine's share of ``plan`` and its label ``K/N`` ('' when not sharded)."""
    if not text:
        return plan, ""
    from readiness.sharding import parse
    from readiness.sharding import share as take

    try:
        index, count = parse(text)
    except ValueError as exc:
        raise UsageError(f"--shard {exc}") from None
    return take(plan, index, count), f"{index}/{count}"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "merge",
        help="combine the results.json of `sweep --shard K/N` runs into one sweep",
        description="Every shard 1..N exactly once, of the same inventory, filters and "
        "go-live; the inventory is read again for the roll-up (who needs what).",
    )
    p.add_argument("inventory", type=Path, help="the inventory the shards swept")
    p.add_argument(
        "shards",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="each shard's results.json (or the folder holding it)",
    )
    p.add_argument("--out", type=Path, help="write results.json and staff.csv here")
    add_state_dir(p)
    add_options(p)
    p.set_defaults(handler=cmd_merge, shard=None)


def _read(path: Path) -> SweepRecord:
    from readiness.record import SweepRecord

    file = path / "results.json" if path.is_dir() else path
    try:
        return SweepRecord.from_json(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{file}: not a readable results.json: {exc}") from None


def check(records: Sequence[SweepRecord], fingerprint: str) -> int:
    """N, once the shards are known to be 1..N of one sweep; UsageError otherwise."""
    labels = []
    for r in records:
        found = r.meta.selection.get("shard") or []
        if len(found) != 1:
            raise UsageError(f"sweep {r.meta.sweep_id[:12]} is not a shard (sweep --shard K/N)")
        labels.append(found[0])
    counts = {label.partition("/")[2] for label in labels}
    if len(counts) != 1:
        raise UsageError(f"shards of different splits: {', '.join(sorted(labels))}")
    count = int(counts.pop())
    wanted = {f"{k}/{count}" for k in range(1, count + 1)}
    if sorted(labels) != sorted(wanted):
        missing = sorted(wanted - set(labels))
        extra = sorted(label for label in set(labels) if labels.count(label) > 1)
        raise UsageError(
            "shards are not each of 1..N once: "
            + "; ".join(
                x
                for x in (
                    missing and f"missing {', '.join(missing)}",
                    extra and f"twice {', '.join(extra)}",
                )
                if x
            )
        )
    first = records[0].meta
    for r in records:
        m = r.meta
        if m.fingerprint != fingerprint:
            raise UsageError(
                f"shard {m.selection['shard'][0]} swept another version of the "
                "inventory (fingerprints differ): sweep every shard from one commit"
            )
        if (m.go_live, m.families, _filters(m.selection)) != (
            first.go_live,
            first.families,
            _filters(first.selection),
        ):
            raise UsageError(
                f"shard {m.selection['shard'][0]} was swept with other options "
                "(go-live, families or filters) than the others"
            )
    return count


def _filters(selection: Any) -> dict[str, list[str]]:
    return {k: list(v) for k, v in selection.items() if k != "shard"}


def cmd_merge(ns: argparse.Namespace) -> int:
    import time

    from readiness import __version__
    from readiness.inventory import Selection
    from readiness.record import SweepMeta
    from readiness.record.nogc import paused_gc
    from readiness.record.rollup import build

    started = time.perf_counter()
    with paused_gc():
        records = [_read(path) for path in ns.shards]
    installed = families()
    inventory = load_inventory(ns.inventory, installed)
    count = check(records, inventory.fingerprint())
    results: dict[str, Any] = {}
    for r in records:
        for result in r.results:
            if result.id in results:
                raise UsageError(f"the result {result.id} is in two shards")
            results[result.id] = result
    first = records[0].meta
    selection = Selection.from_json(_filters(first.selection))
    staff = [p for p in inventory.staff if selection.wants(p)]
    interrupted = [r.meta.partial.split("; ", 1)[1] for r in records if "; " in r.meta.partial]
    meta = SweepMeta(
        sweep_id=uuid.uuid4().hex,
        tool_version=__version__,
        programme=first.programme,
        go_live=first.go_live,
        go_live_source=first.go_live_source,
        inventory=str(ns.inventory),
        fingerprint=first.fingerprint,
        selection=_filters(first.selection),
        families=first.families,
        opt_outs=first.opt_outs,
        started_at=min(r.meta.started_at for r in records),
        finished_at=max(r.meta.finished_at for r in records),
        partial="; ".join(interrupted),
        timings={
            "plan_s": max(r.meta.timings.get("plan_s", 0.0) for r in records),
            "run_s": max(r.meta.timings.get("run_s", 0.0) for r in records),
            "shards": float(count),
            "merge_s": round(time.perf_counter() - started, 3),
        },
    )
    with paused_gc():
        record = build(inventory, staff, list(results.values()), meta, installed)
    show_and_write(record, ns.out)
    print(f"Merged {count} shards: {len(results)} results, {len(record.people)} staff")
    return finish(ns, record)
