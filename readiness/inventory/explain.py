"""Validation errors in the inventory's words, not the validation library's.

``staff N00002 (staff.yaml:26): pilot must be true or false`` rather than
``staff[1].pilot: Input should be a valid boolean``; ``programme: go_live must be a
date YYYY-MM-DD or a date-time with a time zone, e.g. ...`` rather than "invalid
character in year". What a field must be is read from its type (a date, an id, a
number in a range, one of a few words), so the families' sections and blocks are
explained the same way as the core's; the errors pydantic gives once per member of a
union (``date``, ``datetime``) become one problem per field.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from readiness.inventory.loader import Locations, Path_
from readiness.inventory.wording import describe
from readiness.problems import Problem

__all__ = ["explain"]

Item = Callable[[str, int], str]

DATE = "a date YYYY-MM-DD, e.g. 2027-01-04"
DATETIME = "a date-time with a time zone, e.g. 2027-01-04T07:00+00:00"
DATE_OR_DATETIME = (
    "a date YYYY-MM-DD or a date-time with a time zone, e.g. 2027-01-04 or 2027-01-04T07:00+00:00"
)
PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$": "an id: letters, digits, '.', '_', '@' or '-', "
    "starting with a letter or a digit",
    r"^[A-Za-z0-9_.:-]+$": "a host name or address",
    r"^[A-Za-z0-9_.:\[\]-]+$": "host, host:port or [IPv6]:port",
}
WORDS = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}
BOUNDS = {
    "greater_than_equal": ("ge", "at least {}"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "at most {}"),
    "less_than": ("lt", "less than {}"),
    "string_too_short": ("min_length", "at least {} character(s) long"),
    "string_too_long": ("max_length", "at most {} character(s) long"),
    "too_short": ("min_length", "a list of at least {} item(s)"),
    "too_long": ("max_length", "a list of at most {} item(s)"),
}


def explain(
    exc: ValidationError,
    model: type[BaseModel],
    locations: Locations,
    prefix: Path_ = (),
    item: Item = lambda section, index: "",
) -> list[Problem]:
    """One problem per field, with the ``file:line`` of the field and the object named
    as the inventory's reader knows it (``item(section, index)`` names a list item)."""
    problems: dict[tuple[str, str], Problem] = {}
    for error in exc.errors(include_input=False, include_url=False):
        loc, leaf = _walk(model, (*prefix, *error["loc"]))
        message, hint = _message(error, loc, leaf, model, locations, item)
        where = locations.of(loc)
        # A field the library explained once per member of a union is one problem.
        problems.setdefault((where, message), Problem(where, message, hint))
    return list(problems.values())


def _message(
    error: Any,
    loc: Path_,
    leaf: Any,
    model: type[BaseModel],
    locations: Locations,
    item: Item,
) -> tuple[str, str]:
    kind = error["type"]
    if kind in ("extra_forbidden", "missing"):
        inside = _inside(loc[:-1], locations, item)
        if kind == "missing":
            return f"missing required key '{loc[-1]}'{inside}", ""
        allowed = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"allowed keys: {', '.join(sorted(allowed))}"
            if allowed
            else ""
        )
        return f"unknown key '{loc[-1]}'{inside}", hint
    key = ""
    if loc and loc[-1] == "[key]":  # a mapping's key, not its value, is wrong
        key, loc = str(loc[-2]), loc[:-2]
    name, field = describe(loc, locations.of, item)
    subject = ": ".join(part for part in (name, field) if part)
    if key:
        subject = f"{subject}: the key '{key}'" if subject else f"the key '{key}'"
    expected = _expected(kind, error.get("ctx") or {}, None if key else leaf)
    if expected:
        return f"{subject} must be {expected}", ""
    text = error["msg"].removeprefix("Value error, ")
    hint = (
        "e.g. file:north-ldap.secret (a file readable only by the sweep)"
        if "secret" in text
        else ""
    )
    return (f"{subject}: {text}" if subject else text), hint


def _inside(loc: Path_, locations: Locations, item: Item) -> str:
    if not loc:
        return ""
    name, field = describe(loc, locations.of, item)
    return f" in {name}" + (f", {field}" if field else "")


def _expected(kind: str, ctx: dict[str, Any], leaf: Any) -> str:
    """What a field must be, in words ("" when the library's own text, or the field's own
    validator, says it best)."""
    if kind == "value_error":
        return ""
    dates = _date_kinds(leaf)
    if dates or kind.startswith(("date_", "datetime_")):
        if dates == {dt.date}:
            return DATE
        if dates == {dt.datetime}:
            return DATETIME
        return DATE_OR_DATETIME
    if kind in WORDS:
        return WORDS[kind]
    if kind in BOUNDS:
        key, words = BOUNDS[kind]
        return words.format(ctx.get(key, "?"))
    if kind in ("literal_error", "enum"):
        return f"one of {ctx.get('expected', '?')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return PATTERNS.get(pattern, f"text matching {pattern}")
    return ""


def _date_kinds(annotation: Any) -> set[type]:
    annotation = _strip(annotation)
    if annotation in (dt.date, dt.datetime):
        return {annotation}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return {k for arg in typing.get_args(annotation) for k in _date_kinds(arg)}
    return set()


# ----------------------------------------------------------------------------- the models


def _walk(model: type[BaseModel], loc: Path_) -> tuple[Path_, Any]:
    """The path a reader wrote (the library's union tags such as ``date`` dropped) and
    the annotation of the field at its end (None when it is not a known field)."""
    current: Any = model
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        current = _strip(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            kept.append(part)
            if info is None:
                return (*kept, *loc[index + 1 :]), None
            current = info.annotation
        elif origin in (dict, Mapping):
            kept.append(part)
            current = typing.get_args(current)[-1]
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
            kept.append(part)
            current = typing.get_args(current)[0]
        elif origin in (typing.Union, types.UnionType):
            # Union members are tagged in the library's path; the reader wrote none.
            rest = [p for p in loc[index:] if p == "[key]"]
            return (*kept, *rest), current
        else:
            return (*kept, *loc[index:]), current
    return tuple(kept), current


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean")."""
    _, found = _walk(model, tuple(loc))
    found = _strip(found)
    if isinstance(found, type) and issubclass(found, BaseModel):
        return list(found.model_fields)
    return []


def _strip(annotation: Any) -> Any:
    """Without ``Annotated`` and without ``| None``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
