"""The inventory: a merger programme described in YAML (and HR CSV exports).

``load(path, families)`` reads, merges, validates in one pass and returns either an
:class:`Inventory` or every problem found, each with ``file:line`` and a hint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from readiness.family import CheckFamily, Problem
from readiness.inventory.loader import Locations
from readiness.inventory.models import (
    Organisation,
    Programme,
    Role,
    Site,
    Staff,
    VantagePoint,
)

__all__ = ["Inventory", "InventoryError", "Needs", "load"]


class InventoryError(Exception):
    """The inventory is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the inventory")
        self.problems = list(problems)


@dataclass(frozen=True)
class Needs:
    """What one person needs on Day 1: the who-needs-what graph, one row."""

    applications: frozenset[str] = frozenset()
    network_resources: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    extension: bool = False
    mailbox: bool = False
    subjects: frozenset[str] = frozenset()  # every subject whose results count for this person


@dataclass
class Inventory:
    root: Path
    programme: Programme
    organisations: dict[str, Organisation]
    sites: dict[str, Site]
    vantage_points: dict[str, VantagePoint]
    roles: dict[str, Role]
    staff: list[Staff]
    sections: dict[str, dict[str, BaseModel]]
    locations: Locations
    families: list[CheckFamily] = field(default_factory=list)
    # Ids written in the files, valid or not (references to an invalid object are not
    # reported again as dangling), and each staff member's position in the merged list.
    declared: dict[str, set[str]] = field(default_factory=dict)
    staff_positions: list[int] = field(default_factory=list)
    _needs_cache: dict[str, Needs] = field(default_factory=dict, repr=False)
    _combo_cache: dict[tuple[tuple[str, ...], ...], Needs] = field(default_factory=dict,
                                                                  repr=False)

    def declared_ids(self, section: str) -> set[str]:
        if section == "vantage_points":
            return {"local", *self.declared.get(section, ()), *self.vantage_points}
        return {*self.declared.get(section, ()), *self.section_items(section)}

    def section_items(self, section: str) -> dict[str, Any]:
        core: dict[str, dict[str, Any]] = {"organisations": self.organisations, "sites": self.sites,
                "vantage_points": self.vantage_points, "roles": self.roles}
        if section in core:
            return dict(core[section])
        return self.sections.get(section, {})

    def where_staff(self, person_index: int, *path: str | int) -> str:
        """``file:line`` of a field of ``staff[person_index]`` (index into ``staff``)."""
        return self.where("staff", self.staff_positions[person_index], *path)

    @property
    def go_live(self) -> dt.datetime:
        """Go-live as an aware datetime (a date means the start of that day, UTC)."""
        value = self.programme.go_live
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.UTC)

    def section(self, name: str) -> dict[str, Any]:
        """A family-owned section (id -> object); empty when absent."""
        return self.sections.get(name, {})

    def where(self, *path: str | int) -> str:
        """``file:line`` where the value at ``path`` was written."""
        return self.locations.of(tuple(path))

    def resolve_path(self, value: str, *path: str | int) -> Path:
        """A file path written in the inventory, relative to the file it is written in."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return candidate
        written_in = self.locations.file_of(tuple(path))
        base = written_in.parent if written_in else self.root
        return (base / candidate).resolve()

    @cached_property
    def staff_by_key(self) -> dict[str, Staff]:
        return {person.key: person for person in self.staff}

    @cached_property
    def _extra_needs(self) -> dict[str, set[str]]:
        extra: dict[str, set[str]] = {}
        for fam in self.families:
            for staff_key, subject in fam.needs(self):
                extra.setdefault(staff_key, set()).add(subject)
        return extra

    def needs(self, person: Staff) -> Needs:
        """What ``person`` needs: roles, plus per-person additions, minus exemptions."""
        found = self._needs_cache.get(person.key)
        if found is None:
            shared = self._role_needs(person)
            subjects = {person.key, f"sites:{person.site}", f"organisations:{person.organisation}"}
            subjects.update(self._extra_needs.get(person.key, ()))
            found = Needs(shared.applications, shared.network_resources, shared.groups,
                          shared.extension or bool(person.extension), shared.mailbox,
                          shared.subjects | subjects)
            self._needs_cache[person.key] = found
        return found

    def _role_needs(self, person: Staff) -> Needs:
        """The part of a person's needs that depends only on roles, additions and
        exemptions: shared by everyone with the same combination (fast at 20,000 staff)."""
        add, drop = person.needs, person.exempt
        combo = (tuple(person.roles), tuple(add.applications), tuple(add.network_resources),
                 tuple(add.groups), tuple(drop.applications), tuple(drop.network_resources),
                 tuple(drop.groups))
        found = self._combo_cache.get(combo)
        if found is not None:
            return found
        apps, resources, groups = set(add.applications), set(add.network_resources), set(add.groups)
        extension = mailbox = False
        for role_id in person.roles:
            role = self.roles.get(role_id)
            if role is None:
                continue
            apps.update(role.applications)
            resources.update(role.network_resources)
            groups.update(role.groups)
            extension |= role.extension
            mailbox |= role.mailbox
        apps.difference_update(drop.applications)
        resources.difference_update(drop.network_resources)
        groups.difference_update(drop.groups)
        subjects = {f"applications:{a}" for a in apps}
        subjects.update(f"network_resources:{r}" for r in resources)
        found = Needs(frozenset(apps), frozenset(resources), frozenset(groups), extension,
                      mailbox, frozenset(subjects))
        self._combo_cache[combo] = found
        return found


def load(path: Path, families: Sequence[CheckFamily]) -> Inventory:
    """Read and validate an inventory; raise InventoryError with every problem."""
    from readiness.inventory.validate import build

    return build(path, families)
