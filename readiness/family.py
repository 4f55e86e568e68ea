"""The check-family plug-in interface: one shape for every family.

A family declares its name, the inventory sections it owns (typed models: the
schema), the fields it reads, and two steps:

* ``plan``: inventory -> probes, with no network I/O (dry runs, the pytest plugin's
  collection and parallel runners use the plan alone);
* ``run``: a batch of probes -> results. Probes sharing ``(family, batch)`` are
  handed to one call, so a family can answer 10,000 accounts with one paged search.

Built-in families live in ``checks/`` (package ``readiness_checks``) and are found
automatically; third-party packages register theirs in the entry-point group
``readiness.families`` (see :mod:`readiness.registry`). Both go through one door.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from readiness.results import Result, Status, result_id
from readiness.secrets import Secret, resolve

if TYPE_CHECKING:
    from readiness.inventory import Inventory
    from readiness.ledger import AttemptLedger
    from readiness.vantage import Vantage

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Problem:
    """An inventory problem: where (file:line), what, and how to fix it."""

    where: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class HostRef:
    """A host name an inventory object refers to (the DNS family resolves each one)."""

    host: str
    subject: str  # the object naming it, e.g. "applications:housing"
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Probe:
    """One planned check of one subject against one target from one vantage point."""

    family: str
    check: str
    subject: str
    target: str
    vantage: str = "local"
    server: str = ""  # per-server concurrency limits are keyed on this
    batch: str = ""  # probes of one family with the same batch key run in one call
    timeout: float = 10.0  # seconds; flows into the library's own timeouts
    lockout_cost: int = 0  # authentication attempts this probe may spend
    account: str = ""  # "realm/account" the attempts are charged to
    summary: str = ""  # what the probe will check, for dry runs
    # The sites whose view this probe gives (e.g. reachability from their vantage point
    # through their resolvers); empty when it is not site-specific.
    sites: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return result_id(self.subject, self.check, self.target, self.vantage)

    def result(self, status: Status, summary: str, **fields: Any) -> Result:
        """A result of this probe; ``check``/``target``/``subject`` may be overridden
        for sub-assertions (one result per property checked)."""
        base: dict[str, Any] = {
            "subject": self.subject,
            "check": self.check,
            "target": self.target,
            "vantage": self.vantage,
            "family": self.family,
            "probe": self.id,
            "sites": self.sites,
        }
        base.update(fields)
        return Result(status=status, summary=summary, **base)


@dataclass
class PlanContext:
    """What ``plan`` may look at: the inventory and the filtered selection. No I/O."""

    inventory: Inventory
    staff: Sequence[Any]  # the selected readiness.inventory.models.Staff
    go_live: dt.datetime


class RunContext:
    """What ``run`` receives: time (injectable), secrets, limits, vantage points, ledger."""

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
        self._ledger = ledger
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._vantages: dict[str, Vantage] = {}
        self._cache: dict[Any, Any] = {}
        self._computing: dict[Any, threading.Event] = {}

    def now(self) -> dt.datetime:
        return self.clock()

    def secret(self, reference: str) -> Secret:
        """Resolve a secret reference late; raises readiness.secrets.SecretError."""
        return resolve(reference, self.secrets_dir)

    @contextlib.contextmanager
    def limit(self, server: str, limit: int | None = None) -> Iterator[None]:
        """Hold one of ``server``'s concurrency slots (per-server limits)."""
        with self._lock:
            sem = self._limits.get(server)
            if sem is None:
                sem = self._limits[server] = threading.BoundedSemaphore(limit or self.server_limit)
        with sem:
            yield

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute a fact once per sweep and share it between batches and families.

        Concurrent callers of the same key wait for the first one; an exception raised
        by ``compute`` is returned (not raised) to every caller, so each can explain it.
        """
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            event = self._computing.get(key)
            owner = event is None
            if event is None:
                event = self._computing[key] = threading.Event()
        if not owner:
            event.wait()
            return self._cache[key]
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
    def ledger(self) -> AttemptLedger:
        """The persistent credential-attempt ledger (lockout budget), shared by families."""
        with self._lock:
            if self._ledger is None:
                from readiness.ledger import AttemptLedger

                self._ledger = AttemptLedger(self.state_dir / "ledger.sqlite")
            return self._ledger

    def vantage(self, name: str) -> Vantage:
        """The vantage point ``name`` (``local`` or an inventory vantage point)."""
        with self._lock:
            if name not in self._vantages:
                from readiness.vantage import open_vantage

                self._vantages[name] = open_vantage(name, self)
            return self._vantages[name]

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host`` as the sweep finds servers (``programme.resolvers``;
        none = the OS resolver), looked up once per sweep. Raises
        readiness.naming.ResolveError."""
        from readiness import naming

        resolvers = tuple(self.inventory.programme.resolvers)

        def lookup(name: str, resolver: str) -> naming.Lookup:
            key = ("dns.lookup", name.lower(), naming.format_resolver(resolver), "local")
            found = self.shared(key, lambda: naming.lookup(name, resolver))
            if isinstance(found, BaseException):
                raise found
            return found  # type: ignore[no-any-return]

        value = self.shared(("naming.resolve", host.lower(), resolvers),
                            lambda: naming.resolve(host, resolvers, lookup_fn=lookup))
        if isinstance(value, BaseException):
            raise value
        return list(value)

    def close(self) -> None:
        for vantage in self._vantages.values():
            with contextlib.suppress(Exception):
                vantage.close()
        if self._ledger is not None:
            self._ledger.close()


class CheckFamily:
    """Base class of check families. Subclass, set the class attributes, implement
    ``plan`` and ``run``; expose an instance as the module attribute ``family``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # Sections this family owns: section name -> model of one object (a mapping id -> object).
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {}
    # Inventory fields the family reads (for `readiness checks`), e.g. "sites.*.resolvers".
    reads: ClassVar[Sequence[str]] = ()
    default_timeout: ClassVar[float] = 10.0

    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        """Cross-reference checks of this family's sections (dangling ids...)."""
        return ()

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        """Host names this family's sections name (the DNS family resolves them all)."""
        return ()

    def needs(self, inventory: Inventory) -> Iterable[tuple[str, str]]:
        """Extra edges of the who-needs-what graph: (staff key, subject id)."""
        return ()

    def plan(self, ctx: PlanContext) -> Iterable[Probe]:
        raise NotImplementedError

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterable[Result]:
        raise NotImplementedError
