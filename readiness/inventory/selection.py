"""The filters of a sweep (``--org``, ``--site``, ``--role``, ``--staff``, ``--family``,
``--tag``): which people are in scope, and which families run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from readiness.inventory.models import Staff

__all__ = ["Selection", "staff_handles"]

FIELDS = ("organisations", "sites", "roles", "staff", "families", "tags")


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

    def wants(self, person: Staff) -> bool:
        return (
            (not self.organisations or person.organisation in self.organisations)
            and (not self.sites or person.site in self.sites)
            and (not self.roles or bool(self.roles.intersection(person.roles)))
            and (
                not self.staff
                or any(h in self.staff or h.lower() in self.staff for h in staff_handles(person))
            )
            and (not self.tags or bool(self.tags.intersection(person.tags)))
        )

    def to_json(self) -> dict[str, list[str]]:
        return {name: sorted(getattr(self, name)) for name in FIELDS}

    @classmethod
    def from_json(cls, data: Mapping[str, list[str]]) -> Selection:
        return cls(**{name: frozenset(data.get(name, ())) for name in FIELDS})
