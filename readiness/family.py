"""The check-family plug-in interface: one shape for every family.

A family declares its name, the inventory sections it owns and the typed blocks it
attaches to the core's objects (typed models: the schema), the checks it may report
(its catalogue: id, title, and the need of a person each verifies), the needs it
verifies, and two steps:

* ``plan``: inventory -> probes, with no network I/O (dry runs, the pytest plugin's
  collection and sharded runners use the plan alone);
* ``run``: a batch of probes -> results. Probes sharing ``(family, batch)`` are
  handed to one call, so a family can answer 10,000 accounts with one paged search.

Every family, built in or not, is found through the entry-point group
``readiness.families`` (:mod:`readiness.registry`).

The engine contract (written here, enforced by :mod:`readiness.engine`)
-----------------------------------------------------------------------
1. ``plan`` does no I/O. Each probe names the check ids it may produce (``check`` and
   ``also``), all of them in the family's ``checks`` catalogue.
2. ``run`` yields results of the probes it was given only, made with
   :meth:`Probe.result`: the probe's subject and vantage point, one of its check ids,
   any target. One result per property checked.
3. All results of one probe arrive together: once ``run`` yields a result of another
   probe, the previous probe is finished, and a later result for it is refused.
4. Every probe gets at least one result; result ids (``subject|check|target|vantage``)
   are unique in a sweep.
5. ``details`` hold JSON-native values only (str, int, float, bool, None, list, dict).
6. ``run`` honours each probe's ``timeout`` in its libraries. A batch that outlives
   its budget is abandoned: its unfinished probes become ``error`` results, and the
   per-server slots (``ctx.limit``) and in-flight ledger reservations (``ctx.ledger``)
   it holds are released at once; if it asks for another, it gets
   :class:`BatchAbandoned`, and ``ctx.abandoned`` tells a family about to send an
   attempt it reserved before.
7. A ``run`` that raises turns its unfinished probes into ``error`` results; the sweep
   goes on. Breaking 2-5 gives ``error`` results naming the family (root cause
   ``contract|<family>``): a defect to report, never a silent pass.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Staff
from readiness.inventory.needs import NeedEdge, NeedKind
from readiness.ledger import AttemptLedger, AttemptRecord, Outcome, Reservation
from readiness.net.dns import SYSTEM, DnsService, format_resolver
from readiness.net.reach import VIA_VANTAGE
from readiness.net.trust import TrustStore
from readiness.net.vantage import Vantage, open_vantage
from readiness.problems import Problem
from readiness.results import Result, Status, result_id
from readiness.secrets import Secret, resolve

__all__ = [
    "VIA_VANTAGE",
    "BatchAbandoned",
    "BatchLedger",
    "CheckFamily",
    "CheckSpec",
    "HostRef",
    "PlanContext",
    "Probe",
    "RunContext",
    "subject_impact",
]

Clock = Callable[[], dt.datetime]
P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True)
class CheckSpec:
    """One check a family may report: its id, a title, and the need of a person a result
    about that person speaks about (results about a service object speak about the
    need that object serves: ``applications:payroll`` -> ``application:payroll``)."""

    id: str
    title: str
    need: NeedKind | None = None


def subject_impact(subject: str, sites: Sequence[str]) -> str:
    """The Day-1 impact of a fault in a shared object, in words (the roll-up counts the
    people: a family never does, so a fault reads the same under any filter)."""
    if sites:
        return f"staff at {', '.join(sites)} who need {subject} depend on it on Day 1"
    return f"no staff need {subject} directly; the sweep and other checks use it"


@dataclass(frozen=True)
class HostRef:
    """A host name an inventory object refers to (the DNS family resolves each one)."""

    host: str
    subject: str  # the object naming it, e.g. "applications:housing"
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Probe(Generic[P]):
    """One planned check of one subject against one target from one vantage point."""

    family: str
    check: str  # the probe's own check id (part of its id)
    subject: str
    target: str
    params: P  # the family's typed parameters
    also: tuple[str, ...] = ()  # other check ids its results may carry
    vantage: str = "local"
    server: str = ""  # per-server concurrency limits are keyed on this
    batch: str = ""  # probes of one family with the same batch key run in one call
    timeout: float = 10.0  # seconds; flows into the library's own timeouts
    lockout_cost: int = 0  # authentication attempts this probe may spend
    account: str = ""  # the account the attempts are charged to
    summary: str = ""  # what the probe will check, for dry runs
    # The sites whose view this probe gives (e.g. reachability from their vantage point
    # through their resolvers); empty when it is not site-specific.
    sites: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return result_id(self.subject, self.check, self.target, self.vantage)

    @property
    def checks(self) -> tuple[str, ...]:
        return (self.check, *self.also)

    def result(
        self,
        status: Status,
        summary: str,
        *,
        check: str | None = None,
        target: str | None = None,
        **fields: Any,
    ) -> Result:
        """A result of this probe; ``check``/``target`` may differ from the probe's for
        sub-assertions (one result per property checked)."""
        return Result(
            subject=self.subject,
            check=check or self.check,
            target=self.target if target is None else target,
            vantage=self.vantage,
            status=status,
            summary=summary,
            family=self.family,
            probe=self.id,
            sites=self.sites,
            **fields,
        )


@dataclass
class PlanContext:
    """What ``plan`` may look at: the inventory, the selected staff, every installed
    family (for the hosts they name), the go-live moment. No I/O."""

    inventory: Inventory
    staff: Sequence[Staff]  # the selected staff
    go_live: dt.datetime
    families: Sequence[CheckFamily[Any]] = ()

    @cached_property
    def sites_needing(self) -> dict[str, frozenset[str]]:
        """subject -> the sites of the selected staff who need it (the who-needs-what
        graph, once per plan)."""
        found: dict[str, set[str]] = {}
        for person in self.staff:
            for subject in self.inventory.needs(person).subjects:
                found.setdefault(subject, set()).add(person.site)
        return {subject: frozenset(sites) for subject, sites in found.items()}

    def routes(self, section: str, object_id: str) -> dict[str, tuple[str, ...]]:
        """Where to probe a service object from: vantage point -> the sites whose staff
        that probe speaks for (a result naming sites counts only for their staff).

        ``checked_from: sites`` (the default): each vantage point of each site whose
        selected staff need it; nobody needs it: this machine. ``central``: this machine
        once, for everyone. A vantage point id: from there once, for every site needing
        it."""
        subject = f"{section}:{object_id}"
        # Core service objects, and the objects of a family's own section that carry a
        # ``checked_from`` field (e.g. directories), route the same way.
        obj = self.inventory.section_items(section).get(object_id)
        where = str(getattr(obj, "checked_from", "sites"))
        if where == "central":
            return {"local": ()}
        sites = sorted(self.sites_needing.get(subject, ()))
        if where != "sites":
            return {where: tuple(sites)}
        routes: dict[str, set[str]] = {}
        for site_id in sites:
            site = self.inventory.sites.get(site_id)
            for vantage in (site.vantage_points if site else None) or ["local"]:
                routes.setdefault(vantage, set()).add(site_id)
        return {v: tuple(sorted(s)) for v, s in sorted(routes.items())} or {"local": ()}

    def reach_routes(
        self, section: str, object_id: str
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """:meth:`routes` with how each vantage point finds the object's host: vantage
        point -> (:meth:`route_resolvers`, the sites it speaks for). For
        :func:`readiness.net.reach.reach`."""
        return {
            vantage: (self.route_resolvers(vantage, sites), sites)
            for vantage, sites in self.routes(section, object_id).items()
        }

    def route_resolvers(self, vantage: str, sites: Sequence[str]) -> tuple[str, ...]:
        """The resolvers, in order, a probe from ``vantage`` speaking for ``sites`` finds
        names with. From a site's own vantage point, the site's resolvers (none: as that
        vantage point resolves); from one outside the site (``checked_from`` an outside
        vantage point), that vantage point's own view, :meth:`vantage_resolvers`."""
        known: list[str] = []
        for site_id in sites or (None,):
            site = self.inventory.sites.get(site_id) if site_id else None
            if site is None or vantage not in (site.vantage_points or ["local"]):
                resolvers = self.vantage_resolvers(vantage)
            elif site.resolvers:
                resolvers = tuple(self.resolvers_for(site_id)[0])
            else:
                resolvers = self._point_resolvers(vantage)
            known.extend(r for r in resolvers if r not in known)
        return tuple(known)

    def vantage_resolvers(self, vantage: str) -> tuple[str, ...]:
        """How ``vantage`` finds hosts when it speaks for itself rather than for a site
        (an outside vantage point, an exposure test): its own ``resolvers``, else those
        of the site it belongs to, else ``programme.resolvers`` from this machine or the
        SSH jump host's own resolver (:data:`readiness.net.reach.VIA_VANTAGE`)."""
        point = self.inventory.vantage_points.get(vantage)
        if vantage != "local" and not (point is not None and point.resolvers):
            for site_id, site in sorted(self.inventory.sites.items()):
                if vantage in site.vantage_points and site.resolvers:
                    return tuple(self.resolvers_for(site_id)[0])
        return self._point_resolvers(vantage)

    def _point_resolvers(self, vantage: str) -> tuple[str, ...]:
        """The vantage point's ``resolvers``, else the programme's (this machine) or the
        jump host's own."""
        point = self.inventory.vantage_points.get(vantage)
        if point is not None and point.resolvers:
            return tuple(format_resolver(r) for r in point.resolvers)
        if point is None or point.kind == "local":
            return tuple(self.resolvers_for(None)[0])
        return (VIA_VANTAGE,)

    def resolvers_for(self, site_id: str | None) -> tuple[list[str], list[str]]:
        """(resolvers, vantage points) a site uses; ``None`` = the sweep's own view
        (``programme.resolvers`` from this machine; none = the operating system's)."""
        inventory = self.inventory
        site = inventory.sites.get(site_id) if site_id else None
        if site is not None and site.resolvers:
            return (
                [format_resolver(r) for r in site.resolvers],
                list(site.vantage_points) or ["local"],
            )
        programme = [format_resolver(r) for r in inventory.programme.resolvers]
        return programme or [SYSTEM], ["local"]

    def own_view(self, sites: Iterable[str]) -> tuple[str, ...]:
        """The sites whose own resolvers a lookup used: only then is it their view.
        Through the programme's resolvers it is the sweep's view, for everyone."""
        chosen = sorted(sites)
        if chosen and all(
            (site := self.inventory.sites.get(s)) is not None and site.resolvers for s in chosen
        ):
            return tuple(chosen)
        return ()


