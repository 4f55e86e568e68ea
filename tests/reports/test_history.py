"""History: storing, references, migrations, a crash mid-write, concurrent writers,
diffs (also across different inventories), blocker age and the trend."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from readiness.history import History, HistoryError, compare
from readiness.history.context import ages, changes, report_context, trend
from readiness.history.migrations import MIGRATIONS, VERSION
from readiness.inventory import Selection
from readiness.record import SweepRecord
from readiness.results import Verdict
from tests.reports.conftest import EXAMPLE, MINIMAL, ROOT, at
from tests.reports.synthetic import make_record


def _ready_person(record: SweepRecord) -> str:
    person = next(p for p in record.people if p.verdict is Verdict.READY)
    return person.key


def _account_result(record: SweepRecord, person: str) -> str:
    return next(r.id for r in record.results if r.subject == person and "account" in r.check)


def test_store_list_and_resolve(tmp_path: Path, example_record: SweepRecord) -> None:
    with History.of(tmp_path / "state") as h:
        first = h.add(example_record)
        second = h.add(
            dataclasses.replace(
                example_record, meta=dataclasses.replace(example_record.meta, sweep_id="abcd1234")
            )
        )
        assert (first, second) == (1, 2)
        assert [s.seq for s in h.sweeps()] == [2, 1]
        assert h.resolve(None).seq == 2
        assert h.resolve("latest").seq == 2
        assert h.resolve("previous").seq == 1
        assert h.resolve("-1").seq == 1
        assert h.resolve("#1").seq == 1
        assert h.resolve("abcd").id == "abcd1234"
        for bad, message in (("-5", "holds only"), ("zzzz", "matches no sweep"), ("9", "no sweep")):
            with pytest.raises(HistoryError, match=message):
                h.resolve(bad)
        with pytest.raises(HistoryError, match="already in the history"):
            h.add(example_record)
        # Read back unchanged, figures kept.
        assert h.record(1) == example_record
        stored = h.get(1)
        assert stored.staff == len(example_record.people)
        assert stored.ready == example_record.verdict_counts()["ready"]
    mode = stat.S_IMODE((tmp_path / "state" / "history.sqlite").stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_an_empty_history_says_what_to_do(tmp_path: Path) -> None:
    with History.of(tmp_path) as h, pytest.raises(HistoryError, match="run `readiness sweep`"):
        h.resolve(None)


def test_migrations_from_every_earlier_version(tmp_path: Path, example_record: SweepRecord) -> None:
    # A version-1 history (before blockers and verdicts had rows) holding one sweep.
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with History(path) as h:
        assert h.version == VERSION == 2
        h.add(example_record)  # the tables migration 2 added are there
        assert h.person(example_record.people[0].key)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer than this tool"):
        History(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="cannot be read"):
        History(path)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    import readiness.history.store as store
    from tests.reports.synthetic import make_record

    record = make_record(Path({inventory!r}), sweep_id=sys.argv[2])

    class Crashing:
        # The database connection, killed on the last insert of the transaction.

        def __init__(self, db):
            self.db = db

        def __getattr__(self, name):
            return getattr(self.db, name)

        def executemany(self, sql, rows):
            if "verdicts" in sql:  # the sweep, record, statuses, blockers are in by now
                os.kill(os.getpid(), signal.SIGKILL)
            return self.db.executemany(sql, rows)

    with store.History(Path(sys.argv[1])) as h:
        if sys.argv[3] == "crash":
            h._db = Crashing(h._db)
        print(h.add(record))
    """
)


