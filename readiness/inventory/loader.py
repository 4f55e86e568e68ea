"""Read YAML and CSV into plain data while remembering where every value came from.

Every mapping key and list item is recorded with its ``file:line`` so that any
problem found later (type, unknown key, dangling reference) points at the line to
edit. Only plain YAML is constructed: a tag that asks for a Python object is an
error, never an object.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from readiness.files import FileProblem, read_regular
from readiness.problems import Problem

Path_ = tuple[str | int, ...]
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass
class Locations:
    """Where each value of the merged inventory was written."""

    where: dict[Path_, str] = field(default_factory=dict)
    files: dict[Path_, Path] = field(default_factory=dict)

    def of(self, path: Path_) -> str:
        """``file:line`` of the nearest located ancestor of ``path``."""
        for end in range(len(path), -1, -1):
            found = self.where.get(path[:end])
            if found:
                return found
        return "inventory"

    def file_of(self, path: Path_) -> Path | None:
        for end in range(len(path), -1, -1):
            found = self.files.get(path[:end])
            if found:
                return found
        return None


# Bounds on what an inventory may make the loader do: a file, how deep it nests, how
# far its YAML aliases expand (an alias is reused, but validation would walk every
# use), how many columns an HR export has. Far above any real programme's.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 2_000_000
MAX_COLUMNS = 1000
MAX_LINE = 1024 * 1024  # characters


def decode(path: Path) -> tuple[str | None, Problem | None]:
    """Read a text file as UTF-8 (with or without BOM); a clear problem otherwise (not a
    regular file, larger than an inventory file can be, not UTF-8)."""
    try:
        raw = read_regular(path, MAX_FILE_BYTES)
    except FileProblem as exc:
        hint = {
            "too-large": "split it, or keep large staff lists in HR CSV exports",
            "special": "name a regular file",
        }.get(exc.kind, "")
        return None, Problem(str(path), str(exc), hint)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(
            f"{path}:{line}",
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8 (most HR systems offer it as an export option)",
        )
    longest = max(text.splitlines(), key=len, default="")
    if len(longest) > MAX_LINE:
        line = text[: text.index(longest)].count("\n") + 1
        return None, Problem(
            f"{path}:{line}",
            f"line {line} is {len(longest):,} characters long; lines are limited to {MAX_LINE:,}",
            "check that this is the file you meant (an inventory line is short)",
        )
    return text, None


def load_yaml(path: Path) -> tuple[list[tuple[Any, dict[Path_, str]]], list[Problem]]:
    """Every document of a YAML file, each with the location of each of its values."""
    text, problem = decode(path)
    if problem or text is None:
        return [], [problem] if problem else []
    loader = _Loader(text)
    documents: list[tuple[Any, dict[Path_, str]]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            locs: dict[Path_, str] = {(): f"{path}:{node.start_mark.line + 1}"}
            documents.append((_Converter(loader, path, locs).convert(node, ()), locs))
    except _TagError as exc:
        return [], [Problem(exc.where, exc.message, exc.hint)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        message = exc.problem or "unreadable"
        if exc.context:
            message += f" ({exc.context})"
        return [], [Problem(where, f"malformed YAML: {message}", "check indentation and quoting")]
    except yaml.YAMLError as exc:
        return [], [Problem(str(path), f"malformed YAML: {exc}")]
    finally:
        loader.dispose()
    return documents, []


class _TagError(Exception):
    def __init__(self, where: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.where, self.message, self.hint = where, message, hint


class _Converter:
    """Plain data from one YAML document, remembering where every value was written.

    An alias is reused, never copied; but what it stands for counts again each time it
    is used (validation walks every use), so aliases that expand to more than
    :data:`MAX_VALUES` values ("billion laughs"), an alias inside what it names (a loop)
    and nesting deeper than :data:`MAX_DEPTH` are refused with their line."""

    def __init__(self, loader: Any, path: Path, locs: dict[Path_, str]) -> None:
        self.loader, self.path, self.locs = loader, path, locs
        self.done: dict[int, tuple[Any, int]] = {}  # node -> (value, values it expands to)
        self.open: set[int] = set()
        self.values = 0

    def _where(self, node: yaml.Node) -> str:
        return f"{self.path}:{node.start_mark.line + 1}"

    def _count(self, n: int, node: yaml.Node) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            raise _TagError(
                self._where(node),
                f"the YAML expands to more than {MAX_VALUES:,} "
                "values (aliases used inside aliases)",
                "write the values out, or use fewer nested aliases",
            )

    def convert(self, node: yaml.Node, at: Path_) -> Any:
        key = id(node)
        if key in self.done:  # an alias: reuse, but count what it stands for
            value, size = self.done[key]
            self._count(size, node)
            return value
        if key in self.open:
            raise _TagError(
                self._where(node),
                "a YAML alias refers to a value that contains it",
                "inventories hold plain data; remove the loop",
            )
        if len(at) > MAX_DEPTH:
            raise _TagError(
                self._where(node),
                f"nested deeper than {MAX_DEPTH} levels",
                "an inventory is a few levels deep; check the structure",
            )
        before = self.values
        self._count(1, node)
        self.open.add(key)
        value = self._value(node, at)
        self.open.discard(key)
        self.done[key] = (value, self.values - before)
        return value

    def _value(self, node: yaml.Node, at: Path_) -> Any:
        where = self._where(node)
        if isinstance(node, yaml.MappingNode):
            _plain(node, where)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _TagError(self._where(key_node), "keys must be plain text")
                key = _scalar(self.loader, key_node, self.path)
                if not isinstance(key, str):
                    key = str(key).lower() if isinstance(key, bool) else str(key)
                key_where = self._where(key_node)
                if key in result:
                    raise _TagError(key_where, f"key '{key}' appears twice in the same mapping")
                self.locs[(*at, key)] = key_where
                result[key] = self.convert(value_node, (*at, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            _plain(node, where)
            items: list[Any] = []
            for index, item in enumerate(node.value):
                self.locs[(*at, index)] = self._where(item)
                items.append(self.convert(item, (*at, index)))
            return items
        return _scalar(self.loader, node, self.path)


def _plain(node: yaml.Node, where: str) -> None:
    if node.tag not in _PLAIN_TAGS:
        raise _TagError(
            where,
            f"YAML tag {node.tag} is not allowed",
            "inventories hold plain data; remove the tag",
        )


def _scalar(loader: Any, node: yaml.Node, path: Path) -> Any:
    if node.tag == _STR:  # the common case, without the constructor's overhead
        return node.value
    try:
        return loader.construct_object(node, deep=True)
    except ValueError:
        # Looks like a YAML timestamp but is no real date (2027-13-04): keep the text,
        # so validation says what the field must be, with its line.
        return node.value
    except yaml.constructor.ConstructorError:
        raise _TagError(
            f"{path}:{node.start_mark.line + 1}",
            f"YAML tag {node.tag} is not allowed",
            "inventories hold plain data; remove the tag",
        ) from None


CsvRows = tuple[list[str], Iterator[tuple[int, list[str]]]]


class CsvError(Exception):
    """A row the csv module cannot read (e.g. an unterminated quote or a huge field)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


def read_csv(path: Path, delimiter: str = ",") -> CsvRows | Problem:
    """The header and the (line number, row) pairs of an HR-style CSV export."""
    text, problem = decode(path)
    if problem or text is None:
        return problem or Problem(str(path), "unreadable")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return Problem(f"{path}:1", "the CSV file is empty (no header row)")
    except csv.Error as exc:
        return Problem(f"{path}:1", f"unreadable CSV header: {exc}")
    if len(header) > MAX_COLUMNS:
        return Problem(
            f"{path}:1",
            f"the header has {len(header):,} columns; an HR export has at most {MAX_COLUMNS:,}",
            "check the delimiter and that this is the HR export",
        )

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise CsvError(f"{path}:{reader.line_num}", str(exc)) from None

    return header, rows()
