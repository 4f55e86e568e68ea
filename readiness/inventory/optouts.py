"""Where an inventory turns a safety default off (TLS verification, SSH host keys,
cleartext LDAP binds): every report says so, so an opt-out made for a lab never goes
unnoticed into production.

A model (the core's or a family's) marks such a field with ``OPT_OUT`` in its
``json_schema_extra``; a field holding anything but its default is an opt-out. The
core needs no family's field names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from readiness.inventory.models import OPT_OUT  # noqa: F401 (re-exported for families)

if TYPE_CHECKING:
    from readiness.inventory.inventory import Inventory

__all__ = ["opt_outs"]


def opt_outs(inventory: Inventory) -> tuple[str, ...]:
    """``section.id.field: value`` for every safety default the inventory turns off."""
    found: list[str] = []
    roots: dict[str, Mapping[str, Any]] = {
        "vantage_points": inventory.vantage_points,
        **inventory.objects,
        **inventory.sections,
    }
    for section, objects in roots.items():
        for oid, obj in objects.items():
            _walk(obj, f"{section}.{oid}", found)
    return tuple(sorted(set(found)))


def _walk(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            sub = getattr(value, name)
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("opt_out") and sub != info.default:
                found.append(f"{path}.{name}: {json.dumps(sub, default=str)}")
            else:
                _walk(sub, f"{path}.{name}", found)
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            _walk(sub, f"{path}.{key}", found)
    elif isinstance(value, list | tuple):
        for i, sub in enumerate(value):
            _walk(sub, f"{path}[{i}]", found)
