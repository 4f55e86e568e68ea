"""The engine with in-process families (pure scheduling logic, no servers involved):
batching, isolation of a family that raises or hangs, the engine contract, deterministic
order, filters, roll-up to per-person verdicts and the one place exit codes are
computed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from readiness.engine import Plan, make_plan, run_plan
from readiness.family import (
    BatchAbandoned,
    CheckFamily,
    CheckSpec,
    PlanContext,
    Probe,
    RunContext,
)
from readiness.inventory import Inventory, NeedKind, Selection, load
from readiness.record import SweepMeta, SweepRecord
from readiness.record.rollup import build
from readiness.results import ExitCode, Result, Status, Verdict

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def record(inv: Inventory, plan: Plan, results: Sequence[Result]) -> SweepRecord:
    meta = SweepMeta(
        "s1",
        "0",
        inv.programme.name,
        inv.go_live,
        "programme",
        "inv",
        "",
        {},
        tuple(f.name for f in plan.families),
        NOW,
        NOW,
    )
    return build(inv, plan.staff, results, meta, plan.families)


class PerPerson(CheckFamily[None]):
    """Plans one probe per person, batched in one call; fails the people it is told to.
    Verifies every need (so that people can be ready)."""

    name = "perperson"
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec("perperson.ok", "a person is fine", NeedKind.ACCOUNT),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset(NeedKind)

    def __init__(self, failing: Iterable[str] = (), erroring: Iterable[str] = ()) -> None:
        self.failing, self.erroring = set(failing), set(erroring)
        self.calls: list[int] = []

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        for person in ctx.staff:
            yield Probe(self.name, "perperson.ok", person.key, "directory", None, batch="all")

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        self.calls.append(len(probes))
        for probe in probes:
            person = probe.subject.split("/")[-1]
            status = (
                Status.FAIL
                if person in self.failing
                else Status.ERROR
                if person in self.erroring
                else Status.PASS
            )
            # The minimal inventory's people need a mailbox and some a phone: say so.
            for need in ("account", "mailbox", "phone"):
                yield probe.result(
                    status if need == "account" else Status.PASS,
                    f"{person} is {status}",
                    target=need,
                    need=need,
                    root_cause="cause-" + status,
                )


class Exploding(CheckFamily[None]):
    name = "exploding"
    checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("exploding.boom", "boom"),)

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        yield Probe(self.name, "exploding.boom", "organisations:north", "x", None, timeout=1)

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        raise RuntimeError("library blew up")


class Hanging(CheckFamily[None]):
    name = "hanging"
    checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("hanging.wait", "waits"),)

    def __init__(self) -> None:
        self.release = threading.Event()

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        yield Probe(self.name, "hanging.wait", "organisations:south", "y", None, timeout=0.01)

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        self.release.wait(60)
        return []


def _ctx(inv: Inventory, tmp_path: Path) -> RunContext:
    return RunContext(
        inv, go_live=inv.go_live, clock=lambda: NOW, secrets_dir=tmp_path, state_dir=tmp_path
    )


def test_batched_family_gets_one_call_and_results_roll_up(tmp_path: Path) -> None:
    fam = PerPerson(failing={"S0001"}, erroring={"S0002"})
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    assert fam.calls == [3]
    assert [r.subject for r in results] == sorted(r.subject for r in results)
    sweep = record(inv, plan, results)
    verdicts = {p.id: p.verdict for p in sweep.people}
    assert verdicts == {
        "N0001": Verdict.READY,
        "S0001": Verdict.NOT_READY,
        "S0002": Verdict.UNKNOWN,
    }
    assert sweep.exit_code is ExitCode.FAILED
    # The error (the sweep could not judge S0002) is its own problem: it comes first.
    assert [(b.status, b.people, b.sweep) for b in sweep.blockers] == [
        (Status.ERROR, 1, True),
        (Status.FAIL, 1, False),
    ]
    data = sweep.to_json()
    assert data["schema_version"] == 2
    assert data["staff_verdicts"] == {"not ready": 1, "ready": 1, "unknown": 1}


def test_a_raising_family_gives_errors_and_the_sweep_goes_on(tmp_path: Path) -> None:
    good, bad = PerPerson(), Exploding()
    inv = load(MINIMAL, [good, bad])
    results = run_plan(make_plan(inv, [good, bad], Selection()), _ctx(inv, tmp_path))
    boom = [r for r in results if r.family == "exploding"]
    assert len(boom) == 1 and boom[0].status is Status.ERROR
    assert "RuntimeError: library blew up" in boom[0].summary
    assert sum(r.status is Status.PASS for r in results) == 9


def test_a_hanging_family_is_abandoned_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    plan = make_plan(
        inv, [fam], Selection(organisations=frozenset({"south"}), roles=frozenset({"manager"}))
    )
    assert [p.subject for p in plan.probes] == ["staff:south/S0002"]
    plan = make_plan(inv, [fam], Selection(tags=frozenset({"migrated"})))
    assert [p.subject for p in plan.probes] == ["staff:south/S0001"]
    plan = make_plan(inv, [fam], Selection(families=frozenset({"other"})))
    assert plan.probes == []
    # --staff takes a staff id, org/id, a username or a mail address.
    for handle in ("N0001", "north/N0001", "anibhriain", "aoife.nibhriain@shared.test"):
        plan = make_plan(inv, [fam], Selection(staff=frozenset({handle})))
        assert [p.subject for p in plan.probes] == ["staff:north/N0001"], handle


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([], ExitCode.OK),
        ([Status.PASS, Status.WARN, Status.SKIP], ExitCode.OK),
        ([Status.PASS, Status.ERROR], ExitCode.UNKNOWN),
        ([Status.ERROR, Status.FAIL], ExitCode.FAILED),
    ],
)
def test_exit_codes(statuses: list[Status], code: ExitCode) -> None:
    assert ExitCode.of_statuses(statuses) is code


class FromSouthOnly(CheckFamily[None]):
    """A shared object that fails only when probed from the south site's vantage point."""

    name = "fromsouth"
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec("fromsouth.reach", "reach"),
        CheckSpec("fromsouth.resolve", "resolve"),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset(NeedKind)

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        for vantage in ("vp-north", "vp-south"):
            yield Probe(
                self.name, "fromsouth.reach", "organisations:north", "share", None, vantage=vantage
            )
        # Run from the sweeping machine, but through the south site's resolvers: its view.
        yield Probe(
            self.name,
            "fromsouth.resolve",
            "organisations:north",
            "share",
            None,
            sites=("south-hq",),
        )
        for person in ctx.staff:
            yield Probe(self.name, "fromsouth.reach", person.key, "account", None)

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        for probe in probes:
            status = Status.FAIL if probe.vantage == "vp-south" else Status.PASS
            yield probe.result(status, f"from {probe.vantage}", need="account")


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
        encoding="utf-8",
    )
    fam = FromSouthOnly()
    inv = load(tmp_path, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    sweep = record(inv, plan, results)
    assert {p.id: p.verdict for p in sweep.people} == {"N1": Verdict.READY, "S1": Verdict.NOT_READY}
    assert all(b.people == 1 for b in sweep.blockers)


def test_a_person_nothing_checked_is_unknown_not_ready(tmp_path: Path) -> None:
    inv = load(MINIMAL, [])
    plan = make_plan(inv, [], Selection())
    sweep = record(inv, plan, [])
    assert {p.verdict for p in sweep.people} == {Verdict.UNKNOWN}
    assert sweep.exit_code is ExitCode.OK
    assert all(p.unverified for p in sweep.people)


class PassThenRaise(CheckFamily[None]):
    """Yields the first assertion of the first person, then crashes."""

    name = "passthenraise"
    checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("passthenraise.ok", "ok"),)

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        for person in ctx.staff:
            yield Probe(self.name, "passthenraise.ok", person.key, "d", None, batch="all")

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        yield probes[0].result(Status.PASS, "account exists", target="exists")
        raise RuntimeError("crashed before the other assertions")


