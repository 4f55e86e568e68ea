"""Merge inventory files, validate them in one pass, and explain every problem.

Order: read every file (YAML syntax, tags, encoding) -> merge (ids defined twice)
-> load HR CSV staff -> one pydantic pass over the whole inventory (types, unknown
keys with "did you mean", secrets that are not references) -> references between
objects (core and each family's). All problems are collected, never just the first.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from readiness.family import CheckFamily, Problem
from readiness.inventory import Inventory, InventoryError
from readiness.inventory.loader import Locations, Path_, load_yaml, read_csv
from readiness.inventory.models import (
    LIST_COLUMNS,
    Id,
    Organisation,
    Programme,
    Role,
    Site,
    Staff,
    StaffSource,
    VantagePoint,
)

CORE_SECTIONS: dict[str, type[BaseModel]] = {
    "organisations": Organisation,
    "sites": Site,
    "vantage_points": VantagePoint,
    "roles": Role,
}
LIST_SECTIONS = ("staff", "staff_sources")
REFERENCED_SECTIONS = ("applications", "network_resources")


def inventory_model(families: Sequence[CheckFamily]) -> type[BaseModel]:
    """The model of a whole inventory: core sections plus every family's sections."""
    return _inventory_model(tuple(families))


@functools.lru_cache(maxsize=8)
def _inventory_model(families: tuple[CheckFamily, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "programme": (Programme, Field(description="The merger programme")),
        "staff": (list[Staff], Field(default_factory=list)),
        "staff_sources": (list[StaffSource], Field(default_factory=list)),
    }
    for name, model in CORE_SECTIONS.items():
        fields[name] = (dict[Id, model], Field(default_factory=dict))  # type: ignore[valid-type]
    for fam in families:
        for name, model in fam.sections.items():
            description = f"Owned by the {fam.name} check family"
            fields[name] = (dict[Id, model], Field(default_factory=dict, description=description))  # type: ignore[valid-type]
    return create_model(  # type: ignore[call-overload, no-any-return]
        "Inventory", __config__=ConfigDict(extra="forbid", title="Day-1 readiness inventory"),
        **fields,
    )


def json_schema(families: Sequence[CheckFamily]) -> dict[str, Any]:
    schema = inventory_model(families).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def inventory_files(path: Path) -> list[Path] | Problem:
    if not path.exists():
        return Problem(str(path), "no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        return Problem(str(path), "no inventory files (*.yaml, *.yml) in this folder")
    return files


def build(path: Path, families: Sequence[CheckFamily]) -> Inventory:
    files = inventory_files(path)
    if isinstance(files, Problem):
        raise InventoryError([files])
    problems: list[Problem] = []
    merged: dict[str, Any] = {}
    locations = Locations()
    for file in files:
        documents, file_problems = load_yaml(file)
        problems += file_problems
        for data, locs in documents:
            if data is None:
                continue
            if not isinstance(data, dict):
                problems.append(Problem(locs[()], "an inventory document must be a mapping of "
                                        "sections (programme, organisations, sites, ...)"))
                continue
            problems += _merge(merged, data, locs, file, locations)
    if problems:
        raise InventoryError(problems)
    if not merged:
        raise InventoryError([Problem(str(path), "the inventory is empty",
                                      "start from inventories/example")])
    problems += _load_csv_staff(merged, locations)
    model = inventory_model(families)
    try:
        validated = model.model_validate(merged)
    except ValidationError as exc:
        problems += _explain(exc, model, locations)
    if problems:
        raise InventoryError(problems)
    sections = {
        name: getattr(validated, name) for fam in families for name in fam.sections
    }
    inventory = Inventory(
        root=path if path.is_dir() else path.parent,
        programme=validated.programme,  # type: ignore[attr-defined]
        organisations=validated.organisations,  # type: ignore[attr-defined]
        sites=validated.sites,  # type: ignore[attr-defined]
        vantage_points=validated.vantage_points,  # type: ignore[attr-defined]
        roles=validated.roles,  # type: ignore[attr-defined]
        staff=validated.staff,  # type: ignore[attr-defined]
        sections=sections,
        locations=locations,
        families=list(families),
    )
    problems += _references(inventory, families)
    for fam in families:
        problems += list(fam.validate(inventory))
    if problems:
        raise InventoryError(problems)
    return inventory


def _merge(merged: dict[str, Any], data: dict[str, Any], locs: dict[Path_, str],
           file: Path, locations: Locations) -> list[Problem]:
    problems: list[Problem] = []
    for section, value in data.items():
        where = locs.get((section,), f"{file}")
        if section in LIST_SECTIONS:
            target = merged.setdefault(section, [])
            if not isinstance(value, list) or not isinstance(target, list):
                problems.append(Problem(where, f"'{section}' must be a list"))
                continue
            offset = len(target)
            target.extend(value)
            _relocate(locs, (section,), offset, locations, file)
        elif isinstance(value, dict) and section != "programme":
            target = merged.setdefault(section, {})
            if not isinstance(target, dict):
                problems.append(Problem(where, f"'{section}' is written twice with different types"))
                continue
            for key, item in value.items():
                if key in target:
                    first = locations.of((section, key))
                    problems.append(Problem(
                        locs.get((section, key), where),
                        f"{_singular(section)} '{key}' is defined twice (also at {first})",
                        "keep one definition; files of a folder are merged",
                    ))
                    continue
                target[key] = item
            _copy_locs(locs, (section,), locations, file)
        else:
            if section in merged:
                problems.append(Problem(where, f"'{section}' is defined twice (also at "
                                        f"{locations.of((section,))})", "keep one definition"))
                continue
            merged[section] = value
            _copy_locs(locs, (section,), locations, file)
    return problems


def _copy_locs(locs: dict[Path_, str], prefix: Path_, locations: Locations, file: Path) -> None:
    n = len(prefix)
    for path, where in locs.items():
        if path[:n] == prefix and path not in locations.where:
            locations.where[path] = where
            locations.files[path] = file


def _relocate(locs: dict[Path_, str], prefix: Path_, offset: int, locations: Locations,
              file: Path) -> None:
    n = len(prefix)
    for path, where in locs.items():
        if path[:n] == prefix and len(path) > n and isinstance(path[n], int):
            new = (*prefix, path[n] + offset, *path[n + 1 :])
            locations.where[new] = where
            locations.files[new] = file
    locations.where.setdefault(prefix, locs.get(prefix, str(file)))
    locations.files.setdefault(prefix, file)


def _singular(section: str) -> str:
    return {"staff": "staff member", "organisations": "organisation", "sites": "site",
            "roles": "role", "vantage_points": "vantage point"}.get(section, section.rstrip("s"))


def _load_csv_staff(merged: dict[str, Any], locations: Locations) -> list[Problem]:
    """Append the staff of every HR CSV source to ``staff``, located by CSV line."""
    problems: list[Problem] = []
    sources = merged.get("staff_sources")
    if not isinstance(sources, list):
        return problems
    staff = merged.setdefault("staff", [])
    if not isinstance(staff, list):
        return problems
    for index, raw in enumerate(sources):
        at = ("staff_sources", index)
        try:
            source = StaffSource.model_validate(raw)
        except ValidationError:
            continue  # the whole-inventory pass reports it with its line
        csv_path = Path(source.file)
        if not csv_path.is_absolute():
            file = locations.file_of(at)
            csv_path = (file.parent if file else Path.cwd()) / csv_path
        read = read_csv(csv_path, source.delimiter)
        if isinstance(read, Problem):
            problems.append(Problem(read.where, read.message,
                                    read.hint or f"named by staff_sources at {locations.of(at)}"))
            continue
        header, rows = read
        index_of = {name: i for i, name in enumerate(header)}
        missing = [(f, c) for f, c in source.columns.items() if c not in index_of]
        if missing:
            for inventory_field, column in missing:
                close = difflib.get_close_matches(column, header, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"the header has: {', '.join(header)}"
                problems.append(Problem(f"{csv_path}:1", f"column '{column}' (mapped to {inventory_field} "
                                        f"at {locations.of((*at, 'columns', inventory_field))}) "
                                        "is not in the CSV header", hint))
            continue
        for line, row in rows:
            person: dict[str, Any] = {}
            if source.organisation:
                person["organisation"] = source.organisation
            if source.site:
                person["site"] = source.site
            for inventory_field, column in source.columns.items():
                cell = row[index_of[column]].strip() if index_of[column] < len(row) else ""
                if not cell:
                    continue
                if inventory_field in LIST_COLUMNS:
                    person[inventory_field] = [
                        part.strip() for part in cell.split(source.list_separator) if part.strip()
                    ]
                elif inventory_field == "pilot":
                    person[inventory_field] = cell.lower() in ("1", "true", "yes", "y")
                else:
                    person[inventory_field] = cell
            position = len(staff)
            staff.append(person)
            locations.where[("staff", position)] = f"{csv_path}:{line}"
            locations.files[("staff", position)] = csv_path
    return problems


def _explain(exc: ValidationError, model: type[BaseModel], locations: Locations) -> list[Problem]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        where = locations.of(loc)
        dotted = _dotted(loc)
        kind = error["type"]
        hint = ""
        if kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = f"unknown key '{loc[-1]}'" + (f" in {_dotted(loc[:-1])}" if loc[:-1] else "")
            hint = (f"did you mean '{close[0]}'?" if close
                    else f"allowed keys: {', '.join(sorted(allowed))}" if allowed else "")
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'" + (f" in {_dotted(loc[:-1])}" if loc[:-1] else "")
        else:
            text = error["msg"].removeprefix("Value error, ")
            message = f"{dotted}: {text}" if dotted else text
            if "secret" in text:
                hint = "e.g. file:north-ldap.secret (a file readable only by the sweep)"
        problems.append(Problem(where, message, hint))
    return problems


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean")."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field_info = current.model_fields.get(str(part))
            if field_info is None:
                return []
            current = field_info.annotation
        else:
            args = typing.get_args(current)
            if not args:
                return []
            current = args[-1]
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
            if len(options) != 1:
                return annotation
        else:
            return annotation


def _references(inv: Inventory, families: Sequence[CheckFamily]) -> list[Problem]:
    """Dangling references and duplicate ids between core objects."""
    problems: list[Problem] = []
    owned = {name for fam in families for name in fam.sections}

    def ref(kind: str, value: str, known: Iterable[str], *path: str | int, hint: str = "") -> None:
        known = list(known)
        if value in known:
            return
        close = difflib.get_close_matches(value, known, n=1)
        problems.append(Problem(inv.where(*path), f"{kind} '{value}' does not exist",
                                f"did you mean '{close[0]}'?" if close else hint))

    vantages = [*inv.vantage_points, "local"]
    for site_id, site in inv.sites.items():
        ref("organisation", site.organisation, inv.organisations, "sites", site_id, "organisation")
        for i, vp in enumerate(site.vantage_points):
            ref("vantage point", vp, vantages, "sites", site_id, "vantage_points", i)
    for vp_id, vp in inv.vantage_points.items():
        if vp.kind == "ssh" and not (vp.host and vp.user and (vp.key or vp.password)):
            problems.append(Problem(inv.where("vantage_points", vp_id),
                                    f"ssh vantage point '{vp_id}' needs host, user and key "
                                    "(or password)"))
    for section in REFERENCED_SECTIONS:
        targets = inv.section(section)
        for role_id, role in inv.roles.items():
            for i, item in enumerate(getattr(role, section)):
                if section not in owned:
                    problems.append(Problem(inv.where("roles", role_id, section, i),
                                            f"no installed check family provides '{section}'"))
                else:
                    ref(_singular(section).replace("_", " "), item, targets,
                        "roles", role_id, section, i, hint=f"define it under '{section}:'")
    seen: dict[tuple[str, str], int] = {}
    for index, person in enumerate(inv.staff):
        key = (person.organisation, person.id)
        if key in seen:
            problems.append(Problem(inv.where("staff", index),
                                    f"duplicate staff id '{person.id}' in organisation "
                                    f"'{person.organisation}' (also at {inv.where('staff', seen[key])})",
                                    "staff ids must be unique within an organisation"))
        else:
            seen[key] = index
        ref("organisation", person.organisation, inv.organisations, "staff", index, "organisation")
        ref("site", person.site, inv.sites, "staff", index, "site")
        for i, role in enumerate(person.roles):
            ref("role", role, inv.roles, "staff", index, "roles", i)
        for delta_name in ("needs", "exempt"):
            delta = getattr(person, delta_name)
            for section in REFERENCED_SECTIONS:
                for i, item in enumerate(getattr(delta, section)):
                    ref(_singular(section).replace("_", " "), item, inv.section(section),
                        "staff", index, delta_name, section, i)
        if person.pilot and not person.credential:
            problems.append(Problem(inv.where("staff", index),
                                    f"pilot account '{person.id}' has no credential reference",
                                    "add credential: file:PATH (or env:NAME)"))
    return problems
