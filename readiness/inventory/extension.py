"""What a check family adds to the inventory, seen from the inventory's side.

The inventory never imports a family: the builder receives objects of this shape (the
family interface, :class:`readiness.family.CheckFamily`, satisfies it) and takes from
each its own sections, the typed blocks it attaches to the core's objects, its
cross-reference checks and its edges of the who-needs-what graph.

A block is a family's typed settings on a core object, written under one key::

    applications:
      payroll:
        url: https://payroll.valeshared.test/   # core: every family may read it
        tcp: {timeout: 3}                        # the network family's block

Families read their block with :func:`block`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from pydantic import BaseModel

from readiness.inventory.inventory import Inventory
from readiness.inventory.needs import NeedEdge
from readiness.problems import Problem

__all__ = ["BLOCK_SECTIONS", "InventoryExtension", "block"]

B = TypeVar("B", bound=BaseModel)

# Core sections whose objects accept families' blocks.
BLOCK_SECTIONS = (
    "organisations",
    "sites",
    "applications",
    "network_resources",
    "mail_domains",
    "telephony_endpoints",
)


class InventoryExtension(Protocol):
    @property
    def name(self) -> str: ...

    # Sections this family owns: section name -> model of one object (id -> object).
    @property
    def sections(self) -> Mapping[str, type[BaseModel]]: ...

    # Blocks it attaches to core objects: (core section, key) -> model of the block.
    @property
    def blocks(self) -> Mapping[tuple[str, str], type[BaseModel]]: ...

    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        """Cross-reference checks of this family's sections and blocks."""
        ...

    def needs(self, inventory: Inventory) -> Iterable[NeedEdge]:
        """Edges of the who-needs-what graph that only this family knows."""
        ...


def block(obj: BaseModel, key: str, model: type[B]) -> B | None:
    """The block ``key`` of a core object, if it was written (typed for the caller)."""
    value = getattr(obj, key, None)
    return value if isinstance(value, model) else None
