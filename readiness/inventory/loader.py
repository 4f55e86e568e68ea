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


def decode(path: Path) -> tuple[str | None, Problem | None]:
    """Read a text file as UTF-8 (with or without BOM); a clear problem otherwise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, Problem(str(path), "file not found")
    except OSError as exc:
        return None, Problem(str(path), f"cannot read file: {exc.strerror}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(
            f"{path}:{line}",
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8 (most HR systems offer it as an export option)",
        )


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
            documents.append((_convert(loader, node, path, (), locs, {}), locs))
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


def _convert(
    loader: Any,
    node: yaml.Node,
    path: Path,
    at: Path_,
    locs: dict[Path_, str],
    seen: dict[int, Any],
) -> Any:
    if id(node) in seen:  # an alias: reuse, never expand twice (no "billion laughs")
        return seen[id(node)]
    where = f"{path}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        _plain(node, where)
        result: dict[Any, Any] = {}
        seen[id(node)] = result
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _TagError(f"{path}:{key_node.start_mark.line + 1}", "keys must be plain text")
            key = _scalar(loader, key_node, path)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            key_where = f"{path}:{key_node.start_mark.line + 1}"
            if key in result:
                raise _TagError(key_where, f"key '{key}' appears twice in the same mapping")
            locs[(*at, key)] = key_where
            result[key] = _convert(loader, value_node, path, (*at, key), locs, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        _plain(node, where)
        items: list[Any] = []
        seen[id(node)] = items
        for index, item in enumerate(node.value):
            locs[(*at, index)] = f"{path}:{item.start_mark.line + 1}"
            items.append(_convert(loader, item, path, (*at, index), locs, seen))
        return items
    return _scalar(loader, node, path)


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
