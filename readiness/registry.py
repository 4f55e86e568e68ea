"""Find check families: built-ins in ``readiness_checks`` and third-party entry points.

Both go through the same door: a module exposing ``family`` (a CheckFamily
instance). Built-ins are found by scanning the package, so adding a family is one
file; other packages declare ``[project.entry-points."readiness.families"]``.
Nothing is imported until a family list is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from readiness.family import CheckFamily

ENTRY_POINT_GROUP = "readiness.families"


class RegistryError(Exception):
    """A plug-in could not be loaded or is malformed; the message names it."""


def _check(obj: object, origin: str) -> CheckFamily:
    if not isinstance(obj, CheckFamily):
        raise RegistryError(f"{origin}: `family` is not a readiness.family.CheckFamily instance")
    for attr in ("name", "plan", "run"):
        if not hasattr(obj, attr):
            raise RegistryError(f"{origin}: check family lacks `{attr}`")
    return obj


def builtin_modules() -> list[str]:
    import readiness_checks

    return sorted(
        f"readiness_checks.{info.name}"
        for info in pkgutil.iter_modules(readiness_checks.__path__)
        if not info.name.startswith("_")
    )


def load_families() -> list[CheckFamily]:
    """Every installed family, sorted by name; duplicate names are an error."""
    found: dict[str, tuple[CheckFamily, str]] = {}
    candidates: list[tuple[str, object]] = []
    for module_name in builtin_modules():
        module = importlib.import_module(module_name)
        if hasattr(module, "family"):
            candidates.append((module_name, module.family))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            candidates.append((f"entry point {ep.name} ({ep.value})", ep.load()))
        except Exception as exc:  # a broken plug-in must say who it is
            raise RegistryError(
                f"entry point {ep.name} ({ep.value}) failed to load: {exc}"
            ) from exc
    for origin, obj in candidates:
        fam = _check(obj, origin)
        if fam.name in found:
            if found[fam.name][0] is fam:
                continue
            raise RegistryError(
                f"two check families are named {fam.name!r}: {found[fam.name][1]} and {origin}"
            )
        found[fam.name] = (fam, origin)
    owners: dict[str, str] = {}
    for name in sorted(found):
        for section in found[name][0].sections:
            if section in owners:
                raise RegistryError(f"inventory section {section!r} is claimed by two check "
                                    f"families: {owners[section]} and {name}")
            owners[section] = name
    return [found[name][0] for name in sorted(found)]
