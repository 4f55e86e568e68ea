"""The report formats: HTML (self-contained, escaped, hashed), Markdown, the CSVs, JSON;
with and without what history adds."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re

import pytest

from readiness.record import SweepRecord
from readiness.record.context import BlockerAge, Changes, ReportContext, TrendPoint
from readiness.reports import RenderOptions, names, renderer
from readiness.reports.html import trend_svg, verify
from readiness.reports.summary import Cell, grid, owners
from tests.reports.conftest import at


def _context(record: SweepRecord) -> ReportContext:
    cause = record.blockers[0].root_cause
    return ReportContext(
        trend=(
            TrendPoint(1, "s1", at(-2), {"north": 40.0, "south": 55.0}),
            TrendPoint(2, "s2", at(-1), {"north": 60.0, "south": 58.0}),
        ),
        ages={cause: BlockerAge(cause, 1, "s1", at(-2), 2)},
        changes=Changes("s2", record.meta.sweep_id, 2, 3, new_blockers=(cause,), regressions=()),
        seq=3,
    )


def test_every_format_is_registered() -> None:
    assert {"html", "md", "csv", "blockers-csv", "json", "junit", "console"} <= set(names())


def test_html_is_self_contained_escaped_and_hashed(example_record: SweepRecord) -> None:
    evil = dataclasses.replace(
        example_record.people[0], name='<script>alert("x")</script> & </script>'
    )
    record = dataclasses.replace(example_record, people=(evil, *example_record.people[1:]))
    html = renderer("html").render(record, RenderOptions(context=_context(record)))
    assert "<script>alert" not in html
    assert "\\u003cscript\\u003ealert" in html  # inside the JSON the script reads
    # Nothing fetched from anywhere: no external URL in src/href, no CDN, no @import.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "cdn" not in html.lower()
    assert "<svg" in html and "polyline" in html
    assert verify(html)
    assert not verify(html.replace("Blockers, ranked", "Blockers ranked"))
    assert "days open" in html and ">2<" in html  # the blocker's age
    assert html.count('class="card"') == 2  # one card per organisation, side by side


def test_html_without_history(example_record: SweepRecord) -> None:
    html = renderer("html").render(example_record, RenderOptions())
    assert "No stored sweeps" in html and "No earlier sweep" in html
    assert verify(html)


def test_trend_svg_coordinates() -> None:
    points = (
        TrendPoint(1, "a", at(0), {"north": 0.0, "south": 50.0}),
        TrendPoint(2, "b", at(1), {"north": 100.0}),
    )
    svg = trend_svg(points, {"north": "N", "south": "S"}, at(2))
    north, south = svg["lines"]
    assert north["path"].split()[0].split(",")[1] == str(float(svg["bottom"]))  # 0% at bottom
    assert north["path"].split()[1].split(",")[1] == str(float(svg["top"]))  # 100% at top
    assert len(south["dots"]) == 1
    assert svg["go_live_x"] == svg["right"]
    assert trend_svg((), {}, at(0))["empty"]


def test_grid_cells_and_owners(example_record: SweepRecord) -> None:
    cells = grid(example_record)
    assert set(cells) == {"identity", "mail", "applications", "telephony", "network"}
    identity = cells["identity"]["north"]
    assert identity.needed == sum(1 for p in example_record.people if p.organisation == "north")
    assert Cell({"ready": 99, "not ready": 1}).rag == "green"
    assert Cell({"ready": 95, "unknown": 5}).rag == "amber"
    assert Cell({"ready": 50, "not ready": 50}).rag == "red"
    assert Cell({"not verified": 4}).rag == "grey"
    assert Cell({}).label == "-"
    rows = owners(example_record, {}, example_record.meta.finished_at)
    assert sum(r.blockers for r in rows) == len(example_record.blockers)


def test_markdown(example_record: SweepRecord) -> None:
    text = renderer("md").render(example_record, RenderOptions(context=_context(example_record)))
    assert text.startswith("# Day-1 readiness: Vale Shared Service")
    assert "Northvale Borough Council | Southmere District Council" in text
    assert "| identity |" in text and "Top blockers" in text
    assert "Since sweep #2: 1 new blocker(s)" in text


def test_blockers_csv(example_record: SweepRecord) -> None:
    context = _context(example_record)
    text = renderer("blockers-csv").render(example_record, RenderOptions(context=context))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(example_record.blockers)
    first = rows[0]
    assert first["rank"] == "1" and first["first_seen_sweep"] == "s1"
    assert int(first["people"]) == example_record.blockers[0].people
    assert first["fix"] == example_record.blockers[0].hint


def test_json_round_trip(example_record: SweepRecord) -> None:
    text = renderer("json").render(example_record, RenderOptions())
    data = json.loads(text)
    assert data["schema_version"] == 2
    assert SweepRecord.from_json(data) == example_record


@pytest.mark.parametrize("fmt", ["html", "md", "blockers-csv", "csv", "json"])
def test_an_empty_sweep_renders(fmt: str, example_record: SweepRecord) -> None:
    empty = dataclasses.replace(example_record, results=(), people=(), blockers=(), coverage={})
    assert renderer(fmt).render(empty, RenderOptions())
