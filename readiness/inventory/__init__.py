"""The inventory: a merger programme described in YAML (and HR CSV exports).

``load(path, extensions)`` reads, merges, validates in one pass and returns either an
:class:`Inventory` or raises :class:`InventoryError` with every problem found, each with
``file:line`` and a hint. ``extensions`` are the installed check families: they add
their own sections, blocks on the core's objects, checks and graph edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from readiness.inventory.extension import InventoryExtension, block
from readiness.inventory.inventory import Inventory, InventoryError
from readiness.inventory.needs import NeedEdge, NeedKind, Needs, need_key
from readiness.inventory.selection import Selection

__all__ = [
    "Inventory",
    "InventoryError",
    "InventoryExtension",
    "NeedEdge",
    "NeedKind",
    "Needs",
    "Selection",
    "block",
    "load",
    "need_key",
]


def load(path: Path, extensions: Sequence[InventoryExtension]) -> Inventory:
    """Read and validate an inventory; raise InventoryError with every problem."""
    from readiness.inventory.validate import build

    return build(path, extensions)
