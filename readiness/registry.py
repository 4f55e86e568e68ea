"""Find the installed check families: one door, the entry-point group
``readiness.families``, for the built-ins (declared in this project's pyproject.toml)
and third-party packages alike.

A family is checked when it is registered: it must be a
:class:`readiness.family.CheckFamily`, its name unique, every section and block model
strict (unknown keys refused: a typo in an inventory must never pass silently), a
section or block claimed once, a block key free on its core object, and its check ids
named ``<family>.<assertion>`` (or a shared ``tls.``/``dns.`` prefix). The error
names the plug-in. Nothing is imported until a family list is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from readiness.family import CheckFamily
from readiness.inventory.extension import BLOCK_SECTIONS
from readiness.inventory.validate import CORE_SECTIONS

__all__ = ["ENTRY_POINT_GROUP", "RegistryError", "load_families"]

ENTRY_POINT_GROUP = "readiness.families"


class RegistryError(Exception):
    """A plug-in could not be loaded or is malformed; the message names it."""


def _strict(model: type[BaseModel], what: str, origin: str) -> None:
    config = getattr(model, "model_config", {})
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise RegistryError(f"{origin}: {what} is not a pydantic model")
    if config.get("extra") != "forbid":
        raise RegistryError(
            f"{origin}: {what} ({model.__name__}) accepts unknown keys; "
            "derive it from readiness.inventory.models.Strict so a typo in "
            "an inventory is reported, never ignored"
        )


def _check(obj: object, origin: str) -> CheckFamily[Any]:
    if not isinstance(obj, CheckFamily):
        raise RegistryError(f"{origin}: `family` is not a readiness.family.CheckFamily instance")
    if not getattr(obj, "name", ""):
        raise RegistryError(f"{origin}: check family lacks `name`")
    for section, model in obj.sections.items():
        if section in CORE_SECTIONS:
            raise RegistryError(
                f"{origin}: section {section!r} belongs to the core; attach a "
                "block to its objects instead"
            )
        _strict(model, f"section {section!r}", origin)
    for (section, key), model in obj.blocks.items():
        if section not in BLOCK_SECTIONS:
            raise RegistryError(
                f"{origin}: blocks can be attached to {', '.join(BLOCK_SECTIONS)}, not {section!r}"
            )
        if key in CORE_SECTIONS[section].model_fields:
            raise RegistryError(
                f"{origin}: block {section}.{key} would hide the core field {key!r}"
            )
        _strict(model, f"block {section}.{key}", origin)
    for spec in obj.checks:
        if "." not in spec.id:
            raise RegistryError(f"{origin}: check id {spec.id!r} is not <family>.<assertion>")
    return obj


def _claims(families: Iterable[tuple[CheckFamily[Any], str]]) -> None:
    owners: dict[object, str] = {}
    for fam, origin in families:
        for claim in [*fam.sections, *fam.blocks]:
            what = (
                f"inventory section {claim!r}"
                if isinstance(claim, str)
                else f"block {claim[0]}.{claim[1]}"
            )
            if claim in owners:
                raise RegistryError(
                    f"{what} is claimed by two check families: "
                    f"{owners[claim]} and {fam.name} ({origin})"
                )
            owners[claim] = fam.name


def load_families() -> list[CheckFamily[Any]]:
    """Every installed family, sorted by name; a malformed or clashing one is an error."""
    found: dict[str, tuple[CheckFamily[Any], str]] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        origin = f"entry point {ep.name} ({ep.value})"
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must say who it is
            raise RegistryError(f"{origin} failed to load: {exc}") from exc
        fam = _check(obj, origin)
        if fam.name in found:
            if found[fam.name][0] is fam:
                continue
            raise RegistryError(
                f"two check families are named {fam.name!r}: {found[fam.name][1]} and {origin}"
            )
        found[fam.name] = (fam, origin)
    ordered = [found[name] for name in sorted(found)]
    _claims(ordered)
    return [fam for fam, _ in ordered]