def test_a_crash_mid_probe_leaves_that_probe_undetermined(tmp_path: Path) -> None:
    fam = PassThenRaise()
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    results = run_plan(plan, _ctx(inv, tmp_path))
    first = [r for r in results if r.subject == plan.probes[0].subject]
    assert {r.status for r in first} == {Status.PASS, Status.ERROR} and len(first) == 2
    sweep = record(inv, plan, results)
    assert {p.verdict for p in sweep.people} == {Verdict.UNKNOWN}


# ----------------------------------------------------------------------------- contract


class Unruly(CheckFamily[str]):
    """Breaks the engine contract in the way its parameter says."""

    name = "unruly"
    checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("unruly.a", "a"), CheckSpec("unruly.b", "b"))

    def __init__(self, how: str) -> None:
        self.how = how

    def plan(self, ctx: PlanContext) -> Iterable[Probe[str]]:
        for person in ctx.staff[:2]:
            yield Probe(self.name, "unruly.a", person.key, "t", self.how, batch="all")
        if self.how == "undeclared-in-plan":
            yield Probe(self.name, "unruly.zzz", "organisations:north", "t", self.how)

    def run(self, probes: Sequence[Probe[str]], ctx: RunContext) -> Iterable[Result]:
        first, second = probes
        yield first.result(Status.PASS, "first")
        if self.how == "undeclared":
            yield first.result(Status.PASS, "sneaky", check="unruly.zzz")
        if self.how == "foreign":
            yield Result(
                "staff:x/y", "unruly.a", "t", "local", Status.PASS, "not mine", probe="elsewhere"
            )
        yield second.result(Status.PASS, "second")
        if self.how == "interleaved":
            yield first.result(Status.FAIL, "late", target="t2")
        if self.how == "duplicate":
            yield second.result(Status.PASS, "second again")


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("undeclared", "is not one of the probe's declared checks"),
        ("foreign", "a result for a probe it was not given"),
        ("interleaved", "results of one probe must arrive together"),
        ("duplicate", "two results with the id"),
    ],
)
def test_the_engine_contract_is_enforced(tmp_path: Path, how: str, says: str) -> None:
    fam = Unruly(how)
    inv = load(MINIMAL, [fam])
    results = run_plan(make_plan(inv, [fam], Selection()), _ctx(inv, tmp_path))
    broken = [r for r in results if r.check == "unruly.contract"]
    assert len(broken) == 1 and broken[0].status is Status.ERROR, results
    assert says in broken[0].summary and broken[0].root_cause == "contract|unruly"
    # The well-behaved results stand; the offending one never passes as a result.
    assert [r.summary for r in results if r.family == "unruly" and r.status is Status.PASS] == [
        "first",
        "second",
    ]