class BatchAbandoned(RuntimeError):
    """Raised to a batch the engine has given up on when it asks for a slot or an
    attempt: its results are no longer wanted, and it must spend nothing more."""


class _Slot:
    """One held per-server slot, released exactly once (by its holder, or by the engine
    when it abandons the batch holding it)."""

    __slots__ = ("_lock", "_sem", "released")

    def __init__(self, sem: threading.BoundedSemaphore) -> None:
        self._sem = sem
        self._lock = threading.Lock()
        self.released = False

    def release(self) -> None:
        with self._lock:
            if self.released:
                return
            self.released = True
        self._sem.release()


class _Holds:
    """What one batch holds: per-server slots and ledger reservations in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slots: set[_Slot] = set()
        self.reservations: dict[int, Reservation] = {}
        self.abandoned = False

    def refuse_if_abandoned(self) -> None:
        if self.abandoned:
            raise BatchAbandoned("the engine abandoned this batch at its deadline")


ABANDONED = "abandoned at the sweep's deadline: it may have reached the server"


class BatchLedger:
    """The attempt ledger as one batch sees it: reservations not yet recorded are the
    batch's, released (recorded as failures, since they may have reached the server)
    the moment the engine abandons it. Same methods as
    :class:`readiness.ledger.AttemptLedger`."""

    def __init__(self, ledger: AttemptLedger, holds: _Holds | None) -> None:
        self._ledger = ledger
        self._holds = holds

    def reserve(self, realm: str, account: str, **options: Any) -> Reservation:
        """:meth:`AttemptLedger.reserve`; BatchAbandoned in an abandoned batch."""
        holds = self._holds
        if holds is None:
            return self._ledger.reserve(realm, account, **options)
        holds.refuse_if_abandoned()
        reservation = self._ledger.reserve(realm, account, **options)
        with holds.lock:
            kept = not holds.abandoned
            if kept:
                holds.reservations[reservation.id] = reservation
        if not kept:
            self._ledger.record(reservation, Outcome.NOT_SENT, "the batch was abandoned")
            holds.refuse_if_abandoned()
        return reservation

    def record(self, reservation: Reservation, outcome: Outcome | str, detail: str = "") -> None:
        self._ledger.record(reservation, outcome, detail)
        if self._holds is not None:
            with self._holds.lock:
                self._holds.reservations.pop(reservation.id, None)

    def failures(self, realm: str, account: str, **options: Any) -> int:
        return self._ledger.failures(realm, account, **options)

    def in_flight(self, realm: str, account: str, **options: Any) -> int:
        return self._ledger.in_flight(realm, account, **options)

    def history(self, realm: str, account: str) -> list[AttemptRecord]:
        return self._ledger.history(realm, account)


class RunContext:
    """What ``run`` receives: time (injectable), secrets, limits, vantage points, the
    attempt ledger, and the core's shared services, each fact fetched once per sweep:
    ``dns`` (any record type, any resolver, any vantage point) and ``trust`` (the
    organisations' CA bundles).

    The engine hands each batch its own view (:meth:`for_batch`): the same services,
    plus a record of the slots and reservations the batch holds, so that
    :meth:`abandon` can release them when the batch outlives its deadline."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        go_live: dt.datetime,
        clock: Clock,
        secrets_dir: Path,
        state_dir: Path,
        server_limit: int = 8,
        ledger: AttemptLedger | None = None,
    ) -> None:
        self.inventory = inventory
        # Identifies this sweep, e.g. to the attempt ledger (one attempt per account per sweep).
        self.sweep_id = uuid.uuid4().hex
        self.go_live = go_live
        self.clock = clock
        self.secrets_dir = secrets_dir
        self.state_dir = state_dir
        self.server_limit = server_limit
        self._ledger_box: list[AttemptLedger | None] = [ledger]  # shared by batch views
        self._holds: _Holds | None = None  # set in a batch's view
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._vantages: dict[str, Vantage] = {}
        self._cache: dict[Hashable, Any] = {}
        self._computing: dict[Hashable, threading.Event] = {}
        self.dns = DnsService(inventory.programme.resolvers, self.shared, self._dns_via, self.limit)
        self.trust = TrustStore(inventory)

    def now(self) -> dt.datetime:
        return self.clock()

    def secret(self, reference: str) -> Secret:
        """Resolve a secret reference late; raises readiness.secrets.SecretError."""
        return resolve(reference, self.secrets_dir)

    def for_batch(self) -> RunContext:
        """A view for one batch: every service shared with this context, and the slots
        and reservations the batch takes recorded for :meth:`abandon`."""
        view = copy.copy(self)
        view._holds = _Holds()
        return view

    @property
    def abandoned(self) -> bool:
        """True once the engine gave up on this batch: a family about to spend an
        attempt it reserved earlier checks it, and stops."""
        return self._holds is not None and self._holds.abandoned

    def abandon(self) -> None:
        """The engine gave up on this batch: release its slots and in-flight ledger
        reservations now, although a library call of the batch may still be running;
        whatever it asks for afterwards is refused with BatchAbandoned."""
        holds = self._holds
        if holds is None:
            return
        with holds.lock:
            holds.abandoned = True
            slots, holds.slots = list(holds.slots), set()
            reservations = list(holds.reservations.values())
            holds.reservations.clear()
        for slot in slots:
            slot.release()
        ledger = self._ledger_box[0]
        for reservation in reservations:
            if ledger is not None:
                ledger.record(reservation, Outcome.FAILURE, ABANDONED)

    @contextlib.contextmanager
    def limit(self, server: str, limit: int | None = None) -> Iterator[None]:
        """Hold one of ``server``'s concurrency slots (per-server limits)."""
        with self._lock:
            sem = self._limits.get(server)
            if sem is None:
                sem = self._limits[server] = threading.BoundedSemaphore(limit or self.server_limit)
        holds = self._holds
        if holds is not None:
            holds.refuse_if_abandoned()
        sem.acquire()
        slot = _Slot(sem)
        if holds is not None:
            with holds.lock:
                kept = not holds.abandoned
                if kept:
                    holds.slots.add(slot)
            if not kept:
                slot.release()
                holds.refuse_if_abandoned()
        try:
            yield
        finally:
            slot.release()
            if holds is not None:
                with holds.lock:
                    holds.slots.discard(slot)

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T | BaseException:
        """Compute a fact once per sweep and share it between batches and families.

        Concurrent callers of the same key wait for the first one; an exception raised
        by ``compute`` is returned (not raised) to every caller, so each can explain it.
        """
        with self._lock:
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
            event = self._computing.get(key)
            owner = event is None
            if event is None:
                event = self._computing[key] = threading.Event()
        if not owner:
            event.wait()
            return self._cache[key]  # type: ignore[no-any-return]
        value: T | BaseException
        try:
            value = compute()
        except Exception as exc:
            value = exc
        with self._lock:
            self._cache[key] = value
            del self._computing[key]
        event.set()
        return value

    @property
    def ledger(self) -> BatchLedger:
        """The persistent credential-attempt ledger (lockout budget), shared by families
        (opened on first use; in a batch's view, its reservations are the batch's)."""
        with self._lock:
            found = self._ledger_box[0]
            if found is None:
                found = self._ledger_box[0] = AttemptLedger(self.state_dir / "ledger.sqlite")
        return BatchLedger(found, self._holds)

    def vantage(self, name: str) -> Vantage:
        """The vantage point ``name`` (``local`` or an inventory vantage point): one per
        sweep, so an SSH jump host is logged in to once and reused by every probe."""
        with self._lock:
            if name not in self._vantages:
                inv = self.inventory
                point = inv.vantage_points.get(name)
                known = (
                    str(inv.resolve_path(point.known_hosts, "vantage_points", name, "known_hosts"))
                    if point is not None and point.known_hosts
                    else None
                )
                self._vantages[name] = open_vantage(
                    name, point, known_hosts=known, secret=self.secret, resolve=self.dns.resolve
                )
            return self._vantages[name]

    def _dns_via(self, name: str) -> Vantage | None:
        """How DNS is asked from vantage point ``name``: None = over UDP from here."""
        vantage = self.vantage(name)
        return None if vantage.supports_udp else vantage

    def close(self) -> None:
        self.dns.close()
        for vantage in self._vantages.values():
            with contextlib.suppress(Exception):
                vantage.close()
        if self._ledger_box[0] is not None:
            self._ledger_box[0].close()


