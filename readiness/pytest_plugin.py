"""The pytest plugin (entry point ``pytest11``): a readiness sweep as pytest items.

    pytest --readiness-inventory inventories/example --readiness-secrets-dir .lab/secrets \\
           -m "org_north and family_identity" -k account --junitxml junit.xml [-n 2]

Inert without ``--readiness-inventory``. Collection is the plan (no I/O): one item per
(subject, check), named ``check[subject]``, marked ``org_<id>``, ``site_<id>``,
``role_<id>``, ``family_<name>`` (non-alphanumerics as ``_``), so ``-k`` and ``-m``
select. The selected items' probes run once, batched and concurrently by the engine
when the first item runs; each item then reports its own results with the fix: a
``fail`` fails the item, an ``error`` (we could not find out) errors it in setup, a
``skip`` skips it, a ``warn`` passes with a warning.

Under pytest-xdist the plugin asks for ``--dist loadgroup`` and puts every item into
the group of the units its probes belong to (a batch, a pilot account:
:mod:`readiness.sharding`), so a unit's probes go to one worker and run there once;
all workers share one sweep id, so the attempt ledger allows one pilot login per
account across them. ``--readiness-out DIR`` writes the results each process ran.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from readiness.engine import Plan
    from readiness.family import Probe, RunContext
    from readiness.results import Result

KEY = pytest.StashKey["Sweep"]()
SWEEP_ID = "readiness_sweep_id"
LOADGROUP = "readiness_loadgroup"


class ReadinessWarning(UserWarning):
    """A check passed with a warning (something to do before go-live)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("readiness", "Day-1 readiness sweep as tests")
    group.addoption("--readiness-inventory", type=Path, metavar="PATH",
                    help="inventory to sweep: one test per (subject, check)")  # fmt: skip
    group.addoption("--readiness-secrets-dir", type=Path, metavar="DIR",
                    help="where relative file: secret references resolve")  # fmt: skip
    group.addoption("--readiness-state-dir", type=Path, metavar="DIR",
                    help="state folder (credential-attempt ledger)")  # fmt: skip
    group.addoption("--readiness-out", type=Path, metavar="DIR",
                    help="write the results each process ran into DIR")  # fmt: skip
    group.addoption("--readiness-workers", type=int, default=8, metavar="N",
                    help="batches run at once in each process (default 8)")  # fmt: skip


def marker(kind: str, value: str) -> str:
    return f"{kind}_{re.sub(r'[^0-9A-Za-z]', '_', value)}"