def _child(path: Path, sweep_id: str, mode: str) -> subprocess.Popen[str]:
    code = CHILD.format(root=str(ROOT), inventory=str(MINIMAL))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path), sweep_id, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_mid_write_leaves_the_previous_history(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    assert _child(path, "before", "ok").wait() == 0
    crashed = _child(path, "crashing", "crash")
    assert crashed.wait() == -9
    with History(path) as h:
        assert [s.id for s in h.sweeps()] == ["before"]
        assert h.record(1).meta.sweep_id == "before"
        assert h.statuses(2) == {}
        assert h._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert h.add(make_record(MINIMAL, sweep_id="after")) == 2


def test_concurrent_sweeps_store_at_once(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    children = [_child(path, f"sweep-{i}", "ok") for i in range(4)]
    outputs = [c.communicate() for c in children]
    assert [c.returncode for c in children] == [0] * 4, outputs
    assert sorted(int(out) for out, _ in outputs) == [1, 2, 3, 4]
    with History(path) as h:
        assert sorted(s.id for s in h.sweeps()) == [f"sweep-{i}" for i in range(4)]


def test_compare_kinds() -> None:
    before = {
        "a": ("pass", "a"),
        "b": ("fail", "cause-b"),
        "c": ("fail", "cause-c"),
        "d": ("error", "cause-d"),
        "e": ("warn", "e"),
        "g": ("fail", "cause-g"),
    }
    after = {
        "a": ("fail", "cause-a"),  # regression
        "b": ("pass", "b"),  # fixed
        "c": ("fail", "cause-c"),  # still failing
        "d": ("fail", "cause-d"),  # still failing (error -> fail is no regression)
        "e": ("error", "cause-e"),  # new failure, not a regression (an error)
        "f": ("fail", "cause-f"),  # new, never seen before
    }
    c = compare(before, after, {"p": "not ready", "q": "ready"}, {"p": "ready", "q": "not ready"})
    assert c.regressions == ("a",)
    assert c.new_failures == ("a", "e", "f")
    assert c.fixed == ("b",)
    assert c.still_failing == ("c", "d")
    assert c.gone == ("g",)
    assert c.new_blockers == ("cause-a", "cause-e", "cause-f")
    assert c.fixed_blockers == ("cause-b",)  # cause-g was not checked: not "fixed"
    assert (c.became_ready, c.became_not_ready) == (("p",), ("q",))


def test_diff_of_sweeps_of_different_inventories(tmp_path: Path) -> None:
    changed = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, changed)
    apps = changed / "applications.yaml"
    text = apps.read_text(encoding="utf-8")
    apps.write_text(text.replace("housing.valeshared.test", "homes.valeshared.test"), "utf-8")
    first = make_record(EXAMPLE, sweep_id="one", fail_rate=1.0)
    second = make_record(changed, sweep_id="two", fail_rate=1.0, finished_at=at(1))
    with History(tmp_path / "h.sqlite") as h:
        h.add(first)
        h.add(second)
        c = changes(h, h.get(1), h.get(2))
    assert not c.same_inventory
    failing = [{r.id for r in rec.results if r.status.bad} for rec in (first, second)]
    only_first = failing[0] - {r.id for r in second.results}
    only_second = failing[1] - {r.id for r in first.results}
    assert only_first and only_second
    assert only_first <= set(c.gone)
    assert only_second <= set(c.new_failures)
    assert not c.regressions


def test_regression_fix_and_people_across_stored_sweeps(tmp_path: Path) -> None:
    base = make_record(EXAMPLE, fail_rate=0.0, sweep_id="s1", finished_at=at(0))
    person = _ready_person(base)
    account = _account_result(base, person)
    broken = make_record(
        EXAMPLE, fail_rate=0.0, sweep_id="s2", finished_at=at(1), broken=frozenset({account})
    )
    fixed = make_record(EXAMPLE, fail_rate=0.0, sweep_id="s3", finished_at=at(2))
    with History(tmp_path / "h.sqlite") as h:
        for record in (base, broken, fixed):
            h.add(record)
        worse = changes(h, h.get(1), h.get(2))
        better = changes(h, h.get(2), h.get(3))
        assert worse.regressions == (account,)
        assert worse.became_not_ready == (person,)
        assert better.fixed == (account,)
        assert better.became_ready == (person,)
        assert better.fixed_blockers == ("synthetic|blocked",) or better.fixed_blockers
        assert [v for _, v, _ in h.person(person)] == ["ready", "not ready", "ready"]


def test_blocker_age_runs_and_trend(tmp_path: Path) -> None:
    base = make_record(EXAMPLE, fail_rate=0.0, sweep_id="x", finished_at=at(0))
    account = _account_result(base, _ready_person(base))
    bad = frozenset({account})
    identity_only = Selection(families=frozenset({"dns"}))
    sweeps = [
        make_record(EXAMPLE, sweep_id="s1", finished_at=at(0), broken=bad, fail_rate=0),
        make_record(EXAMPLE, sweep_id="s2", finished_at=at(1), broken=bad, fail_rate=0),
        # Did not run identity: says nothing about the account blocker.
        make_record(
            EXAMPLE, sweep_id="s3", finished_at=at(2), selection=identity_only, fail_rate=0
        ),
        # Interrupted: says nothing either, and stays out of the trend.
        make_record(EXAMPLE, sweep_id="s4", finished_at=at(3), fail_rate=0, partial="interrupted"),
        make_record(EXAMPLE, sweep_id="s5", finished_at=at(5), broken=bad, fail_rate=0),
    ]
    with History(tmp_path / "h.sqlite") as h:
        for record in sweeps:
            h.add(record)
        latest = h.get(5)
        cause = sweeps[-1].blockers[0].root_cause
        age = ages(h, latest, [cause])[cause]
        assert (age.first_sweep, age.sweeps) == ("s1", 3)
        assert age.days_open(latest.finished_at) == 5
        # A complete sweep that ran identity without it breaks the run.
        h.add(make_record(EXAMPLE, sweep_id="s6", finished_at=at(6), fail_rate=0))
        h.add(make_record(EXAMPLE, sweep_id="s7", finished_at=at(7), broken=bad, fail_rate=0))
        again = ages(h, h.get(7), [cause])[cause]
        assert (again.first_sweep, again.days_open(at(7))) == ("s7", 0)
        points = trend(h, h.get(7))
        assert [p.sweep_id for p in points] == ["s1", "s2", "s5", "s6", "s7"]
        assert set(points[0].ready_pct) == {"north", "south"}
        context = report_context(h, h.get(7), [cause])
        assert context.changes is not None and context.changes.before == "s6"
        assert context.seq == 7