def test_a_probe_naming_an_undeclared_check_is_refused_at_planning() -> None:
    fam = Unruly("undeclared-in-plan")
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    assert plan.probes == []
    assert "unruly.zzz" in plan.failed[0].summary and "catalogue" in plan.failed[0].summary


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    fam = PerPerson(failing={"S0001"}, erroring={"S0002"})
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    sweep = record(inv, plan, run_plan(plan, _ctx(inv, tmp_path)))
    again = SweepRecord.from_json(sweep.to_json())
    assert again == sweep and again.to_json() == sweep.to_json()
    person = next(p for p in again.people if p.id == "S0001")
    account = next(n for n in person.needs if n.need == "account")
    assert account.verdict == "not ready" and account.reasons
    # The mailbox opens with the account: it is stopped too, and says why.
    mailbox = next(n for n in person.needs if n.need == "mailbox")
    assert mailbox.verdict == "not ready" and set(account.reasons) <= set(mailbox.reasons)
    assert again.blockers[0].needs["mailbox"] == 1


def test_unverified_needs_make_a_person_unknown(tmp_path: Path) -> None:
    """'Ready' is never vacuous: a need no family verified is said, and the person is
    not ready-by-default."""

    class AccountOnly(PerPerson):
        verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.ACCOUNT})

        def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
            for probe in probes:
                yield probe.result(Status.PASS, "account fine", need="account")

    fam = AccountOnly()
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    sweep = record(inv, plan, run_plan(plan, _ctx(inv, tmp_path)))
    north = next(p for p in sweep.people if p.id == "N0001")
    assert north.verdict is Verdict.UNKNOWN and set(north.unverified) == {"mailbox", "phone"}
    assert sweep.coverage["account"].verified == 3 and sweep.coverage["mailbox"].verified == 0


def test_results_of_a_family_that_does_not_verify_a_need_do_not_cover_it(tmp_path: Path) -> None:
    class Bystander(PerPerson):
        name = "bystander"
        checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("bystander.ok", "ok", NeedKind.ACCOUNT),)
        verifies: ClassVar[frozenset[NeedKind]] = frozenset()

        def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
            for person in ctx.staff:
                yield Probe(self.name, "bystander.ok", person.key, "x", None)

        def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
            for probe in probes:
                yield probe.result(Status.PASS, "seen")

    fam = Bystander()
    inv = load(MINIMAL, [fam])
    plan = make_plan(inv, [fam], Selection())
    sweep = record(inv, plan, run_plan(plan, _ctx(inv, tmp_path)))
    assert all(p.verdict is Verdict.UNKNOWN and "account" in p.unverified for p in sweep.people)


