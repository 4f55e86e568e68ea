"""The filters of a sweep (``--org``, ``--site``, ``--role``, ``--staff``, ``--family``,
``--tag``): which people are in scope, and which families run.

A filter value that matches nothing is a usage error, never an empty sweep: "Staff in
scope: 0" with exit code 0 would turn a CI gate green on a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Staff

__all__ = ["OPTIONS", "Selection", "staff_handles"]

FIELDS = ("organisations", "sites", "roles", "staff", "families", "tags")
# The command-line option of each filter.
OPTIONS = {
    "organisations": "--org",
    "sites": "--site",
    "roles": "--role",
    "staff": "--staff",
    "families": "--family",
    "tags": "--tag",
}


def staff_handles(person: Staff) -> tuple[str, ...]:
    """Every way a person may be named: staff id, ``org/id``, username, mail addresses."""
    handles = [person.id, f"{person.organisation}/{person.id}"]
    if person.username:
        handles.append(person.username)
    handles += [a.lower() for a in (person.new_mail, *person.old_mail) if a]
    return tuple(handles)


@dataclass(frozen=True)
class Selection:
    """Filters of a sweep. Empty sets select everything."""

    organisations: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    staff: frozenset[str] = frozenset()  # staff ids, org/id, usernames or mail addresses
    families: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @property
    def narrows_staff(self) -> bool:
        return bool(self.organisations or self.sites or self.roles or self.staff or self.tags)

    @cached_property
    def _staff_folded(self) -> frozenset[str]:
        return frozenset(s.casefold() for s in self.staff)

    def wants(self, person: Staff) -> bool:
        return (
            (not self.organisations or person.organisation in self.organisations)
            and (not self.sites or person.site in self.sites)
            and (not self.roles or bool(self.roles.intersection(person.roles)))
            and (
                not self.staff
                or any(h.casefold() in self._staff_folded for h in staff_handles(person))
            )
            and (not self.tags or bool(self.tags.intersection(person.tags)))
        )

    def problems(self, inventory: Inventory, families: Collection[str]) -> list[str]:
        """What is wrong with these filters for ``inventory``: each value must match
        something (with "did you mean"), and together they must select someone."""
        staff = inventory.staff
        found: list[str] = []
        named: dict[str, tuple[Mapping[str, object], Callable[[Staff], Iterable[str]], str]] = {
            # filter -> (what the inventory defines, what a person has, noun)
            "organisations": (inventory.organisations, lambda p: (p.organisation,), "organisation"),
            "sites": (inventory.sites, lambda p: (p.site,), "site"),
            "roles": (inventory.roles, lambda p: p.roles, "role"),
        }
        for name, (known, of, noun) in named.items():
            wanted = getattr(self, name)
            held = {v for p in staff for v in of(p)} if wanted else set()
            for value in sorted(wanted - held):
                found.append(
                    f"{OPTIONS[name]} {value!r} matches no staff member"
                    + (
                        f" (the {noun} exists, but nobody in the inventory is in it)"
                        if value in known
                        else f": there is no such {noun}" + _did_you_mean(value, known)
                    )
                )
        if self.staff:
            handles = {h.casefold(): h for p in staff for h in staff_handles(p)}
            for value in sorted(self.staff):
                if value.casefold() not in handles:
                    found.append(
                        f"--staff {value!r} matches no staff member (give a staff id, "
                        "organisation/id, username or mail address)"
                        + _did_you_mean(value, handles.values())
                    )
        if self.tags:
            tags = {t for p in staff for t in p.tags}
            for value in sorted(self.tags - tags):
                hint = _did_you_mean(value, tags) if tags else " (no staff member has a tag)"
                found.append(f"--tag {value!r} matches no staff member{hint}")
        for value in sorted(self.families - set(families)):
            found.append(
                f"--family {value!r} is not an installed check family"
                + _did_you_mean(value, families)
            )
        if not found and self.narrows_staff and not any(self.wants(p) for p in staff):
            given = " ".join(
                f"{OPTIONS[name]} {value}"
                for name in FIELDS
                if name != "families"
                for value in sorted(getattr(self, name))
            )
            found.append(f"the filters {given} select no staff member together")
        return found

    def to_json(self) -> dict[str, list[str]]:
        return {name: sorted(getattr(self, name)) for name in FIELDS}

    @classmethod
    def from_json(cls, data: Mapping[str, list[str]]) -> Selection:
        return cls(**{name: frozenset(data.get(name, ())) for name in FIELDS})


def _did_you_mean(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(set(known)), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
