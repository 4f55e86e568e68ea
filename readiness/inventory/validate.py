"""Merge inventory files, validate them in one pass, and explain every problem.

Order: read every file (YAML syntax, tags, encoding) -> merge (ids defined twice)
-> load HR CSV staff -> one pydantic pass over the whole inventory (types, unknown
keys with "did you mean", secrets that are not references) -> references between
objects (core and each family's). All problems are collected, never just the first.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from readiness.inventory.explain import explain
from readiness.inventory.extension import BLOCK_SECTIONS, InventoryExtension
from readiness.inventory.inventory import Inventory, InventoryError
from readiness.inventory.loader import CsvError, Locations, Path_, load_yaml, read_csv
from readiness.inventory.models import (
    CORE_OBJECT_SECTIONS,
    LIST_COLUMNS,
    PATTERN_FIELDS,
    Id,
    Organisation,
    Programme,
    Role,
    Site,
    Staff,
    StaffSource,
    VantagePoint,
)
from readiness.inventory.needs import NeedEdge
from readiness.inventory.wording import NAMED_BY
from readiness.problems import Problem

CORE_SECTIONS: dict[str, type[BaseModel]] = {
    "organisations": Organisation,
    "sites": Site,
    "vantage_points": VantagePoint,
    "roles": Role,
    **CORE_OBJECT_SECTIONS,
}
LIST_SECTIONS = ("staff", "staff_sources")
_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(Id)
# Sections of service objects that roles and staff refer to by id.
REFERENCED_SECTIONS = ("applications", "network_resources")


def inventory_model(extensions: Sequence[InventoryExtension]) -> type[BaseModel]:
    """The model of a whole inventory: core sections (with the families' blocks on their
    objects) plus every family's own sections."""
    return _inventory_model(tuple(extensions))


