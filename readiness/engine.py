"""Plan and run a sweep.

Planning (no network I/O) expands the inventory into probes for the selected staff;
running executes a plan: batches of probes go to their family on worker threads,
under per-server limits held by the RunContext, and results stream to a callback.
A family that raises, hangs or forgets a probe yields ``error`` results for the
probes concerned; the sweep always goes on. Output order is deterministic.
"""

from __future__ import annotations

import datetime as dt
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness.family import CheckFamily, PlanContext, Probe, RunContext
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Staff
from readiness.inventory.selection import Selection
from readiness.results import Origin, Result, Status

__all__ = ["Plan", "make_plan", "run_plan"]


@dataclass
class Plan:
    inventory: Inventory
    families: list[CheckFamily[Any]]  # the families that run
    staff: list[Staff]
    probes: list[Probe[Any]]
    go_live: dt.datetime
    selection: Selection
    failed: list[Result] = field(default_factory=list)  # families whose planning broke


def make_plan(
    inventory: Inventory,
    families: Sequence[CheckFamily[Any]],
    selection: Selection,
    go_live: dt.datetime | None = None,
) -> Plan:
    """Expand the inventory into probes. Pure: no network I/O. ``families`` are all the
    installed ones (their hosts matter to DNS); the selection chooses which run."""
    go_live = go_live or inventory.go_live
    chosen = [f for f in families if not selection.families or f.name in selection.families]
    staff = [p for p in inventory.staff if selection.wants(p)]
    wanted: set[str] | None = None
    if selection.narrows_staff:
        wanted = set()
        for person in staff:
            wanted.update(inventory.needs(person).subjects)
    ctx = PlanContext(inventory, staff, go_live, families)
    probes: dict[str, Probe[Any]] = {}
    failed: list[Result] = []
    for fam in chosen:
        try:
            planned = list(fam.plan(ctx))
        except Exception as exc:
            failed.append(_crash(fam.name, "plan", exc))
            continue
        known = {spec.id for spec in fam.checks}
        undeclared = sorted({c for p in planned for c in p.checks if c not in known})
        if undeclared:
            failed.append(
                _contract(
                    fam.name,
                    "plan",
                    f"probes name check ids missing from "
                    f"its `checks` catalogue: {', '.join(undeclared)}",
                )
            )
            continue
        for probe in planned:
            # A family's own trouble (subject "family:<name>") is never filtered away.
            if wanted is None or probe.subject in wanted or probe.subject.startswith("family:"):
                probes.setdefault(probe.id, probe)
    ordered = sorted(
        probes.values(), key=lambda p: (p.family, p.subject, p.check, p.target, p.vantage)
    )
    return Plan(inventory, chosen, staff, ordered, go_live, selection, failed)


def _crash(family: str, phase: str, exc: BaseException) -> Result:
    return Result(
        subject=f"family:{family}",
        check=f"{family}.{phase}",
        target=family,
        vantage="local",
        status=Status.ERROR,
        family=family,
        summary=f"the {family} check family failed while {phase}ning: {type(exc).__name__}: {exc}",
        impact="the readiness of everything this family checks is unknown",
        hint="this is a defect or an environment problem; run with --family to isolate it "
        "and report it with the message above",
        root_cause=f"crash|{family}|{phase}",
        origin=Origin.DEFECT,
    )


def _contract(family: str, phase: str, what: str, target: str = "") -> Result:
    return Result(
        subject=f"family:{family}",
        check=f"{family}.contract",
        target=target or phase,
        vantage="local",
        status=Status.ERROR,
        family=family,
        summary=f"the {family} check family broke the engine contract while {phase}ning: {what}",
        impact="what this family checks is unknown or incomplete",
        hint="a defect in the family (see the engine contract in readiness/family.py); "
        "report it with the message above",
        root_cause=f"contract|{family}",
        origin=Origin.DEFECT,
    )


