"""The engine with in-process families (pure scheduling logic, no servers involved):
batching, isolation of a family that raises or hangs, deterministic order, filters,
roll-up to per-person verdicts and the one place exit codes are computed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from readiness.engine import Selection, make_plan, run_plan
from readiness.family import CheckFamily, PlanContext, Probe, RunContext
from readiness.inventory import Inventory, load
from readiness.results import Result, Status, Verdict, exit_code
from readiness.sweep import SweepReport

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"


class PerPerson(CheckFamily):
    """Plans one probe per person, batched in one call; fails the people it is told to."""

    name = "perperson"

    def __init__(self, failing: Iterable[str] = (), erroring: Iterable[str] = ()) -> None:
        self.failing, self.erroring = set(failing), set(erroring)
        self.calls: list[int] = []

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        for person in ctx.staff:
            yield Probe(self.name, "perperson.ok", person.key, "directory", batch="all")

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        self.calls.append(len(probes))
        for probe in probes:
            person = probe.subject.split("/")[-1]
            status = (Status.FAIL if person in self.failing
                      else Status.ERROR if person in self.erroring else Status.PASS)
            yield probe.result(status, f"{person} is {status}", root_cause="cause-" + status)


class Exploding(CheckFamily):
    name = "exploding"

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        yield Probe(self.name, "exploding.boom", "organisations:north", "x", timeout=1)

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        raise RuntimeError("library blew up")


class Hanging(CheckFamily):
    name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        yield Probe(self.name, "hanging.wait", "organisations:south", "y", timeout=0.01)

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        self.release.wait(60)
        return []


def _ctx(inv: Inventory, tmp_path: Path) -> RunContext:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    return RunContext(inv, go_live=inv.go_live, clock=lambda: now,
                      secrets_dir=tmp_path, state_dir=tmp_path)


def test_batched_family_gets_one_call_and_results_roll_up(tmp_path: Path) -> None:
    fam = PerPerson(failing={"S0001"}, erroring={"S0002"})
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    assert fam.calls == [3]
    assert [r.subject for r in results] == sorted(r.subject for r in results)
    report = SweepReport(inv, plan.staff, results, dt.datetime.now(dt.UTC),
                         dt.datetime.now(dt.UTC), inv.go_live)
    verdicts = {v.person.id: v.verdict for v in report.verdicts}
    assert verdicts == {"N0001": Verdict.READY, "S0001": Verdict.NOT_READY,
                        "S0002": Verdict.UNKNOWN}
    assert report.exit_code == 1
    blockers = report.blockers()
    assert blockers[0].status is Status.FAIL and blockers[0].people == 1
    data = report.to_json()
    assert data["schema_version"] == 1
    assert data["staff_verdicts"] == {"not ready": 1, "ready": 1, "unknown": 1}


def test_a_raising_family_gives_errors_and_the_sweep_goes_on(tmp_path: Path) -> None:
    good, bad = PerPerson(), Exploding()
    inv = load(MINIMAL, [good, bad])
    results = run_plan(make_plan(inv, [good, bad], Selection()), _ctx(inv, tmp_path))
    boom = [r for r in results if r.family == "exploding"]
    assert len(boom) == 1 and boom[0].status is Status.ERROR
    assert "RuntimeError: library blew up" in boom[0].summary
    assert sum(r.status is Status.PASS for r in results) == 3


def test_a_hanging_family_is_abandoned_at_its_deadline(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    hanging = Hanging()
    inv = load(MINIMAL, [hanging])
    plan = make_plan(inv, [hanging], Selection())
    monkeypatch.setattr("readiness.engine._BatchRunner.BUDGET_SLACK", 0.2)
    started = time.monotonic()
    results = run_plan(plan, _ctx(inv, tmp_path))
    hanging.release.set()
    assert time.monotonic() - started < 5
    assert [r.status for r in results] == [Status.ERROR]
    assert "did not finish" in results[0].summary


def test_filters_select_staff_and_what_they_need(tmp_path: Path) -> None:
    fam = PerPerson()
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection(organisations=frozenset({"south"}),
                                           roles=frozenset({"manager"})))
    assert [p.subject for p in plan.probes] == ["staff:south/S0002"]
    plan = make_plan(inv, [fam], Selection(tags=frozenset({"migrated"})))
    assert [p.subject for p in plan.probes] == ["staff:south/S0001"]
    plan = make_plan(inv, [fam], Selection(families=frozenset({"other"})))
    assert plan.probes == []


@pytest.mark.parametrize(("statuses", "code"), [
    ([], 0), ([Status.PASS, Status.WARN, Status.SKIP], 0), ([Status.PASS, Status.ERROR], 3),
    ([Status.ERROR, Status.FAIL], 1),
])
def test_exit_codes(statuses: list[Status], code: int) -> None:
    results = [Result("s", "c", str(i), "local", s, "x") for i, s in enumerate(statuses)]
    assert exit_code(results) == code


class FromSouthOnly(CheckFamily):
    """A shared object that fails only when probed from the south site's vantage point."""

    name = "fromsouth"

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        for vantage in ("vp-north", "vp-south"):
            yield Probe(self.name, "fromsouth.reach", "organisations:north", "share", vantage)
        # Run from the sweeping machine, but through the south site's resolvers: its view.
        yield Probe(self.name, "fromsouth.resolve", "organisations:north", "share", "local",
                    sites=("south-hq",))

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        for probe in probes:
            status = Status.PASS if probe.vantage == "vp-north" else Status.FAIL
            yield probe.result(status, f"from {probe.vantage}")


