"""Inventories for the mail tests and the family run the way the engine runs it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from readiness.engine import make_plan, run_plan
from readiness.family import RunContext
from readiness.inventory import Inventory, Selection, load
from readiness.results import Result
from readiness_checks.mail import family

GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)


def inventory(
    folder: Path,
    resolver: str,
    ca: Path,
    domains: Mapping[str, Mapping[str, Any]],
    staff: Sequence[Mapping[str, Any]] = (),
) -> Inventory:
    """An inventory of one organisation with these mail domains (each ``{"mail": block}``,
    checked centrally) and these staff (role ``staff`` needs a mailbox)."""
    doc = {
        "programme": {"name": "T", "go_live": "2027-01-04", "resolvers": [resolver]},
        "organisations": {"org": {"name": "Org", "ca_bundle": str(ca)}},
        "sites": {"hq": {"organisation": "org"}},
        "roles": {"staff": {"mailbox": True}},
        "mail_domains": {
            d: {"owner": "Mail team", "organisation": "org", "checked_from": "central", **v}
            for d, v in domains.items()
        },
        "staff": [{"organisation": "org", "site": "hq", "roles": ["staff"], **s} for s in staff],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(json.dumps(doc))  # JSON is YAML
    return load(folder, [family])


def sweep(inv: Inventory, state: Path) -> dict[str, Result]:
    """Plan and run the mail family; results by id."""
    ctx = RunContext(
        inv, go_live=GO_LIVE, clock=lambda: GO_LIVE, secrets_dir=inv.root, state_dir=state
    )
    plan = make_plan(inv, [family], Selection(), GO_LIVE)
    try:
        results = run_plan(plan, ctx)
    finally:
        ctx.close()
    assert not plan.failed
    assert {r.probe for r in results} == {p.id for p in plan.probes}
    return {r.id: r for r in results}


def find(results: Mapping[str, Result], subject: str, check: str, target: str) -> Result:
    key = f"{subject}|{check}|{target}|local"
    assert key in results, f"no result {key}; have:\n" + "\n".join(sorted(results))
    return results[key]