@functools.lru_cache(maxsize=8)
def _inventory_model(extensions: tuple[InventoryExtension, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "programme": (Programme, Field(description="The merger programme")),
        "staff": (list[Staff], Field(default_factory=list)),
        "staff_sources": (list[StaffSource], Field(default_factory=list)),
    }
    for name, model in section_models(extensions).items():
        owner = next((e.name for e in extensions if name in e.sections), None)
        description = f"Owned by the {owner} check family" if owner else None
        fields[name] = (
            dict[Id, model],  # type: ignore[valid-type]
            Field(default_factory=dict, description=description),
        )
    return create_model(
        "Inventory",
        __config__=ConfigDict(extra="forbid", title="Day-1 readiness inventory"),
        **fields,
    )


def section_models(extensions: Sequence[InventoryExtension]) -> dict[str, type[BaseModel]]:
    """Model of one object of each section: the core's (extended with the blocks families
    attach to it) and each family's own."""
    return _section_models(tuple(extensions))


@functools.lru_cache(maxsize=8)
def _section_models(extensions: tuple[InventoryExtension, ...]) -> dict[str, type[BaseModel]]:
    models = dict(CORE_SECTIONS)
    for section in BLOCK_SECTIONS:
        blocks = {
            key: (ext.name, model)
            for ext in extensions
            for (sect, key), model in ext.blocks.items()
            if sect == section
        }
        if blocks:
            base = models[section]
            extra: dict[str, Any] = {
                key: (
                    model | None,
                    Field(None, description=f"{owner} check family: {key} settings"),
                )
                for key, (owner, model) in sorted(blocks.items())
            }
            models[section] = create_model(base.__name__, __base__=base, **extra)
    for ext in extensions:
        models.update(ext.sections)
    return models


def json_schema(extensions: Sequence[InventoryExtension]) -> dict[str, Any]:
    schema = inventory_model(extensions).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def inventory_files(path: Path) -> list[Path] | Problem:
    """The YAML files of an inventory folder (symlinked folders followed; a link that
    leads back into a folder already read is a loop, refused)."""
    if not path.exists():
        return Problem(str(path), "no such file or folder")
    if not path.is_dir():
        return [path]
    files: list[Path] = []
    seen: dict[str, str] = {}
    for folder, subfolders, names in os.walk(path, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            return Problem(
                folder,
                f"a symbolic link loops back to {seen[real]}",
                "remove the link; an inventory folder is read once",
            )
        seen[real] = folder
        subfolders.sort()
        files += [Path(folder) / n for n in names if n.endswith((".yaml", ".yml"))]
    if not files:
        return Problem(str(path), "no inventory files (*.yaml, *.yml) in this folder")
    return sorted(files)


def build(path: Path, extensions: Sequence[InventoryExtension]) -> Inventory:
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
                problems.append(
                    Problem(
                        locs[()],
                        "an inventory document must be a mapping of "
                        "sections (programme, organisations, sites, ...)",
                    )
                )
                continue
            problems += _merge(merged, data, locs, file, locations)
    if problems:
        raise InventoryError(problems)
    if not merged:
        raise InventoryError(
            [Problem(str(path), "the inventory is empty", "start from inventories/example")]
        )
    csv_files: list[Path] = []
    problems += _load_csv_staff(merged, locations, csv_files)
    validated, schema_problems = _validate_each(merged, extensions, locations)
    problems += schema_problems
    programme = validated.get("programme")
    if programme is None:
        raise InventoryError(problems)
    inventory = Inventory(
        root=path if path.is_dir() else path.parent,
        programme=programme,
        organisations=validated["organisations"],
        sites=validated["sites"],
        vantage_points=validated["vantage_points"],
        roles=validated["roles"],
        staff=validated["staff"],
        objects={name: validated[name] for name in CORE_OBJECT_SECTIONS},
        sections={name: validated[name] for ext in extensions for name in ext.sections},
        locations=locations,
        files=[*files, *csv_files],
    )
    # Objects that failed schema validation still count as declared for references,
    # so one typo is reported once, not again as a dangling reference.
    inventory.declared = {
        section: set(items)
        for section, items in merged.items()
        if isinstance(items, dict) and section != "programme"
    }
    inventory.staff_positions = validated["staff_positions"]
    problems += _references(inventory)
    for ext in extensions:
        try:
            problems += list(ext.validate(inventory))
            edges: Iterable[NeedEdge] = list(ext.needs(inventory))
        except Exception as exc:  # a plug-in defect must not hide the inventory's problems
            problems.append(
                Problem(
                    str(path),
                    f"the {ext.name} check family could not validate "
                    f"its sections: {type(exc).__name__}: {exc}",
                )
            )
            continue
        for edge in edges:
            inventory.need_edges.setdefault(edge.person, []).append(edge)
    if problems:
        raise InventoryError(problems)
    return inventory


def _validate_each(
    merged: dict[str, Any], extensions: Sequence[InventoryExtension], locations: Locations
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate object by object, so one bad object never hides another's problems."""
    model = inventory_model(extensions)
    problems: list[Problem] = []
    out: dict[str, Any] = {"staff": [], "staff_positions": []}

    def item(section: str, index: int) -> str:
        """The id of a staff member, the file of a staff source, as written."""
        items = merged.get(section)
        raw = items[index] if isinstance(items, list) and index < len(items) else None
        value = raw.get(NAMED_BY.get(section, "")) if isinstance(raw, dict) else None
        return value if isinstance(value, str) else ""

    def _explain(exc: ValidationError, prefix: Path_ = ()) -> list[Problem]:
        return explain(exc, model, locations, prefix, item)

    sections = section_models(extensions)
    for name in sections:
        out[name] = {}
    unknown = {k: v for k, v in merged.items() if k not in model.model_fields}
    try:
        model.model_validate(unknown)
    except ValidationError as exc:
        problems += [p for p in _explain(exc) if "unknown key" in p.message]
    if "programme" not in merged:
        problems.append(
            Problem(
                locations.of(()),
                "missing required section 'programme'",
                "add programme: {name: ..., go_live: YYYY-MM-DD}",
            )
        )
    else:
        try:
            out["programme"] = Programme.model_validate(merged["programme"])
        except ValidationError as exc:
            problems += _explain(exc, ("programme",))
    for name, item_model in sections.items():
        items = merged.get(name, {})
        if not isinstance(items, dict):
            problems.append(
                Problem(locations.of((name,)), f"'{name}' must be a mapping of id: object")
            )
            continue
        for key, raw in items.items():
            try:
                _ID_ADAPTER.validate_python(key)
                out[name][key] = item_model.model_validate(raw)
            except ValidationError as exc:
                problems += _explain(exc, (name, key))
    for name in LIST_SECTIONS:
        items = merged.get(name, [])
        if not isinstance(items, list):
            continue
        item_model = Staff if name == "staff" else StaffSource
        for index, raw in enumerate(items):
            try:
                valid = item_model.model_validate(raw)
            except ValidationError as exc:
                problems += _explain(exc, (name, index))
                continue
            if name == "staff":
                out["staff"].append(valid)
                out["staff_positions"].append(index)
    return out, problems


def _merge(
    merged: dict[str, Any],
    data: dict[str, Any],
    locs: dict[Path_, str],
    file: Path,
    locations: Locations,
) -> list[Problem]:
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
                problems.append(
                    Problem(where, f"'{section}' is written twice with different types")
                )
                continue
            for key, item in value.items():
                if key in target:
                    first = locations.of((section, key))
                    problems.append(
                        Problem(
                            locs.get((section, key), where),
                            f"{_singular(section)} '{key}' is defined twice (also at {first})",
                            "keep one definition; files of a folder are merged",
                        )
                    )
                    continue
                target[key] = item
            _copy_locs(locs, (section,), locations, file)
        else:
            if section in merged:
                problems.append(
                    Problem(
                        where,
                        f"'{section}' is defined twice (also at {locations.of((section,))})",
                        "keep one definition",
                    )
                )
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


def _relocate(
    locs: dict[Path_, str], prefix: Path_, offset: int, locations: Locations, file: Path
) -> None:
    n = len(prefix)
    for path, where in locs.items():
        index = path[n] if len(path) > n else None
        if path[:n] == prefix and isinstance(index, int):
            new = (*prefix, index + offset, *path[n + 1 :])
            locations.where[new] = where
            locations.files[new] = file
    locations.where.setdefault(prefix, locs.get(prefix, str(file)))
    locations.files.setdefault(prefix, file)


def _singular(section: str) -> str:
    return {
        "staff": "staff member",
        "organisations": "organisation",
        "sites": "site",
        "roles": "role",
        "vantage_points": "vantage point",
    }.get(section, section.rstrip("s"))


def _load_csv_staff(
    merged: dict[str, Any], locations: Locations, read_files: list[Path]
) -> list[Problem]:
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
        read_files.append(csv_path)
        read = read_csv(csv_path, source.delimiter)
        if isinstance(read, Problem):
            problems.append(
                Problem(
                    read.where,
                    read.message,
                    read.hint or f"named by staff_sources at {locations.of(at)}",
                )
            )
            continue
        header, rows = read
        index_of = {name: i for i, name in enumerate(header)}
        missing = [(f, c) for f, c in source.columns.items() if c not in index_of]
        if missing:
            for inventory_field, column in missing:
                close = difflib.get_close_matches(column, header, n=1)
                shown = ", ".join(header[:20]) + (
                    f", ... ({len(header)} in all)" if len(header) > 20 else ""
                )
                hint = f"did you mean '{close[0]}'?" if close else f"the header has: {shown}"
                mapped_at = locations.of((*at, "columns", inventory_field))
                problems.append(
                    Problem(
                        f"{csv_path}:1",
                        f"column '{column}' (mapped to {inventory_field} at "
                        f"{mapped_at}) is not in the CSV header",
                        hint,
                    )
                )
            continue
        try:
            problems += _csv_people(rows, source, index_of, staff, csv_path, locations)
        except CsvError as exc:
            problems.append(
                Problem(
                    exc.where, f"unreadable CSV row: {exc.message}", "check the quoting of this row"
                )
            )
    return problems


def _csv_people(
    rows: Iterable[tuple[int, list[str]]],
    source: StaffSource,
    index_of: dict[str, int],
    staff: list[Any],
    csv_path: Path,
    locations: Locations,
) -> list[Problem]:
    """Append one staff record per CSV row, each located at its CSV line; a row a
    credential pattern cannot be filled for is a problem at that line."""
    problems: list[Problem] = []
    for line, row in rows:
        person: dict[str, Any] = {}
        if source.organisation:
            person["organisation"] = source.organisation
        if source.site:
            person["site"] = source.site
        for inventory_field, column in source.columns.items():
            cell = row[index_of[column]].strip() if index_of[column] < len(row) else ""
            if cell:
                _set_csv_field(person, inventory_field, cell, source.list_separator)
        where = f"{csv_path}:{line}"
        if person.get("pilot") is True:
            try:
                _fill_credentials(person, source)
            except KeyError as exc:
                problems.append(
                    Problem(
                        where,
                        f"the credential pattern of this staff source needs {exc.args[0]}, "
                        "which this row leaves empty",
                        "fill the column, or write the credential in a column of its own",
                    )
                )
        position = len(staff)
        staff.append(person)
        locations.where[("staff", position)] = where
        locations.files[("staff", position)] = csv_path
    return problems


def _set_csv_field(person: dict[str, Any], name: str, cell: str, separator: str) -> None:
    """Write one CSV cell into a staff record (``needs.applications`` into
    ``person["needs"]["applications"]``...)."""
    value: Any = cell
    if name in LIST_COLUMNS:
        value = [part.strip() for part in cell.split(separator) if part.strip()]
    elif name == "pilot":
        value = cell.lower() in ("1", "true", "yes", "y")
    head, dot, tail = name.partition(".")
    if dot:
        person.setdefault(head, {})[tail] = value
    else:
        person[name] = value


def _fill_credentials(person: dict[str, Any], source: StaffSource) -> None:
    """A pilot row's credentials from the source's patterns, where its cells are empty;
    KeyError names a placeholder the row has no value for."""

    def fill(pattern: str) -> str:
        values = {f: str(person.get(f, "")) for f in PATTERN_FIELDS if person.get(f)}
        return pattern.format_map(values)

    if source.credential and "credential" not in person:
        person["credential"] = fill(source.credential)
    for target, pattern in source.credentials.items():
        person.setdefault("credentials", {}).setdefault(target, fill(pattern))


def _references(inv: Inventory) -> list[Problem]:
    """Dangling references and duplicate ids between core objects."""
    problems: list[Problem] = []

    def ref(kind: str, value: str, section: str, path: Path_, hint: str = "") -> None:
        known = inv.declared_ids(section)
        if value in known:
            return
        close = difflib.get_close_matches(value, sorted(known), n=1)
        problems.append(
            Problem(
                inv.where(*path),
                f"{kind} '{value}' does not exist",
                f"did you mean '{close[0]}'?" if close else hint,
            )
        )

    for site_id, site in inv.sites.items():
        ref("organisation", site.organisation, "organisations", ("sites", site_id, "organisation"))
        for i, vp in enumerate(site.vantage_points):
            ref("vantage point", vp, "vantage_points", ("sites", site_id, "vantage_points", i))
    for vp_id, point in inv.vantage_points.items():
        if point.kind == "ssh" and not (
            point.host and point.user and (point.key or point.password)
        ):
            problems.append(
                Problem(
                    inv.where("vantage_points", vp_id),
                    f"ssh vantage point '{vp_id}' needs host, user and key (or password)",
                )
            )
    for section, objects in inv.objects.items():
        for obj_id, obj in objects.items():
            if obj.organisation is not None:
                ref(
                    "organisation",
                    obj.organisation,
                    "organisations",
                    (section, obj_id, "organisation"),
                    hint="define it under 'organisations:'",
                )
            if obj.checked_from not in ("sites", "central"):
                ref(
                    "vantage point",
                    obj.checked_from,
                    "vantage_points",
                    (section, obj_id, "checked_from"),
                    hint="use sites, central or a vantage point id",
                )
            for i, site in enumerate(getattr(obj, "sites", ())):
                ref(
                    "site",
                    site,
                    "sites",
                    (section, obj_id, "sites", i),
                    hint="define it under 'sites:'",
                )
            for i, org in enumerate(getattr(obj, "serves", ())):
                ref(
                    "organisation",
                    org,
                    "organisations",
                    (section, obj_id, "serves", i),
                    hint="define it under 'organisations:'",
                )
    for section in REFERENCED_SECTIONS:
        kind = _singular(section).replace("_", " ")
        for role_id, role in inv.roles.items():
            for i, item in enumerate(getattr(role, section)):
                ref(
                    kind,
                    item,
                    section,
                    ("roles", role_id, section, i),
                    hint=f"define it under '{section}:'",
                )
    seen: dict[tuple[str, str], int] = {}
    targets = {i for ids in inv.declared.values() for i in ids}  # what a credential is for
    for person, index in zip(inv.staff, inv.staff_positions, strict=True):
        key = (person.organisation, person.id)
        if key in seen:
            first = inv.where("staff", seen[key])
            problems.append(
                Problem(
                    inv.where("staff", index),
                    f"duplicate staff id '{person.id}' in organisation "
                    f"'{person.organisation}' (also at {first})",
                    "staff ids must be unique within an organisation",
                )
            )
        else:
            seen[key] = index
        at: Path_ = ("staff", index)
        ref("organisation", person.organisation, "organisations", (*at, "organisation"))
        ref("site", person.site, "sites", (*at, "site"))
        for i, role_id in enumerate(person.roles):
            ref("role", role_id, "roles", (*at, "roles", i))
        for delta_name in ("needs", "exempt"):
            delta = getattr(person, delta_name)
            for section in REFERENCED_SECTIONS:
                for i, item in enumerate(getattr(delta, section)):
                    ref(
                        _singular(section).replace("_", " "),
                        item,
                        section,
                        (*at, delta_name, section, i),
                    )
        for target in person.credentials:
            if target not in targets:
                close = difflib.get_close_matches(target, sorted(targets), n=1)
                problems.append(
                    Problem(
                        inv.where(*at, "credentials", target),
                        f"credentials names '{target}', which is not the id of anything "
                        "in the inventory (a directory, an application...)",
                        f"did you mean '{close[0]}'?" if close else "",
                    )
                )
        if person.pilot and not (person.credential or person.credentials):
            problems.append(
                Problem(
                    inv.where(*at),
                    f"pilot account '{person.id}' has no credential reference",
                    "add credential: file:PATH (or env:NAME), or credentials per target",
                )
            )
    return problems