def run_plan(
    plan: Plan,
    ctx: RunContext,
    on_result: Callable[[Result], None] | None = None,
    workers: int = 8,
    deadline: float | None = None,
) -> list[Result]:
    """Run every batch of the plan; return all results in a deterministic order.

    ``deadline`` (seconds) bounds the whole run: batches still running then are
    abandoned and batches not started are not started; their probes become ``error``
    results saying so, and the run returns."""
    ends = None if deadline is None else time.monotonic() + deadline
    by_family = {f.name: f for f in plan.families}
    batches: dict[tuple[str, str], list[Probe[Any]]] = {}
    for probe in plan.probes:
        batches.setdefault((probe.family, probe.batch or probe.id), []).append(probe)
    results: list[Result] = []
    index: dict[str, int] = {}  # result id -> position in results
    lock = threading.Lock()

    def emit(result: Result, by_engine: bool = False) -> None:
        """Keep ``result``. Ids are unique: the engine's own verdict on a probe (crashed,
        abandoned) replaces an early result of that probe with the same id; a family
        repeating an id breaks the contract."""
        with lock:
            at = index.get(result.id)
            if at is not None and by_engine:
                results[at] = result
            elif at is not None:
                result = _contract(
                    result.family, "run", f"two results with the id {result.id}", target=result.id
                )
                if result.id in index:
                    return
                index[result.id] = len(results)
                results.append(result)
            else:
                index[result.id] = len(results)
                results.append(result)
        if on_result:
            on_result(result)

    for failed in plan.failed:
        emit(failed, True)
    # Biggest batches first, so one long directory search starts before many small probes.
    runners = [
        _BatchRunner(by_family[family_name], probes, ctx, emit)
        for (family_name, _), probes in sorted(batches.items(), key=lambda kv: -len(kv[1]))
    ]
    pending: queue.Queue[_BatchRunner] = queue.Queue()
    for runner in runners:
        pending.put(runner)

    def worker() -> None:
        while True:
            try:
                runner = pending.get_nowait()
            except queue.Empty:
                return
            runner.start_and_wait(ends)

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"sweep-{i}")
        for i in range(max(1, min(workers, len(runners))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results, key=lambda r: (r.subject, r.check, r.target, r.vantage))


class _BatchRunner:
    """Runs one batch in its own daemon thread so a hung library cannot hang the sweep,
    and holds the family to the engine contract (readiness/family.py). The batch gets
    its own view of the run context: when it is abandoned at its deadline, the slots
    and ledger reservations it holds are released at once."""

    BUDGET_SLACK = 30.0  # seconds allowed beyond the probes' own timeouts

    def __init__(
        self,
        fam: CheckFamily[Any],
        probes: list[Probe[Any]],
        ctx: RunContext,
        emit: Callable[[Result, bool], None],
    ) -> None:
        self.fam, self.probes, self.ctx, self.emit = fam, probes, ctx.for_batch(), emit
        self.by_id = {p.id: p for p in probes}
        self.pending = dict(self.by_id)
        self.lock = threading.Lock()
        self.abandoned = False
        self.current: str | None = None  # the probe whose results are arriving
        self.budget = self.budget_for(probes, ctx.server_limit)

    @classmethod
    def budget_for(cls, probes: Sequence[Probe[Any]], server_limit: int) -> float:
        """Seconds a batch may run: a batch may need several rounds of its per-server
        limit; allow for that, then give up."""
        longest = max(p.timeout for p in probes)
        rounds = math.ceil(len(probes) / max(server_limit, 1))
        return longest * 3 + min(rounds, 50) * longest + cls.BUDGET_SLACK

    def start_and_wait(self, ends: float | None = None) -> None:
        """Run the batch, waiting at most its budget and never past ``ends`` (the sweep's
        deadline, monotonic seconds)."""
        wait = self.budget if ends is None else min(self.budget, ends - time.monotonic())
        started = time.perf_counter()
        if wait > 0:
            thread = threading.Thread(target=self._run, daemon=True, name=f"batch-{self.fam.name}")
            thread.start()
            thread.join(wait)
            if not thread.is_alive():
                return
        with self.lock:
            self.abandoned = True
            left = list(self.pending.values())
            self.pending.clear()
        self.ctx.abandon()  # its slots and in-flight attempts, now
        waited = time.perf_counter() - started
        by_deadline = wait < self.budget
        for probe in left:
            summary = (
                f"{probe.check} was not finished when the sweep's deadline came"
                if by_deadline
                else f"{probe.check} did not finish within {waited:.0f}s"
            )
            self.emit(
                probe.result(
                    Status.ERROR,
                    summary,
                    observed="no answer before the deadline",
                    impact="readiness of this subject is unknown",
                    hint="check that the server answers; raise the sweep's --deadline or the "
                    "check's timeout if it is only slow",
                    root_cause=f"timeout|{self.fam.name}|{probe.server or probe.target}",
                    duration_ms=waited * 1000,
                ),
                True,
            )

    def _violation(self, result: Result) -> str:
        """What is wrong with ``result`` under the engine contract ("" = nothing)."""
        probe = self.by_id.get(result.probe)
        if probe is None:
            return f"a result for a probe it was not given ({result.id})"
        if result.check not in probe.checks:
            return (
                f"check {result.check!r} is not one of the probe's declared checks "
                f"({', '.join(probe.checks)})"
            )
        if result.subject != probe.subject or result.vantage != probe.vantage:
            return f"the result {result.id} changes the probe's subject or vantage point"
        if result.probe != self.current and result.probe not in self.pending:
            return (
                f"a result for the finished probe {result.probe} (results of one probe "
                "must arrive together)"
            )
        return ""

    def _accept(self, result: Result) -> Result | None:
        """Take a result (or the contract error replacing it). A probe counts as finished
        only once the family has moved on to another probe (or ended): a crash or
        deadline in the middle of a probe's results must still mark that probe as not
        determined, never leave only its early passes."""
        with self.lock:
            if self.abandoned:
                return None
            problem = self._violation(result)
            if problem:
                return _contract(self.fam.name, "run", problem, target=result.id)
            if result.probe != self.current:
                if self.current is not None:
                    self.pending.pop(self.current, None)
                self.current = result.probe
            return result

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            for result in self.fam.run(self.probes, self.ctx):
                accepted = self._accept(result)
                if accepted is not None:
                    self.emit(accepted, False)
        except Exception as exc:
            crash = f"the {self.fam.name} check failed unexpectedly: {type(exc).__name__}: {exc}"
            self._finish(
                lambda p: p.result(
                    Status.ERROR,
                    crash,
                    impact="readiness of this subject is unknown",
                    hint="a defect or an environment problem: rerun with --family "
                    f"{self.fam.name} and report the message",
                    root_cause=f"crash|{self.fam.name}",
                    origin=Origin.DEFECT,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )
            return
        with self.lock:
            if self.current is not None:
                self.pending.pop(self.current, None)
        self._finish(
            lambda p: p.result(
                Status.ERROR,
                f"the {self.fam.name} family returned no result for this probe",
                impact="readiness of this subject is unknown",
                hint="a defect in the check family; report it",
                root_cause=f"missing|{self.fam.name}",
                origin=Origin.DEFECT,
            )
        )

    def _finish(self, make: Callable[[Probe[Any]], Result]) -> None:
        with self.lock:
            if self.abandoned:
                return
            left = list(self.pending.values())
            self.pending.clear()
        for probe in left:
            self.emit(make(probe), True)
