"""The who-needs-what graph, one row per person: what each staff member needs on Day 1.

A person's *needs* are their account, a mailbox, a phone, and each application and
network resource their roles give them (plus per-person additions, minus exemptions).
Every result about a *subject* the person depends on counts for their verdict;
``Needs.subjects`` maps each such subject to the need it speaks about, so the roll-up
can answer "who cannot use payroll on Day 1, and why?".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DEPENDS_ON_ACCOUNT",
    "NO_PERSON",
    "NeedEdge",
    "NeedKind",
    "Needs",
    "need_key",
    "need_kind",
]


class NeedKind(StrEnum):
    ACCOUNT = "account"
    MAILBOX = "mailbox"
    PHONE = "phone"
    APPLICATION = "application"
    NETWORK_RESOURCE = "network_resource"


# Needs reached by logging in with the person's account: an account that cannot log in
# on Day 1 stops them too. (A desk phone registers with its own credentials.)
DEPENDS_ON_ACCOUNT = frozenset({NeedKind.MAILBOX, NeedKind.APPLICATION, NeedKind.NETWORK_RESOURCE})


# The need a result names when it is about a service object for its owner only and
# stops no person on Day 1 (e.g. the SPF record of an old domain nobody sends from any
# more): it is a blocker for its owner, never a reason in anyone's verdict.
NO_PERSON = "none"


def need_key(kind: NeedKind, object_id: str = "") -> str:
    """``account``, ``mailbox``, ``phone``, ``application:<id>``, ``network_resource:<id>``."""
    return f"{kind.value}:{object_id}" if object_id else kind.value


def need_kind(key: str) -> NeedKind:
    return NeedKind(key.partition(":")[0])


@dataclass(frozen=True)
class NeedEdge:
    """A family's addition to the graph: ``subject``'s results count for ``person``'s
    ``need`` (e.g. the directory holding their account counts for "account")."""

    person: str  # staff key
    need: str  # need key
    subject: str


@dataclass(frozen=True)
class Needs:
    """What one person needs on Day 1, and which subjects' results speak about it."""

    applications: frozenset[str] = frozenset()
    network_resources: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    mailbox: bool = False
    phone: bool = False
    # Every subject whose results count for this person -> the need key it speaks about
    # ("" for the person's own subject, their site and organisation: the check decides).
    subjects: Mapping[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        """The person's needs, account first."""
        out = [NeedKind.ACCOUNT.value]
        if self.mailbox:
            out.append(NeedKind.MAILBOX.value)
        if self.phone:
            out.append(NeedKind.PHONE.value)
        out += [need_key(NeedKind.APPLICATION, a) for a in sorted(self.applications)]
        out += [need_key(NeedKind.NETWORK_RESOURCE, r) for r in sorted(self.network_resources)]
        return tuple(out)
