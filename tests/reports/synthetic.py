"""Sweep records without a lab, for renderer, history and gate tests and benchmarks.

The real plan (no I/O) of an inventory and the real roll-up, with synthetic results
instead of running the probes (one per check id a probe may report, as families do):
every probe passes except a seeded share, which fails with one of a few root causes (so
blockers group as in a real sweep). What a family would have found is invented;
everything downstream of the results is real.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

from readiness.engine import Plan, make_plan
from readiness.inventory import Selection, load
from readiness.record import SweepMeta, SweepRecord
from readiness.record.rollup import build
from readiness.registry import load_families
from readiness.reports import RenderOptions, renderer
from readiness.results import Result, Status
from readiness.sharding import share

CAUSES = (
    ("locked", "the account is locked", "unlock the account in the directory", "Identity team"),
    ("expired", "the password has expired", "reset the password", "Identity team"),
    ("blocked", "the connection is refused", "open the firewall rule", "Network team"),
    ("dns", "the name does not resolve", "add the DNS record", "DNS team"),
)


def make_record(
    inventory: Path,
    *,
    fail_rate: float = 0.02,
    seed: int = 1,
    sweep_id: str = "synthetic-1",
    finished_at: dt.datetime | None = None,
    broken: frozenset[str] = frozenset(),
    selection: Selection | None = None,
    partial: str = "",
) -> SweepRecord:
    """A record of ``inventory``: ``fail_rate`` of probes fail (seeded), and so does
    every probe whose id is in ``broken``."""
    families = load_families()
    inv = load(inventory, families)
    chosen = selection or Selection()
    plan = make_plan(inv, families, chosen)
    rng = random.Random(seed)
    results: list[Result] = []
    for probe in plan.probes:
        if probe.id in broken or rng.random() < fail_rate:
            cause, summary, hint, owner = CAUSES[rng.randrange(len(CAUSES))]
            results.append(
                probe.result(
                    Status.FAIL,
                    f"{probe.subject}: {summary}",
                    expected="ready",
                    observed=summary,
                    impact="the person cannot work on day 1",
                    hint=hint,
                    owner=owner,
                    root_cause=f"synthetic|{cause}",
                )
            )
        else:
            results.append(probe.result(Status.PASS, f"{probe.check} passed for {probe.subject}"))
        # One result per property a real family reports (identity: usable, password...).
        results += [
            probe.result(Status.PASS, f"{check} passed for {probe.subject}", check=check)
            for check in probe.also
        ]
    # Result ids are unique in a sweep (the engine holds families to it): a property two
    # probes of one subject both name (the telephony family's) is reported once.
    results = list({r.id: r for r in reversed(results)}.values())[::-1]
    finished = finished_at or dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    meta = SweepMeta(
        sweep_id=sweep_id,
        tool_version="0.1.0",
        programme=inv.programme.name,
        go_live=inv.go_live,
        go_live_source="programme",
        inventory=str(inventory),
        fingerprint=inv.fingerprint(),
        selection=chosen.to_json(),
        families=tuple(f.name for f in plan.families),
        started_at=finished - dt.timedelta(seconds=30),
        finished_at=finished,
        partial=partial,
        timings={"plan_s": 0.1, "run_s": 1.0},
    )
    return build(inv, plan.staff, results, meta, families)


def shard_files(folder: Path, record: SweepRecord, plan: Plan, count: int) -> list[Path]:
    """``record``'s results split as ``sweep --shard K/N`` runs would have written them."""
    paths = []
    for k in range(1, count + 1):
        mine = {p.id for p in share(plan, k, count).probes}
        meta = dataclasses.replace(
            record.meta,
            sweep_id=f"shard-{k}",
            selection={**record.meta.selection, "shard": [f"{k}/{count}"]},
            partial=f"shard {k}/{count}",
        )
        part = dataclasses.replace(
            record, meta=meta, results=tuple(r for r in record.results if r.probe in mine)
        )
        path = folder / f"shard{k}.json"
        path.write_text(renderer("json").render(part, RenderOptions()), "utf-8")
        paths.append(path)
    return paths
