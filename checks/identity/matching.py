"""Judging a match between an HR record and a directory entry, and suggesting entries
for a person who was not found.

* :func:`hr_mismatch`: the entry found (by username, UPN, mail or employee number)
  carries another name, or only other mail addresses, than the HR record: the match
  may be the wrong person, or HR and the directory disagree.
* :func:`near_misses`: only *plausible* candidates, each saying why it is suggested:
  the person's employee number on another entry (a renamed account), the person's
  address on another entry, the same name, the same given-name initial and surname,
  the same surname (when few share it), and the same username or address in the
  other organisation's directory. Never an entry merely spelt alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from readiness.inventory.models import Staff

from .config import Directory
from .snapshot import (
    Snapshot,
    _mail_values,
    _match_attribute,
    _scope,
    _vals,
    fold,
    username_attribute,
)

MAX_NEAR_MISSES = 6
MAX_SAME_SURNAME = 3  # more entries than this share the surname: no suggestion by it


def entry_names(directory: Directory, attrs: Mapping[str, Any]) -> set[str]:
    """The entry's names, folded: displayName / cn values and "givenName sn"."""
    names = {fold(v) for v in _vals(attrs, "displayName") + _vals(attrs, "cn")}
    given, surname = _vals(attrs, "givenName"), _vals(attrs, "sn")
    if given and surname:
        names.add(fold(f"{given[0]} {surname[0]}"))
    names.discard("")
    return names


def display_name(attrs: Mapping[str, Any]) -> str:
    for name in ("displayName", "cn"):
        found = _vals(attrs, name)
        if found:
            return found[0]
    return " ".join([*_vals(attrs, "givenName")[:1], *_vals(attrs, "sn")[:1]])


def hr_mismatch(directory: Directory, person: Staff, attrs: Mapping[str, Any]) -> list[str]:
    """How the entry found disagrees with the HR record (empty: it agrees, or there is
    nothing to compare). The name decides when both sides have one; the addresses count
    when they differ too, or when there is no name to compare (a missing or wrong mail
    attribute on the right person is the mail check's finding)."""
    out = []
    names = entry_names(directory, attrs) if person.name else set()
    comparable = bool(names)
    if comparable and fold(person.name) not in names:
        out.append(f"name: HR {person.name!r}, directory {display_name(attrs)!r}")
    if directory.match != "mail" and (out or not comparable):
        mine = sorted({a.lower() for a in (person.new_mail, *person.old_mail) if a})
        have = [v.lower() for v in _mail_values(directory, attrs)]
        if mine and have and not set(mine) & set(have):
            out.append(f"mail: HR {', '.join(mine)}, directory {', '.join(have)}")
    return out


def near_misses(
    snap: Snapshot,
    person: Staff,
    others: Mapping[str, tuple[Directory, Snapshot]],
) -> list[str]:
    """Plausible entries for a person who was not found, each with why (``others``: the
    other organisations' directories of the same kind, by id, with their snapshots)."""
    found: dict[str, str] = {}
    for where, rows, why in _candidates(snap, person, others):
        for row in rows:
            dn = where.people[row][0]
            prefix = "" if where is snap else f"in {where.dir_id} ({_orgs(where)}) "
            found.setdefault(dn, f"{prefix}{dn}: {why}")
    return list(found.values())[:MAX_NEAR_MISSES]


def _orgs(snap: Snapshot) -> str:
    return ", ".join(snap.directory.organisations) or "all"


Candidates = Iterator[tuple[Snapshot, list[int], str]]


def _candidates(
    snap: Snapshot, person: Staff, others: Mapping[str, tuple[Directory, Snapshot]]
) -> Candidates:
    """(snapshot, rows, why), the strongest reasons first."""
    d = snap.directory
    attribute = _match_attribute(d)
    if d.match != "employee_number":
        number = person.employee_key
        rows = snap.rows_by(d.employee_attribute).get(fold(number), [])
        yield (
            snap,
            rows,
            f"carries the person's employee number {number}: the {attribute} may have changed",
        )
    elif person.username:
        rows = snap.rows_by(username_attribute(d)).get(fold(person.username), [])
        yield (
            snap,
            rows,
            f"has the person's username {person.username} under another "
            "employee number: HR and the directory disagree",
        )
    yield from _by_address(snap, person, "")
    for row, why in _by_name(snap, person):
        yield snap, [row], why
    elsewhere = ": the account may be in the other organisation's directory"
    for _, (other, other_snap) in sorted(others.items()):
        if person.username:
            rows = other_snap.rows_by(username_attribute(other)).get(fold(person.username), [])
            yield other_snap, rows, f"the same username {person.username}{elsewhere}"
        yield from _by_address(other_snap, person, elsewhere)


def _by_address(snap: Snapshot, person: Staff, suffix: str) -> Candidates:
    for address in [person.new_mail, *person.old_mail]:
        if address:
            rows = snap.by_mail.get(address.lower(), [])
            yield snap, rows, f"holds the person's address {address}{suffix}"


def _by_name(snap: Snapshot, person: Staff) -> list[tuple[int, str]]:
    """Entries with the person's name, initial and surname, or (few) surname: the
    longest trailing part of the HR name that is a surname in the directory counts."""
    words = fold(person.name).split()
    by_surname = snap.rows_by("sn")
    for start in range(1, len(words)):
        surname = " ".join(words[start:])
        rows = by_surname.get(surname)
        if not rows:
            continue
        given = words[0]
        out: list[tuple[int, str]] = []
        loose = []
        for row in rows:
            attrs = snap.people[row][1]
            names = [fold(g) for g in _vals(attrs, "givenName")]
            shown = display_name(attrs)
            if given in names:
                out.append((row, f"{shown}: the same name"))
            elif any(n[:1] == given[:1] for n in names):
                out.append((row, f"{shown}: the same given-name initial and surname"))
            else:
                loose.append((row, f"{shown}: the same surname"))
        return out + (loose if len(loose) <= MAX_SAME_SURNAME else [])
    return []


def in_other_directories(
    d: Directory, dir_id: str, person: Staff, directories: Mapping[str, Directory]
) -> list[str]:
    """Directories of the same kind that do not hold this person's account (another
    organisation's), where a missing account may have been created by mistake."""
    return [
        other_id
        for other_id, other in sorted(directories.items())
        if other_id != dir_id and other.kind == d.kind and not _scope(other, person)
    ]
