"""Slot claims: which lab (or test) holds which slot, so that two never share addresses.

A claim is the file ``/run/readiness-lab/slot-N.json`` naming the holder's state
folder and the pid of the process that claimed it. It is live while that process
runs or while any process recorded in the state folder's ``pids.json`` runs (a lab
outlives the ``lab up`` that started it); otherwise it is stale (the lab died or was
killed) and the next claimer takes the slot over. Claims are read and written under
an exclusive ``flock`` of ``<root>/lock``, so two claimers never pick the same slot.

``auto`` hands out slots of :data:`AUTO` round-robin, starting after the one it gave
out last: a slot just released (a lab restarted on its own slot) is not taken by
another lab in between; a slot whose lab routes exist with no live claim here (a lab
that died, or one in another mount namespace sharing this network) is passed by. A
slot whose ``10.N.0.0/16`` carries a route on this machine that no lab of that slot
made (a real network, a VPN, a container bridge) is refused, so the lab's routes
never shadow it (lab/netns.py tags the host routes it adds with ``proto``
ROUTE_PROTO, which tells them apart)::

    number = claim(state)               # auto; SlotInUse when none is free
    claim(state, 77)                    # that slot, or SlotInUse saying who holds it
    release(number, state)              # lab down
    with claimed(tmp) as slot: ...      # a test's servers on slot.host(...)
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .netns import ROUTE_PROTO
from .process import LabError, alive, recorded, run
from .slot import Slot

ROOT = Path("/run/readiness-lab")
AUTO = range(100, 200)


class SlotInUse(LabError):
    """The slot asked for is held by another live lab, or its range is routed here."""


@dataclass(frozen=True)
class Claim:
    slot: int
    state: str  # resolved path of the holder's state folder
    pid: int  # the process that claimed it (``lab up``, a test session)

    def live(self) -> bool:
        return alive(self.pid) or any(alive(m.pid) for m in recorded(Path(self.state)))


def claim(state: Path, slot: int | None = None, *, root: Path = ROOT) -> int:
    """Claim ``slot`` (None: a free one of :data:`AUTO`) for the lab in ``state``.

    A state folder holds one lab, so its claims of other slots are dropped. Raises
    SlotInUse with who holds the slot (or which route covers it).
    """
    state = state.resolve()
    with _locked(root):
        for held in _claims(root):
            if held.state == str(state) and held.slot != slot:
                _path(root, held.slot).unlink(missing_ok=True)
        number = _pick(root, state, slot)
        _path(root, number).write_text(
            json.dumps(asdict(Claim(number, str(state), os.getpid()))) + "\n"
        )
        if slot is None:
            (root / "last").write_text(f"{number}\n")
    return number


def release(slot: int, state: Path, *, root: Path = ROOT) -> bool:
    """Drop the claim of ``slot`` if the lab in ``state`` holds it; True if it did."""
    with _locked(root):
        held = _read(root, slot)
        if held is None or held.state != str(state.resolve()):
            return False
        _path(root, slot).unlink(missing_ok=True)
        return True


def holder(slot: int, *, root: Path = ROOT) -> Claim | None:
    """The live claim of ``slot`` (None when it is free or its holder is gone)."""
    held = _read(root, slot)
    return held if held is not None and held.live() else None


@contextlib.contextmanager
def claimed(state: Path, slot: int | None = None, *, root: Path = ROOT) -> Iterator[Slot]:
    """A slot held for the ``with`` block: for test fixtures and benchmarks that start
    servers of their own on ``slot.host(...)`` addresses or ``slot.prefix`` namespaces."""
    number = claim(state, slot, root=root)
    try:
        yield Slot(number)
    finally:
        release(number, state, root=root)


# --------------------------------------------------------------------------- internals


def _pick(root: Path, state: Path, slot: int | None) -> int:
    routes = _routes()
    if slot is not None:
        why = _taken(root, state, Slot(slot), routes)
        if why:
            raise SlotInUse(
                f"slot {slot} is in use {why}; choose another with --slot N or --slot auto"
            )
        return slot
    last = _last(root)
    for number in sorted(AUTO, key=lambda n: (n <= last, n)):
        candidate = Slot(number)
        if not _taken(root, state, candidate, routes) and not _in_kernel(candidate, routes):
            return number
    raise SlotInUse(
        f"no free slot in {AUTO.start}..{AUTO.stop - 1}: every one is held by "
        f"a live lab or routed on this machine (see {root})"
    )


def _taken(root: Path, state: Path, slot: Slot, routes: list[dict[str, str]]) -> str:
    """Why ``slot`` cannot go to ``state`` ('' when it can)."""
    held = _read(root, slot.number)
    if held is not None and held.state != str(state) and held.live():
        return (
            f"by the lab in {held.state} (claimed by pid {held.pid}; "
            f"`readiness lab down --state {held.state}` frees it)"
        )
    lab_range = ipaddress.ip_network(slot.site_range)
    for route in routes:
        dst = route.get("dst", "")
        if (
            dst == "default"
            or route.get("protocol") == ROUTE_PROTO
            or route.get("dev") == slot.host_if
        ):
            continue
        if ipaddress.ip_network(dst, strict=False).overlaps(lab_range):
            via = f" dev {route['dev']}" if route.get("dev") else ""
            return (
                f"on this machine: {route.get('type', '')} route {dst}{via} covers "
                f"{slot.site_range} and no lab of slot {slot.number} made it"
            )
    return ""


def _in_kernel(slot: Slot, routes: list[dict[str, str]]) -> bool:
    """Whether a lab's routes for ``slot`` exist with no claim of ours behind them: a lab
    that died, or one started where this claim folder is not seen (another mount
    namespace: a container, a chroot sharing this network). ``auto`` passes such a slot
    by; naming it takes it over (its lab is gone or is yours to replace)."""
    lab_range = ipaddress.ip_network(slot.site_range)
    return any(
        (route.get("protocol") == ROUTE_PROTO or route.get("dev") == slot.host_if)
        and route.get("dst", "default") != "default"
        and ipaddress.ip_network(route["dst"], strict=False).overlaps(lab_range)
        for route in routes
    )


def _routes() -> list[dict[str, str]]:
    """The IPv4 routes of the main table of the root namespace."""
    out = run(["ip", "-4", "-j", "route", "show"], check=False).stdout
    routes: list[dict[str, str]] = json.loads(out or "[]")
    return routes


def _path(root: Path, slot: int) -> Path:
    return root / f"slot-{slot}.json"


def _read(root: Path, slot: int) -> Claim | None:
    try:
        return Claim(**json.loads(_path(root, slot).read_text()))
    except FileNotFoundError:
        return None


def _claims(root: Path) -> list[Claim]:
    found = (_read(root, int(p.stem.removeprefix("slot-"))) for p in root.glob("slot-*.json"))
    return [c for c in found if c is not None]


def _last(root: Path) -> int:
    try:
        return int((root / "last").read_text())
    except (FileNotFoundError, ValueError):
        return AUTO.start - 1


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
