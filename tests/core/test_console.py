"""The terminal summary: with colour on, what the terminal shows is the plain summary,
column for column (markup takes no room on the screen, so widths are measured without
it)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Literal

from rich.console import Console

from readiness.inventory import load
from readiness.record import SweepMeta
from readiness.record.rollup import build
from readiness.reports.console import render
from readiness.results import Result, Status

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def result(subject: str, status: Status, site: str, check: str = "x.reach") -> Result:
    return Result(
        subject,
        check,
        "t",
        f"{site}-v",
        status,
        f"{subject} from {site}: {status.value} [sic]",
        hint="fix [it]",
        sites=(site,),
    )


def shown(text: str, *, terminal: bool) -> str:
    """``text`` as the sweep prints it (rich markup), on a colour terminal or without."""
    screen = io.StringIO()
    colours: Literal["truecolor"] | None = "truecolor" if terminal else None
    Console(file=screen, force_terminal=terminal, color_system=colours, width=500).print(
        text, highlight=False
    )
    return screen.getvalue().rstrip("\n")


def test_colour_markup_takes_no_room_in_the_tables() -> None:
    inventory = load(MINIMAL, [])
    results = [
        result("applications:payroll", Status.FAIL, "north-hq"),
        result("applications:payroll", Status.PASS, "south-hq"),
        result("network_resources:files", Status.WARN, "north-hq"),
        result("network_resources:files", Status.ERROR, "south-hq", "y.reach"),
        result("applications:intranet", Status.SKIP, "south-hq"),
    ]
    meta = SweepMeta(
        "s1", "0", "Merger [2027]", inventory.go_live, "p", "inv", "", {}, ("x",), NOW, NOW
    )
    record = build(inventory, inventory.staff, results, meta, [])
    plain = render(record, color=False)
    assert "Site x service object" in plain and "FAIL" in plain
    coloured = shown(render(record, color=True), terminal=True)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    # What the terminal shows, colours aside, is the plain summary, column for column.
    assert shown(render(record, color=True), terminal=False) == plain
    matrix = plain.split("Site x service object", 1)[1].split("\n\n")[0].splitlines()[1:]
    assert len(matrix) == 4
    assert len({len(line) for line in matrix}) == 1, matrix  # every row as wide as the header
