"""Sharded plans (whole batches and pilot accounts, deterministic, disjoint, complete)
and `readiness merge`'s checks, on the example inventory's real plan (no I/O)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.engine import Plan, make_plan
from readiness.inventory import Selection, load
from readiness.record import SweepRecord
from readiness.registry import load_families
from readiness.results import ExitCode
from readiness.sharding import parse, share, units
from tests.reports.conftest import EXAMPLE
from tests.reports.synthetic import make_record, shard_files


@pytest.fixture(scope="module")
def plan() -> Plan:
    families = load_families()
    return make_plan(load(EXAMPLE, families), families, Selection())


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shares_are_disjoint_complete_and_whole(plan: Plan, count: int) -> None:
    shares = [share(plan, k, count) for k in range(1, count + 1)]
    ids = [p.id for s in shares for p in s.probes]
    assert sorted(ids) == sorted(p.id for p in plan.probes)  # each probe exactly once
    where = {p.id: k for k, s in enumerate(shares) for p in s.probes}
    for unit in units(plan.probes):
        assert len({where[p.id] for p in unit}) == 1  # a unit is never split
    batches: dict[tuple[str, str], set[int]] = {}
    accounts: dict[str, set[int]] = {}
    for p in plan.probes:
        batches.setdefault((p.family, p.batch or p.id), set()).add(where[p.id])
        if p.account:
            accounts.setdefault(p.account, set()).add(where[p.id])
    assert all(len(v) == 1 for v in batches.values())
    assert all(len(v) == 1 for v in accounts.values())
    # The same plan gives the same shares (every CI machine agrees).
    again = [share(plan, k, count) for k in range(1, count + 1)]
    assert [[p.id for p in s.probes] for s in again] == [[p.id for p in s.probes] for s in shares]


def test_units_join_batches_sharing_a_pilot_account(plan: Plan) -> None:
    probes = list(plan.probes)
    pilot = next(p for p in probes if p.account)
    other = next(p for p in probes if p.batch and p.batch != pilot.batch and not p.account)
    twin = dataclasses.replace(other, account=pilot.account, check=other.check)
    grouped = units([*probes, twin])
    unit = next(u for u in grouped if twin in u)
    assert pilot in unit and other in unit


@pytest.mark.parametrize("text", ["", "1", "0/2", "3/2", "a/b", "1/0"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)
    assert parse("2/4") == (2, 4)


def test_merge_equals_the_whole_and_refuses_bad_sets(tmp_path: Path, plan: Plan) -> None:
    whole = make_record(EXAMPLE, fail_rate=0.02, seed=4, sweep_id="whole")
    files = shard_files(tmp_path, whole, plan, 3)
    out, state = tmp_path / "merged", tmp_path / "state"
    args = ["merge", str(EXAMPLE), *map(str, files), "--out", str(out), "--state-dir", str(state)]
    assert main(args) == whole.exit_code
    merged = SweepRecord.from_json(json.loads((out / "results.json").read_text("utf-8")))
    assert [(r.id, r.status) for r in merged.results] == [(r.id, r.status) for r in whole.results]
    assert [(p.key, p.verdict) for p in merged.people] == [(p.key, p.verdict) for p in whole.people]
    assert merged.blockers == whole.blockers and merged.meta.partial == ""
    base = ["merge", str(EXAMPLE), "--state-dir", str(state)]
    assert main([*base, str(files[0]), str(files[1])]) == ExitCode.INVALID  # 3/3 missing
    assert main([*base, str(files[0]), str(files[0]), str(files[1]), str(files[2])]) == 2
    assert main([*base, str(out / "results.json")]) == ExitCode.INVALID  # not a shard
    changed = tmp_path / "changed"
    shutil.copytree(EXAMPLE, changed)
    (changed / "roles.yaml").write_text(
        (changed / "roles.yaml").read_text("utf-8") + "\n# edited\n", "utf-8"
    )
    assert main(["merge", str(changed), *map(str, files), "--state-dir", str(state)]) == 2
