"""The merged extension plan, judged from the inventory alone (pure, no I/O).

* Every extension is held by one person only across both organisations: an extension
  held twice is a subject of its own (``extensions:<number>``), and the family's edges
  of the who-needs-what graph tie each holder's phone to it, so ONE result about the
  collision counts for every person it affects and the roll-up names them.
* A person whose roles need a phone has an extension.
* An extension lies in one of its organisation's ranges (``organisations.<id>.telephony``).

Directory telephone numbers are compared with the same inventory by the identity family
(``identity.extension``): the inventory is the one truth both families check against,
so neither reads the other's results.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Staff

from .config import parse_range, plan_of

__all__ = ["SUBJECT", "Numbering", "normalise", "subject_of"]

SUBJECT = "extensions"
_SEPARATORS = re.compile(r"[\s().-]")


def normalise(extension: str) -> str:
    """One spelling of an extension: ``"20 017"`` and ``"20-017"`` are ``"20017"``."""
    return extension if extension.isdigit() else _SEPARATORS.sub("", extension)


def subject_of(extension: str) -> str:
    return f"{SUBJECT}:{normalise(extension)}"


@dataclass(frozen=True)
class Range:
    text: str
    first: int
    last: int
    digits: int

    def holds(self, extension: str) -> bool:
        return (
            extension.isdigit()
            and len(extension) == self.digits
            and self.first <= int(extension) <= self.last
        )


class Numbering:
    """Who holds which extension, over the WHOLE inventory (a collision with someone
    outside a sweep's filter is still a collision)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @cached_property
    def holders(self) -> Mapping[str, Sequence[Staff]]:
        found: dict[str, list[Staff]] = {}
        for person in self.inventory.staff:
            if person.extension.strip():
                found.setdefault(normalise(person.extension), []).append(person)
        for holders in found.values():
            if len(holders) > 1:
                holders.sort(key=lambda p: p.key)
        return found

    @cached_property
    def ranges(self) -> Mapping[str, Sequence[Range]]:
        """organisation -> its ranges (only organisations that declare some)."""
        out: dict[str, list[Range]] = {}
        for org_id in self.inventory.organisations:
            plan = plan_of(self.inventory, org_id)
            for text in plan.ranges if plan else ():
                out.setdefault(org_id, []).append(Range(text, *parse_range(text)))
        return out

    def others(self, person: Staff) -> list[Staff]:
        """The other holders of ``person``'s extension."""
        mine = normalise(person.extension)
        return [p for p in self.holders.get(mine, ()) if p.key != person.key]

    def in_range(self, person: Staff) -> bool | None:
        """Whether the person's extension is in one of their organisation's ranges
        (None: the organisation declares none)."""
        ranges = self.ranges.get(person.organisation)
        if not ranges:
            return None
        extension = normalise(person.extension)
        return any(r.holds(extension) for r in ranges)

    def owner_of_range(self, extension: str) -> list[str]:
        """The organisations whose ranges hold ``extension``."""
        return sorted(o for o, rs in self.ranges.items() if any(r.holds(extension) for r in rs))

    def describe(self, people: Iterable[Staff]) -> str:
        orgs = self.inventory.organisations
        return ", ".join(
            f"{p.key} ({p.name or p.id}, "
            f"{orgs[p.organisation].name if p.organisation in orgs else p.organisation})"
            for p in people
        )
