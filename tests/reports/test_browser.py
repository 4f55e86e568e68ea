"""The leadership report in a real headless Chromium (Debian's, driven by Playwright):
it loads with no console error and fetches nothing, the search and filters narrow the
drill-down, a row opens its person, the grid and the trend chart render, it prints.
A screenshot of each view is kept under the test's tmp folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.history import History
from readiness.record import SweepRecord
from readiness.results import Verdict
from tests.reports.browser import browser_page
from tests.reports.conftest import EXAMPLE, at
from tests.reports.synthetic import make_record

pytestmark = pytest.mark.integration  # a real browser: seconds, not milliseconds

VIEWS = ("exceptions", "headline", "grid", "blockers", "owners", "trend", "coverage", "signoff")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SweepRecord]:
    """The HTML report of the third of three stored sweeps (a trend, ages, a diff)."""
    folder = tmp_path_factory.mktemp("report")
    records = [
        make_record(EXAMPLE, fail_rate=0.04, seed=7, sweep_id="s1", finished_at=at(0)),
        make_record(EXAMPLE, fail_rate=0.02, seed=7, sweep_id="s2", finished_at=at(3)),
        make_record(EXAMPLE, fail_rate=0.01, seed=7, sweep_id="s3", finished_at=at(6)),
    ]
    with History.of(folder / "state") as h:
        for record in records:
            h.add(record)
    out = folder / "report.html"
    assert main(["report", "--state-dir", str(folder / "state"), "--out", str(out)]) == 0
    return out, records[-1]


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll from Python: the report's Content-Security-Policy forbids the eval that
    Playwright's wait_for_function needs (as it should)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.05)


def test_report_in_chromium(report: tuple[Path, SweepRecord], tmp_path: Path) -> None:
    path, record = report
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with browser_page() as w:
        page = w.page
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        assert w.errors == []
        assert w.requests == [path.as_uri()]  # nothing else fetched, ever
        # The grid: five services, a cell per organisation and site.
        rows = page.locator("#rag-grid tr")
        assert rows.count() == 2 + 5
        assert page.locator("#rag-grid td.rag").count() == 5 * (2 + len(record.sites))
        # The trend: one line per organisation through three sweeps.
        assert page.locator("#trend-chart polyline").count() == 2
        assert page.locator("#trend-chart circle").count() == 6
        box = page.locator("#trend-chart").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
        for view in VIEWS:
            page.locator(f"#{view}").screenshot(path=str(shots / f"{view}.png"))
        # The drill-down: everyone, then narrowed by search and filters.
        total = len(record.people)
        assert page.inner_text("#people-count").startswith(f"{total} of {total} people")
        person = next(p for p in record.people if p.verdict is Verdict.NOT_READY)
        page.fill("#search", person.name.split()[-1].lower())
        _until(lambda: not page.inner_text("#people-count").startswith(f"{total} of"))
        names = page.locator("#people-table tbody tr.person td:first-child").all_inner_texts()
        assert person.name in names and len(names) < total
        page.locator("#people-table tbody tr.person", has_text=person.id).click()
        detail = page.inner_text("#people-table tr.detail")
        assert "fix: " in detail
        page.locator("#people").screenshot(path=str(shots / "person.png"))
        page.fill("#search", "")
        page.select_option("#f-verdict", "not ready")
        page.select_option("#f-org", "south")
        page.wait_for_timeout(300)
        verdicts = page.locator("#people-table tbody tr.person td:nth-child(5)").all_inner_texts()
        orgs = page.locator("#people-table tbody tr.person td:nth-child(3)").all_inner_texts()
        expected = sum(
            1 for p in record.people if p.verdict is Verdict.NOT_READY and p.organisation == "south"
        )
        assert len(verdicts) == min(expected, 100)
        assert set(verdicts) <= {"not ready"} and set(orgs) <= {"south"}
        page.select_option("#f-owner", index=1)
        page.wait_for_timeout(200)
        page.locator("#people").screenshot(path=str(shots / "people.png"))
        page.screenshot(path=str(shots / "full.png"), full_page=True)
        # Printing: controls and the drill-down are left out; a PDF comes out.
        page.emulate_media(media="print")
        assert not page.locator("#people").is_visible()
        assert page.locator("#signoff").is_visible()
        page.screenshot(path=str(shots / "print.png"), full_page=True)
        pdf = page.pdf(path=str(shots / "report.pdf"))
        assert pdf.startswith(b"%PDF")
        assert w.errors == []
    assert len(list(shots.glob("*.png"))) == len(VIEWS) + 4
