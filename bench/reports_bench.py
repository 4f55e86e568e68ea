"""Benchmark: history, reports, the gate and merges at 10,000 staff per organisation.

    .venv/bin/python bench/reports_bench.py [--staff 10000]

No lab: the inventory is what `readiness lab render --staff N` writes, the plan and the
roll-up are the real ones, the results synthetic (tests/reports/synthetic.py: one per
check id of every probe, 0.5% failing), so the record has the size of a real sweep of
that estate. Prints: the store of one sweep in history, the HTML report (render time,
size, time to interactive in Debian's Chromium, a search of the drill-down),
`readiness history` and `readiness diff` of two such sweeps, `readiness gate` and a
`readiness merge` of four shards (whole commands, start-up included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from readiness.engine import make_plan  # noqa: E402
from readiness.history import History  # noqa: E402
from readiness.inventory import Selection, load  # noqa: E402
from readiness.record import SweepRecord  # noqa: E402
from readiness.registry import load_families  # noqa: E402
from readiness.reports import RenderOptions, renderer  # noqa: E402
from tests.reports.browser import browser_page  # noqa: E402
from tests.reports.synthetic import make_record, shard_files  # noqa: E402

READINESS = str(Path(sys.executable).with_name("readiness"))


def timed_command(*args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([READINESS, *args], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1, 3, 5, 6, 7):
        raise SystemExit(f"readiness {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
    return time.perf_counter() - start


def records(inventory: Path) -> tuple[SweepRecord, SweepRecord]:
    start = time.perf_counter()
    first = make_record(inventory, fail_rate=0.005, seed=1, sweep_id="bench-1")
    second = make_record(
        inventory,
        fail_rate=0.004,
        seed=2,
        sweep_id="bench-2",
        finished_at=first.meta.finished_at + dt.timedelta(days=1),
    )
    print(
        f"two records (plan + synthetic results + roll-up): {time.perf_counter() - start:.1f} s;"
        f" {len(first.people):,} staff, {len(first.results):,} results each"
    )
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=10_000, help="staff per organisation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as tmp:
        folder = Path(tmp)
        inventory = folder / "inventory"
        render = ["lab", "render", "--out", str(inventory), "--staff", str(args.staff)]
        subprocess.run([READINESS, *render, "--slot", "150"], check=True, capture_output=True)
        first, second = records(inventory)
        state = folder / "state"
        with History.of(state) as history:
            start = time.perf_counter()
            history.add(first)
            stored = time.perf_counter() - start
            history.add(second)
        size = (state / "history.sqlite").stat().st_size
        print(
            f"store one sweep in history: {stored:.2f} s (target < 2 s); history file with two "
            f"sweeps {size / 1e6:.1f} MB"
        )
        start = time.perf_counter()
        html = renderer("html").render(second, RenderOptions())
        rendered = time.perf_counter() - start
        page_file = folder / "report.html"
        page_file.write_text(html, "utf-8")
        print(
            f"HTML report: rendered in {rendered:.2f} s (target < 3 s), "
            f"{len(html.encode()) / 1e6:.1f} MB (target < 15 MB)"
        )
        start = time.perf_counter()
        out = folder / "full.html"
        whole = timed_command("report", "--state-dir", str(state), "--out", str(out))
        print(f"`readiness report` with history (load, context, render, write): {whole:.2f} s")
        with browser_page() as w:
            start = time.perf_counter()
            w.page.goto(page_file.as_uri())
            w.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            loaded = time.perf_counter() - start
            ready_ms = w.page.get_attribute("body", "data-ready-ms")
            name = second.people[len(second.people) // 2].name
            start = time.perf_counter()
            w.page.fill("#search", name.lower())
            total = f"{len(second.people)} of"
            while w.page.inner_text("#people-count").startswith(total):
                time.sleep(0.01)
            searched = time.perf_counter() - start
            assert not w.errors, w.errors
        print(
            f"Chromium: interactive {int(ready_ms or 0) / 1000:.2f} s after navigation started "
            f"(target < 2 s; {loaded:.2f} s including the browser's own round trips); a search "
            f"of {len(second.people):,} people {searched:.2f} s (120 ms of it the typing "
            "debounce)"
        )
        hist = timed_command("history", "--state-dir", str(state))
        diff = timed_command("diff", "--state-dir", str(state))
        print(
            f"`readiness history`: {hist:.2f} s; `readiness diff` of the two sweeps: {diff:.2f} s"
            " (whole commands, start-up included; target < 2 s)"
        )
        policy = ROOT / "docs" / "ci" / "gate-policy.yaml"
        gate = timed_command("gate", "--policy", str(policy), "--state-dir", str(state))
        print(f"`readiness gate` of the stored sweep (the example policy): {gate:.2f} s")
        families = load_families()
        plan = make_plan(load(inventory, families), families, Selection())
        files = shard_files(folder, second, plan, 4)
        merge = timed_command(
            "merge",
            str(inventory),
            *map(str, files),
            "--state-dir",
            str(folder / "merged"),
            "--out",
            str(folder / "merged"),
        )
        print(
            f"`readiness merge` of 4 shards ({len(second.results):,} results): {merge:.2f} s "
            "(whole command: read the shards, load the inventory, roll up, store, write)"
        )


if __name__ == "__main__":
    main()