def test_plan_context_is_passed_every_installed_family() -> None:
    seen: list[Any] = []

    class Looking(PerPerson):
        def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
            seen.extend(f.name for f in ctx.families)
            return []

    fam, other = Looking(), Exploding()
    inv = load(MINIMAL, [fam, other])
    make_plan(inv, [fam, other], Selection(families=frozenset({"perperson"})))
    assert seen == ["perperson", "exploding"]


def test_the_sweep_deadline_bounds_the_whole_run(tmp_path: Path) -> None:
    """A hanging batch and batches waiting behind it: all reported as not determined when
    the sweep's deadline comes, and the run returns then."""

    class BigHanging(Hanging):  # the bigger batch runs first; the other waits behind it
        def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
            for n in range(5):
                yield Probe(
                    self.name,
                    "hanging.wait",
                    "organisations:south",
                    f"y{n}",
                    None,
                    batch="all",
                    timeout=0.01,
                )

    hanging, per_person = BigHanging(), PerPerson()
    inv = load(MINIMAL, [hanging, per_person])
    plan = make_plan(inv, [hanging, per_person], Selection())
    started = time.monotonic()
    results = run_plan(plan, _ctx(inv, tmp_path), workers=1, deadline=1)
    hanging.release.set()
    assert time.monotonic() - started < 3
    late = [r for r in results if r.status is Status.ERROR]
    assert late and all("deadline" in r.summary for r in late)
    assert {r.family for r in late} == {"hanging", "perperson"}  # waiting behind it too


class HoldingAndHanging(CheckFamily[None]):
    """Holds a per-server slot and a ledger reservation, then hangs in 'a library'."""

    name = "holding"
    checks: ClassVar[Sequence[CheckSpec]] = (CheckSpec("holding.login", "logs in"),)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.afterwards: list[str] = []

    def plan(self, ctx: PlanContext) -> Iterable[Probe[None]]:
        yield Probe(self.name, "holding.login", "organisations:south", "y", None, timeout=0.01)

    def run(self, probes: Sequence[Probe[None]], ctx: RunContext) -> Iterable[Result]:
        ctx.ledger.reserve("realm", "pilot", now=NOW, sweep=ctx.sweep_id)
        with ctx.limit("srv", 1):
            self.release.wait(60)
        try:  # the library returned at last: anything more is refused
            ctx.ledger.reserve("realm", "other", now=NOW)
        except BatchAbandoned as exc:
            self.afterwards.append(str(exc))
        return []


def test_an_abandoned_batch_releases_its_slot_and_reservation_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from readiness.ledger import AttemptLedger, Outcome

    fam = HoldingAndHanging()
    inv = load(MINIMAL, [fam])
    ctx = _ctx(inv, tmp_path)
    monkeypatch.setattr("readiness.engine._BatchRunner.BUDGET_SLACK", 0.5)
    started = time.monotonic()
    results = run_plan(make_plan(inv, [fam], Selection()), ctx)
    assert time.monotonic() - started < 5 and [r.status for r in results] == [Status.ERROR]
    # The family is still blocked in its library call, yet its slot is free...
    taken = threading.Event()

    def take() -> None:
        with ctx.limit("srv", 1):
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    assert taken.wait(2), "the abandoned batch still holds the server's slot"
    # ... and its attempt is no longer in flight (counted, as it may have been sent).
    with AttemptLedger(tmp_path / "ledger.sqlite") as ledger:
        (row,) = ledger.history("realm", "pilot")
        assert row.outcome is Outcome.FAILURE and "abandoned" in row.detail
        assert ledger.in_flight("realm", "pilot", now=NOW) == 0
    fam.release.set()
    deadline = time.monotonic() + 5
    while not fam.afterwards and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fam.afterwards and "abandoned" in fam.afterwards[0]
    with AttemptLedger(tmp_path / "ledger.sqlite") as ledger:
        assert not ledger.history("realm", "other")
    ctx.close()
