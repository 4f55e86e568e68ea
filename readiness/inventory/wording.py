"""Naming a place in the inventory as its reader knows it: ``staff N00002
(staff.yaml:26)`` rather than ``staff[1]``, ``directories.north-ldap`` for an object of
a section. Validation messages and the pre-flight both speak this way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

__all__ = ["NAMED_BY", "describe", "dotted", "short"]

# List sections: what one item is called before its name, and without one.
LIST_ITEMS = {
    "staff": ("staff", "staff member"),
    "staff_sources": ("staff source", "staff source"),
}
# The field that names an item of a list section.
NAMED_BY = {"staff": "id", "staff_sources": "file"}


def dotted(loc: Sequence[Any]) -> str:
    """``a.b[0].c``: a path inside one object."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def short(where: str) -> str:
    """``staff.yaml:26`` for ``/path/to/inventory/staff.yaml:26`` (a problem's own
    location already gives the whole path)."""
    path, sep, line = where.rpartition(":")
    return f"{PurePath(path).name}:{line}" if sep and line.isdigit() else where


def describe(
    loc: Sequence[Any], where: Callable[[tuple[Any, ...]], str], item: Callable[[str, int], str]
) -> tuple[str, str]:
    """(the object ``loc`` is in, as a reader names it; the field inside it, dotted).

    ``where`` gives the ``file:line`` of a path; ``item(section, index)`` the value of
    the naming field of an item of a list section ("" when it has none)."""
    if not loc:
        return "", ""
    head = str(loc[0])
    if head in LIST_ITEMS and len(loc) > 1 and isinstance(loc[1], int):
        noun, unnamed = LIST_ITEMS[head]
        at = short(where(tuple(loc[:2])))
        named = item(head, loc[1])
        name = f"{noun} {named} ({at})" if named else f"the {unnamed} at {at}"
        return name, dotted(loc[2:])
    if head == "programme" or len(loc) < 2:
        return head, dotted(loc[1:])
    if isinstance(loc[1], int):  # an item of another list (a gate policy's thresholds...)
        return f"{head}[{loc[1]}]", dotted(loc[2:])
    return f"{head}.{loc[1]}", dotted(loc[2:])
