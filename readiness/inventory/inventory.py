"""The validated inventory: the programme's nouns, and the who-needs-what graph.

Built by :func:`readiness.inventory.validate.build` (which also asks every family for
its sections, blocks and graph edges); this module imports no family and no protocol.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from readiness.inventory.loader import Locations
from readiness.inventory.models import (
    Application,
    MailDomain,
    NetworkResource,
    Organisation,
    Programme,
    Role,
    ServiceObject,
    Site,
    Staff,
    TelephonyEndpoint,
    VantagePoint,
)
from readiness.inventory.needs import NeedEdge, NeedKind, Needs, need_key
from readiness.problems import Problem, ProblemError

__all__ = ["Inventory", "InventoryError"]

M = TypeVar("M", bound=BaseModel)


class InventoryError(ProblemError):
    """The inventory is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, f"{len(problems)} problem(s) in the inventory")


@dataclass(frozen=True)
class _RoleNeeds:
    applications: frozenset[str]
    network_resources: frozenset[str]
    groups: frozenset[str]
    mailbox: bool
    phone: bool
    objects: dict[str, str]  # applications:<id> / network_resources:<id> -> need key


@dataclass
class Inventory:
    root: Path
    programme: Programme
    organisations: dict[str, Organisation]
    sites: dict[str, Site]
    vantage_points: dict[str, VantagePoint]
    roles: dict[str, Role]
    staff: list[Staff]
    # Core service objects: section -> id -> object (with the families' blocks attached).
    objects: dict[str, dict[str, ServiceObject]]
    # Sections owned by families: section -> id -> object.
    sections: dict[str, dict[str, BaseModel]]
    locations: Locations
    # Ids written in the files, valid or not (references to an invalid object are not
    # reported again as dangling), and each staff member's position in the merged list.
    declared: dict[str, set[str]] = field(default_factory=dict)
    staff_positions: list[int] = field(default_factory=list)
    # The families' additions to the who-needs-what graph, by staff key.
    need_edges: dict[str, list[NeedEdge]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # every file read (YAML and CSV)
    _needs_cache: dict[str, Needs] = field(default_factory=dict, repr=False)
    _combo_cache: dict[tuple[tuple[str, ...], ...], _RoleNeeds] = field(
        default_factory=dict, repr=False
    )

    # ------------------------------------------------------------------ sections
    @property
    def applications(self) -> dict[str, Application]:
        return self.objects.get("applications", {})  # type: ignore[return-value]

    @property
    def network_resources(self) -> dict[str, NetworkResource]:
        return self.objects.get("network_resources", {})  # type: ignore[return-value]

    @property
    def mail_domains(self) -> dict[str, MailDomain]:
        return self.objects.get("mail_domains", {})  # type: ignore[return-value]

    @property
    def telephony_endpoints(self) -> dict[str, TelephonyEndpoint]:
        return self.objects.get("telephony_endpoints", {})  # type: ignore[return-value]

    def section(self, name: str, model: type[M]) -> dict[str, M]:
        """A family-owned section (id -> object of ``model``); empty when absent."""
        items = self.sections.get(name, {})
        return {k: v for k, v in items.items() if isinstance(v, model)}

    def declared_ids(self, section: str) -> set[str]:
        if section == "vantage_points":
            return {"local", *self.declared.get(section, ()), *self.vantage_points}
        return {*self.declared.get(section, ()), *self.section_items(section)}

    def section_items(self, section: str) -> Mapping[str, Any]:
        core: dict[str, Mapping[str, Any]] = {
            "organisations": self.organisations,
            "sites": self.sites,
            "vantage_points": self.vantage_points,
            "roles": self.roles,
            **self.objects,
        }
        return core.get(section) or self.sections.get(section, {})

    # ------------------------------------------------------------------ places
    def where(self, *path: str | int) -> str:
        """``file:line`` where the value at ``path`` was written."""
        return self.locations.of(tuple(path))

    def where_staff(self, person_index: int, *path: str | int) -> str:
        """``file:line`` of a field of ``staff[person_index]`` (index into ``staff``)."""
        return self.where("staff", self.staff_positions[person_index], *path)

    def resolve_path(self, value: str, *path: str | int) -> Path:
        """A file path written in the inventory, relative to the file it is written in."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return candidate
        written_in = self.locations.file_of(tuple(path))
        base = written_in.parent if written_in else self.root
        return (base / candidate).resolve()

    def fingerprint(self) -> str:
        """sha256 over the inventory's files (names relative to the root, and bytes): two
        sweeps of the same fingerprint judged the same inventory."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            try:
                name = str(path.relative_to(self.root))
            except ValueError:
                name = str(path)
            digest.update(name.encode() + b"\0")
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
            digest.update(b"\0")
        return "sha256:" + digest.hexdigest()

    @property
    def go_live(self) -> dt.datetime:
        """The go-live moment, aware (a date in the inventory is the start of that day,
        UTC: :func:`readiness.inventory.models.go_live_moment`)."""
        return self.programme.go_live

    # ------------------------------------------------------------------ people
    @cached_property
    def staff_by_key(self) -> dict[str, Staff]:
        return {person.key: person for person in self.staff}

    def needs(self, person: Staff) -> Needs:
        """What ``person`` needs: roles, plus per-person additions, minus exemptions, and
        the subjects whose results speak about each need."""
        found = self._needs_cache.get(person.key)
        if found is not None:
            return found
        shared = self._role_needs(person)
        mailbox = shared.mailbox or bool(person.new_mail)
        phone = shared.phone or bool(person.extension)
        subjects: dict[str, str] = {
            person.key: "",
            f"sites:{person.site}": "",
            f"organisations:{person.organisation}": "",
        }
        subjects.update(shared.objects)
        if mailbox or person.old_mail:
            for domain in self._mail_domains_of(person, mailbox):
                subjects[f"mail_domains:{domain}"] = NeedKind.MAILBOX.value
        if phone:
            for ep_id, endpoint in self.telephony_endpoints.items():
                if (not endpoint.serves or person.organisation in endpoint.serves) and (
                    not endpoint.sites or person.site in endpoint.sites
                ):
                    subjects[f"telephony_endpoints:{ep_id}"] = NeedKind.PHONE.value
        for edge in self.need_edges.get(person.key, ()):
            subjects.setdefault(edge.subject, edge.need)
        found = Needs(
            shared.applications, shared.network_resources, shared.groups, mailbox, phone, subjects
        )
        self._needs_cache[person.key] = found
        return found

    def _mail_domains_of(self, person: Staff, mailbox: bool) -> list[str]:
        """The programme's mail domains the person's addresses live in (the new one, and
        the old ones mail must keep arriving at)."""
        domains = [
            a.rpartition("@")[2].lower() for a in (person.new_mail, *person.old_mail) if "@" in a
        ]
        org = self.organisations.get(person.organisation)
        if mailbox and not person.new_mail and org and org.mail_domains.new:
            domains.append(org.mail_domains.new.lower())
        return [d for d in dict.fromkeys(domains) if d in self.mail_domains]

    def _role_needs(self, person: Staff) -> _RoleNeeds:
        """The part of a person's needs that depends only on roles, additions and
        exemptions: shared by everyone with the same combination (fast at 20,000 staff)."""
        add, drop = person.needs, person.exempt
        combo = (
            tuple(person.roles),
            tuple(add.applications),
            tuple(add.network_resources),
            tuple(add.groups),
            tuple(drop.applications),
            tuple(drop.network_resources),
            tuple(drop.groups),
        )
        found = self._combo_cache.get(combo)
        if found is not None:
            return found
        apps, resources, groups = set(add.applications), set(add.network_resources), set(add.groups)
        phone = mailbox = False
        for role_id in person.roles:
            role = self.roles.get(role_id)
            if role is None:
                continue
            apps.update(role.applications)
            resources.update(role.network_resources)
            groups.update(role.groups)
            phone |= role.extension
            mailbox |= role.mailbox
        apps.difference_update(drop.applications)
        resources.difference_update(drop.network_resources)
        groups.difference_update(drop.groups)
        # Made once per combination, not once per person (20,000 staff: 0.9 s saved).
        objects = {f"applications:{a}": need_key(NeedKind.APPLICATION, a) for a in sorted(apps)}
        objects |= {
            f"network_resources:{r}": need_key(NeedKind.NETWORK_RESOURCE, r)
            for r in sorted(resources)
        }
        found = _RoleNeeds(
            frozenset(apps), frozenset(resources), frozenset(groups), mailbox, phone, objects
        )
        self._combo_cache[combo] = found
        return found
