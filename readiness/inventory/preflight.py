"""The pre-flight: what can be checked before a sweep, is.

Every secret reference (``env:``, ``file:``, ``keyring:``), CA bundle and known_hosts
file the inventory names (fields typed with a :class:`readiness.inventory.models.Reads`
marker: the core's, the families' blocks and the families' own sections alike) is
resolved on this machine. A missing, unreadable or empty one is a problem with the
inventory's ``file:line``, reported by ``readiness validate``, ``sweep --dry-run`` and
before every sweep: a sweep must never discover it by leaving 150 people unknown. A
resolved secret is dropped at once; nothing of it is kept or shown.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Reads
from readiness.inventory.wording import describe
from readiness.problems import Problem
from readiness.secrets import SecretError, resolve

__all__ = ["Preflight", "preflight"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Preflight:
    checked: int  # references resolved
    problems: list[Problem]  # those that cannot be used here


def preflight(inventory: Inventory, secrets_dir: Path) -> Preflight:
    """Resolve every reference of ``inventory`` on this machine; relative ``file:``
    secrets resolve in ``secrets_dir``, paths relative to the file they are written in."""
    problems: list[Problem] = []
    checked = 0
    for loc, marker, value in _references(inventory):
        checked += 1
        detail, hint = _check(inventory, loc, marker, value, secrets_dir)
        if detail:
            name, inner = describe(loc, lambda at: inventory.where(*at), _naming(inventory))
            problems.append(Problem(inventory.where(*loc), f"{name}: {inner}: {detail}", hint))
    return Preflight(checked, problems)


def _naming(inventory: Inventory) -> Any:
    positions = dict(zip(inventory.staff_positions, inventory.staff, strict=True))

    def item(section: str, index: int) -> str:
        person = positions.get(index) if section == "staff" else None
        return person.id if person else ""

    return item


def _check(
    inventory: Inventory, loc: Loc, marker: Reads, value: str, secrets_dir: Path
) -> tuple[str, str]:
    """(what is wrong with the reference, how to fix it); ("", "") when it resolves."""
    if marker.kind == "secret":
        try:
            found = resolve(value, secrets_dir)
        except SecretError as exc:
            return str(exc), _secret_hint(value, secrets_dir)
        if not found.reveal():
            return f"the secret {value} is empty", "write the secret into it"
        return "", ""
    path = inventory.resolve_path(value, *loc)
    if not path.exists():
        return f"the {marker.what} {path} does not exist", (
            "fix the path (relative paths start from the file it is written in)"
        )
    if not path.is_file():
        return f"the {marker.what} {path} is not a file", "point it at a file"
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"the {marker.what} {path} cannot be read: {exc.strerror}", (
            "let the account that runs the sweep read it"
        )
    if marker.kind == "ca-bundle":
        return _ca_bundle(path, marker.what)
    return "", ""


def _ca_bundle(path: Path, what: str) -> tuple[str, str]:
    import ssl

    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return f"the {what} {path} holds no usable PEM certificate ({reason})", (
            "export the CA certificates in PEM (-----BEGIN CERTIFICATE-----)"
        )
    return "", ""


def _secret_hint(reference: str, secrets_dir: Path) -> str:
    scheme = reference.partition(":")[0]
    if scheme == "file":
        return (
            f"create the file, or point --secrets-dir at the folder holding it (relative "
            f"file: references resolve in {secrets_dir})"
        )
    if scheme == "env":
        return "export the variable in the environment the sweep runs in"
    return "store the secret in the keyring of the account that runs the sweep"


# ----------------------------------------------------------------------------- the walk


def _references(inventory: Inventory) -> Iterator[tuple[Loc, Reads, str]]:
    """(path, marker, value) of every marked field written in the inventory."""
    yield from _walk(inventory.programme, ("programme",))
    core: Mapping[str, Mapping[str, Any]] = {
        "organisations": inventory.organisations,
        "sites": inventory.sites,
        "vantage_points": inventory.vantage_points,
        "roles": inventory.roles,
        **inventory.objects,
        **inventory.sections,
    }
    for section, items in core.items():
        for item_id, obj in items.items():
            yield from _walk(obj, (section, item_id))
    for person, position in zip(inventory.staff, inventory.staff_positions, strict=True):
        yield from _walk(person, ("staff", position))


def _walk(value: Any, loc: Loc) -> Iterator[tuple[Loc, Reads, str]]:
    if isinstance(value, BaseModel):
        marked, nested = _plan(type(value))
        for name, marker in marked:
            found = getattr(value, name)
            if isinstance(found, str):
                yield (*loc, name), marker, found
        for name in nested:
            yield from _walk(getattr(value, name), (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*loc, key))


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[tuple[tuple[str, Reads], ...], tuple[str, ...]]:
    """(fields carrying a marker, fields that may hold models carrying one) of a model,
    worked out once per class (20,000 staff are walked in milliseconds)."""
    marked: list[tuple[str, Reads]] = []
    nested: list[str] = []
    for name, info in model.model_fields.items():
        markers = [m for m in info.metadata if isinstance(m, Reads)]
        markers += _markers(info.annotation)
        if markers:
            marked.append((name, markers[0]))
        elif any(_plan(m)[0] or _plan(m)[1] for m in _models_in(info.annotation)):
            nested.append(name)
    return tuple(marked), tuple(nested)


def _markers(annotation: Any) -> list[Reads]:
    found = []
    if typing.get_origin(annotation) is typing.Annotated:
        found += [m for m in annotation.__metadata__ if isinstance(m, Reads)]
    for arg in typing.get_args(annotation):
        found += _markers(arg)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