class CheckFamily(Generic[P]):
    """Base class of check families. Subclass with the type of your probes' parameters,
    set the class attributes, implement ``plan`` and ``run``; expose an instance as the
    module attribute ``family`` and register it in the entry-point group
    ``readiness.families``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # Sections this family owns: section name -> model of one object (id -> object).
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {}
    # Blocks it attaches to the core's objects: (core section, key) -> model.
    blocks: ClassVar[Mapping[tuple[str, str], type[BaseModel]]] = {}
    # Every check id it may report.
    checks: ClassVar[Sequence[CheckSpec]] = ()
    # The needs of a person it verifies (coverage: what a sweep without it leaves unsaid).
    verifies: ClassVar[frozenset[NeedKind]] = frozenset()
    # Inventory fields the family reads (for `readiness checks`), e.g. "sites.*.resolvers".
    reads: ClassVar[Sequence[str]] = ()
    default_timeout: ClassVar[float] = 10.0

    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        """Cross-reference checks of this family's sections and blocks."""
        return ()

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        """Host names this family's sections and blocks name (the DNS family resolves
        them all, with the core's service objects)."""
        return ()

    def needs(self, inventory: Inventory) -> Iterable[NeedEdge]:
        """Edges of the who-needs-what graph only this family knows."""
        return ()

    def plan(self, ctx: PlanContext) -> Iterable[Probe[P]]:
        raise NotImplementedError

    def run(self, probes: Sequence[Probe[P]], ctx: RunContext) -> Iterable[Result]:
        raise NotImplementedError

    def spec(self, check_id: str) -> CheckSpec | None:
        return next((c for c in self.checks if c.id == check_id), None)