def test_a_result_counts_only_for_staff_at_sites_using_its_vantage(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(
        "programme: {name: x, go_live: 2027-01-04}\n"
        "organisations: {north: {name: N}}\n"
        "vantage_points:\n"
        "  vp-north: {kind: ssh, host: jump-n.test, user: r, key: file:k}\n"
        "  vp-south: {kind: ssh, host: jump-s.test, user: r, key: file:k}\n"
        "sites:\n"
        "  north-hq: {organisation: north, vantage_points: [vp-north]}\n"
        "  south-hq: {organisation: north, vantage_points: [vp-south]}\n"
        "staff:\n"
        "  - {id: N1, organisation: north, site: north-hq}\n"
        "  - {id: S1, organisation: north, site: south-hq}\n",
        encoding="utf-8")
    fam = FromSouthOnly()
    inv = load(tmp_path, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    report = SweepReport(inv, plan.staff, results, dt.datetime.now(dt.UTC),
                         dt.datetime.now(dt.UTC), inv.go_live)
    assert {v.person.id: v.verdict for v in report.verdicts} == {
        "N1": Verdict.READY, "S1": Verdict.NOT_READY}
    assert all(b.people == 1 for b in report.blockers())
    assert report.to_json()["results"][0]["sites"] in ([], ["south-hq"])


def test_a_person_nothing_checked_is_unknown_not_ready(tmp_path: Path) -> None:
    inv = load(MINIMAL, [])
    report = SweepReport(inv, inv.staff, [], dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC),
                         inv.go_live)
    assert {v.verdict for v in report.verdicts} == {Verdict.UNKNOWN}
    assert report.exit_code == 0


class PassThenRaise(CheckFamily):
    """Yields the first assertion of the first person, then crashes."""

    name = "passthenraise"

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        for person in ctx.staff:
            yield Probe(self.name, "passthenraise.ok", person.key, "d", batch="all")

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        yield probes[0].result(Status.PASS, "account exists")
        raise RuntimeError("crashed before the other assertions")


def test_a_crash_mid_probe_leaves_that_probe_undetermined(tmp_path: Path) -> None:
    fam = PassThenRaise()
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    first = [r for r in results if r.subject == plan.probes[0].subject]
    assert {r.status for r in first} == {Status.PASS, Status.ERROR} and len(first) == 2
    report = SweepReport(inv, plan.staff, results, dt.datetime.now(dt.UTC),
                         dt.datetime.now(dt.UTC), inv.go_live)
    assert {v.verdict for v in report.verdicts} == {Verdict.UNKNOWN}
