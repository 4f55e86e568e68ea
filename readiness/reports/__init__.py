"""Renderers of one sweep record (:class:`readiness.record.SweepRecord`).

A renderer turns the record into text: the terminal summary, ``results.json``,
``staff.csv``, and (registered the same way) any other format. Built-ins and
third-party renderers go through one door, the entry-point group
``readiness.renderers``; nothing is imported until a renderer is asked for. Renderers
see the record only: never the inventory, never a secret.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from readiness.record.context import ReportContext
from readiness.record.model import SweepRecord

__all__ = [
    "ENTRY_POINT_GROUP",
    "RenderOptions",
    "Renderer",
    "RendererError",
    "names",
    "renderer",
    "write",
]

ENTRY_POINT_GROUP = "readiness.renderers"


class RendererError(Exception):
    """No such renderer, or a plug-in that is not one; the message says which."""


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False  # rich markup for a terminal
    limit: int = 15  # blockers listed in summaries
    # What history and the gate add (trend, blocker age, changes, verdict); plain data.
    context: ReportContext = field(default_factory=ReportContext)


class Renderer(Protocol):
    name: str
    description: str
    filename: str  # the file it writes into an --out folder; "" = terminal only

    def render(self, record: SweepRecord, options: RenderOptions) -> str: ...


def names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def renderer(name: str) -> Renderer:
    """The renderer registered as ``name`` (only that one is imported)."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise RendererError(f"no renderer named {name!r}; installed: {', '.join(names())}")
    if len(found) > 1:
        raise RendererError(
            f"two renderers are named {name!r}: " + " and ".join(ep.value for ep in found)
        )
    try:
        obj = found[0].load()
    except Exception as exc:
        raise RendererError(f"renderer {name} ({found[0].value}) failed to load: {exc}") from exc
    if not all(hasattr(obj, attr) for attr in ("name", "filename", "render")):
        raise RendererError(f"renderer {name} ({found[0].value}) is not a renderer")
    return obj  # type: ignore[no-any-return]


def write(text: str, path: Path, *, encoding: str = "utf-8") -> Path:
    """Write a report atomically (a crash never leaves half a file) and readable by its
    owner only: reports name people and their accounts."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