class Sweep:
    """One process's view of the sweep: the plan, the items' probes, what has run."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        from readiness.engine import make_plan
        from readiness.inventory import InventoryError, Selection, load
        from readiness.registry import load_families

        self.config = config
        self.installed = load_families()
        try:
            self.inventory = load(path, self.installed)
        except InventoryError as exc:
            problems = "\n".join(str(p) for p in exc.problems)
            raise pytest.UsageError(f"the inventory {path} is not valid:\n{problems}") from None
        self.plan: Plan = make_plan(self.inventory, self.installed, Selection())
        self.people = {person.key: person for person in self.inventory.staff}
        self.results: dict[str, list[Result]] = {}  # "subject|check" -> results
        self.ran: set[str] = set()  # probe ids run in this process
        self._selected: dict[str, list[Probe[Any]]] = {}  # xdist group -> probes
        self.ctx: RunContext | None = None
        workerinput = getattr(config, "workerinput", {})
        self.sweep_id: str = workerinput.get(SWEEP_ID) or uuid.uuid4().hex
        self.worker: str = workerinput.get("workerid", "main")

    # -------------------------------------------------------------- collection
    def items(self) -> dict[tuple[str, str], list[Probe[Any]]]:
        """(subject, check) -> the probes that may report it, in plan order."""
        found: dict[tuple[str, str], list[Probe[Any]]] = {}
        for probe in self.plan.probes:
            for check in probe.checks:
                found.setdefault((probe.subject, check), []).append(probe)
        return found

    def groups(self, items: dict[tuple[str, str], list[Probe[Any]]]) -> dict[str, str]:
        """probe id -> the xdist group of its unit, units joined when an item needs
        probes of several (so an item's probes always run in one worker)."""
        from readiness.sharding import units

        parent: dict[int, int] = {}

        def find(i: int) -> int:
            while parent.setdefault(i, i) != i:
                i = parent[i]
            return i

        unit_of = {p.id: n for n, unit in enumerate(units(self.plan.probes)) for p in unit}
        for probes in items.values():
            first = find(unit_of[probes[0].id])
            for probe in probes[1:]:
                parent[find(unit_of[probe.id])] = first
        return {pid: f"readiness-{find(n)}" for pid, n in unit_of.items()}

    def markers(self, subject: str, probes: Sequence[Probe[Any]]) -> list[str]:
        fam = {marker("family", p.family) for p in probes}
        person = self.people.get(subject)
        if person is not None:
            sites, roles, orgs = {person.site}, set(person.roles), {person.organisation}
        else:
            known = self.inventory.sites
            sites = {s for p in probes for s in p.sites}
            roles = set()
            orgs = {known[s].organisation for s in sites if s in known}
        return sorted(
            fam
            | {marker("org", o) for o in orgs}
            | {marker("site", s) for s in sites}
            | {marker("role", r) for r in roles}
        )

    # -------------------------------------------------------------- running
    def selected(self, session: pytest.Session, group: str) -> list[Probe[Any]]:
        """The probes of the selected items (of one xdist group; "" = all), once."""
        if not self._selected:
            for item in session.items:
                if isinstance(item, ReadinessItem):
                    mark = item.get_closest_marker("xdist_group")
                    key = str(mark.args[0]) if mark else ""
                    self._selected.setdefault(key, []).extend(item.probes)
        return list({p.id: p for p in self._selected.get(group, [])}.values())

    def run(self, probes: Sequence[Probe[Any]]) -> None:
        """Run the probes not run yet in this process, as one batched, concurrent plan."""
        import dataclasses

        from readiness.engine import run_plan
        from readiness.family import RunContext

        todo = [p for p in probes if p.id not in self.ran]
        if not todo:
            return
        if self.ctx is None:
            opt = self.config.getoption
            state = opt("--readiness-state-dir") or Path(".readiness-state")
            self.ctx = RunContext(
                self.inventory,
                go_live=self.plan.go_live,
                clock=lambda: dt.datetime.now(dt.UTC),
                secrets_dir=opt("--readiness-secrets-dir") or self.inventory.root,
                state_dir=state,
            )
            self.ctx.sweep_id = self.sweep_id
        self.ran.update(p.id for p in todo)
        sub = dataclasses.replace(self.plan, probes=todo, failed=[])
        workers = self.config.getoption("--readiness-workers")
        for result in run_plan(sub, self.ctx, workers=workers):
            self.results.setdefault(f"{result.subject}|{result.check}", []).append(result)

    def close(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
        out = self.config.getoption("--readiness-out")
        if out is not None and self.ran:
            out.mkdir(parents=True, exist_ok=True)
            data = {
                "worker": self.worker,
                "sweep_id": self.sweep_id,
                "probes": sorted(self.ran),
                "results": [r.to_json() for rs in self.results.values() for r in rs],
            }
            (out / f"results-{self.worker}.json").write_text(json.dumps(data), "utf-8")


class ReadinessItem(pytest.Item):
    """One (subject, check) of the sweep."""

    def __init__(self, *, subject: str, check: str, probes: list[Probe[Any]],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.subject, self.check, self.probes = subject, check, probes

    def _sweep(self) -> Sweep:
        return self.config.stash[KEY]

    def _results(self) -> list[Result]:
        """This item's results, running first (once) every probe that the selected items
        of its xdist group (all selected items, without xdist) need."""
        sweep = self._sweep()
        mark = self.get_closest_marker("xdist_group")
        sweep.run(sweep.selected(self.session, str(mark.args[0]) if mark else ""))
        return sweep.results.get(f"{self.subject}|{self.check}", [])

    def setup(self) -> None:
        results = self._results()
        errors = [r for r in results if r.status.value == "error"]
        if not results:  # a check a probe may report, found not to apply here
            pytest.skip(f"{self.check} does not apply to {self.subject} in this inventory")
        if errors and not any(r.status.value == "fail" for r in results):
            pytest.fail("could not be determined:\n" + _explain(errors), pytrace=False)

    def runtest(self) -> None:
        results = self._results()
        failed = [r for r in results if r.status.value == "fail"]
        if failed:
            pytest.fail(_explain(failed), pytrace=False)
        if results and all(r.status.value == "skip" for r in results):
            pytest.skip(results[0].summary)
        for r in results:
            if r.status.value == "warn":
                warnings.warn(ReadinessWarning(_explain([r])), stacklevel=1)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.check} [{self.subject}]"


def _explain(results: Sequence[Result]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.status.value.upper()} {r.target} (from {r.vantage}): {r.summary}")
        if r.expected or r.observed:
            lines.append(f"    expected {r.expected or '-'}; observed {r.observed or '-'}")
        if r.hint:
            lines.append(f"    fix: {r.hint}" + (f" (owner: {r.owner})" if r.owner else ""))
    return "\n".join(lines)


class ReadinessPlan(pytest.Collector):
    """The plan of the inventory, as a collector of items (no I/O)."""

    def collect(self) -> Iterator[pytest.Item]:
        sweep: Sweep = self.config.stash[KEY]
        items = sweep.items()
        groups = sweep.groups(items)
        # On an xdist worker under --dist loadgroup the scheduler reads each item's
        # group from its node id ("...@group"), as xdist_group marks would write it.
        grouped = bool(getattr(self.config, "workerinput", None) and self.config.option.loadgroup)
        for (subject, check), probes in sorted(items.items()):
            name = f"{check}[{subject}]"
            group = groups[probes[0].id]
            item = ReadinessItem.from_parent(
                self,
                name=name,
                nodeid=f"{self.nodeid}::{name}" + (f"@{group}" if grouped else ""),
                subject=subject,
                check=check,
                probes=probes,
            )
            for mark in sweep.markers(subject, probes):
                item.add_marker(mark)
            item.add_marker(pytest.mark.xdist_group(group))
            yield item


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--readiness-inventory", None)
    if path is None:
        return
    sweep = Sweep(config, path)
    config.stash[KEY] = sweep
    for kind, values in (
        ("org", sweep.inventory.organisations),
        ("site", sweep.inventory.sites),
        ("role", sweep.inventory.roles),
        ("family", {f.name: f for f in sweep.installed}),
    ):
        for value in values:
            config.addinivalue_line("markers", f"{marker(kind, value)}: readiness {kind} {value}")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a worker: group ids go into node ids for the scheduler
        config.option.loadgroup = bool(workerinput.get(LOADGROUP))
    elif config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no":
        config.option.dist = "loadgroup"  # a unit's probes go to one worker, once


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker gets the same sweep id (ledger: one attempt per
    pilot account per sweep, across workers)."""
    config = node.config
    if KEY in config.stash:
        node.workerinput[SWEEP_ID] = config.stash[KEY].sweep_id
        node.workerinput[LOADGROUP] = config.getoption("dist", "no") == "loadgroup"


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect and xdist's grouping
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if KEY not in config.stash:
        return
    root = config.stash[KEY].inventory.root
    plan = ReadinessPlan.from_parent(session, name="readiness", path=root, nodeid="readiness")
    items.extend(plan.collect())


def pytest_sessionfinish(session: pytest.Session) -> None:
    if KEY in session.config.stash:
        session.config.stash[KEY].close()
