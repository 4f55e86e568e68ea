"""Split a plan into N deterministic shares for CI matrix jobs (``sweep --shard K/N``).

A share is made of whole *units*: probes that must run in one process stay together,
namely every probe of one batch (a family answers a batch with one search or one
session per server: split, the server would be asked twice) and every probe charging
the same pilot account (one attempt per account per sweep, the lockout ledger's rule).
Units go to the least loaded share, biggest first (deterministic: the same plan gives
the same shares on every machine); planning errors go to share 1 only, so merged
shards carry them once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from readiness.engine import Plan
from readiness.family import Probe

__all__ = ["parse", "share", "units"]


def parse(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N); ValueError with the reason otherwise."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"{text!r} is not K/N (e.g. 2/4)")
    index, count = int(k), int(n)
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"{text!r}: K must be between 1 and N")
    return index, count


def units(probes: Sequence[Probe[Any]]) -> list[list[Probe[Any]]]:
    """The probes grouped into what must run together, in plan order."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def keys(probe: Probe[Any]) -> list[str]:
        found = [f"batch:{probe.family}:{probe.batch or probe.id}"]
        if probe.account:
            found.append(f"account:{probe.account}")
        return found

    for probe in probes:
        first, *rest = keys(probe)
        for other in rest:
            parent[find(other)] = find(first)
    grouped: dict[str, list[Probe[Any]]] = {}
    for probe in probes:
        grouped.setdefault(find(keys(probe)[0]), []).append(probe)
    return list(grouped.values())


def share(plan: Plan, index: int, count: int) -> Plan:
    """Share ``index`` (1-based) of ``count`` of ``plan``."""
    loads = [0] * count
    mine: set[str] = set()
    for unit in sorted(units(plan.probes), key=lambda u: (-len(u), u[0].id)):
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += len(unit)
        if target == index - 1:
            mine.update(p.id for p in unit)
    return dataclasses.replace(
        plan,
        probes=[p for p in plan.probes if p.id in mine],
        failed=list(plan.failed) if index == 1 else [],
    )
