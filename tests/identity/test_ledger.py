"""The credential-attempt ledger: budgets, one attempt per sweep, concurrent sweeps."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from readiness.ledger import (
    SCHEMA_VERSION,
    AttemptLedger,
    BudgetExceeded,
    LedgerError,
    Outcome,
)

T0 = dt.datetime(2027, 4, 1, 8, 0, tzinfo=dt.UTC)


def test_budget_counts_failures_in_rolling_window(tmp_path: Path) -> None:
    with AttemptLedger(tmp_path / "l.sqlite", max_failures=2) as ledger:
        r1 = ledger.reserve("north-ldap", "jsmith", now=T0)
        assert r1.remaining == 1
        ledger.record(r1, Outcome.FAILURE, "invalidCredentials")
        r2 = ledger.reserve("north-ldap", "jsmith", now=T0 + dt.timedelta(hours=1))
        ledger.record(r2, Outcome.FAILURE)
        with pytest.raises(BudgetExceeded) as err:
            ledger.reserve("north-ldap", "jsmith", now=T0 + dt.timedelta(hours=2))
        message = str(err.value)
        assert "north-ldap/jsmith" in message and "limit 2" in message
        assert err.value.retry_after == T0 + dt.timedelta(days=1)
        # Other accounts and realms are independent.
        ledger.reserve("south-ldap", "jsmith", now=T0)
        ledger.reserve("north-ldap", "other", now=T0)
        # The oldest failure leaves the window after a day.
        ledger.reserve("north-ldap", "jsmith", now=T0 + dt.timedelta(days=1, minutes=1))


def test_success_and_not_sent_are_free_pending_is_not(tmp_path: Path) -> None:
    with AttemptLedger(tmp_path / "l.sqlite", max_failures=1) as ledger:
        for i in range(3):
            ledger.record(
                ledger.reserve("r", "a", now=T0 + dt.timedelta(minutes=i)), Outcome.SUCCESS
            )
            ledger.record(
                ledger.reserve("r", "b", now=T0 + dt.timedelta(minutes=i)), Outcome.NOT_SENT
            )
        ledger.reserve("r", "c", now=T0)  # never recorded: a crash mid-attempt
        with pytest.raises(BudgetExceeded):
            ledger.reserve("r", "c", now=T0 + dt.timedelta(minutes=5))
        assert ledger.failures("r", "c", now=T0) == 1
        assert [h.outcome for h in ledger.history("r", "a")] == [Outcome.SUCCESS] * 3


def test_one_attempt_per_account_per_sweep(tmp_path: Path) -> None:
    with AttemptLedger(tmp_path / "l.sqlite", max_failures=5) as ledger:
        ledger.record(ledger.reserve("r", "a", now=T0, sweep="s1"), Outcome.SUCCESS)
        with pytest.raises(BudgetExceeded, match="already tried in this sweep"):
            ledger.reserve("r", "a", now=T0, sweep="s1")
        ledger.reserve("r", "a", now=T0, sweep="s2")


def test_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.sqlite"
    with AttemptLedger(path, max_failures=1) as ledger:
        ledger.record(ledger.reserve("r", "a", now=T0), Outcome.FAILURE)
    with AttemptLedger(path, max_failures=1) as ledger, pytest.raises(BudgetExceeded):
        ledger.reserve("r", "a", now=T0)


def _racer(path: str, barrier: object, results: object) -> None:
    ledger = AttemptLedger(Path(path), max_failures=2)
    barrier.wait()  # type: ignore[attr-defined]
    outcome = "refused"
    try:
        ledger.reserve("north-ldap", "pilot", now=T0 + dt.timedelta(minutes=1))
        outcome = "granted"
    except BudgetExceeded:
        pass
    results.put(outcome)  # type: ignore[attr-defined]
    ledger.close()


@pytest.mark.parametrize("racers", [2, 6])
def test_processes_racing_for_the_last_attempt(tmp_path: Path, racers: int) -> None:
    path = tmp_path / "ledger.sqlite"
    with AttemptLedger(path, max_failures=2) as ledger:
        ledger.record(ledger.reserve("north-ldap", "pilot", now=T0), Outcome.FAILURE)
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(racers)
    results = mp.Queue()
    procs = [mp.Process(target=_racer, args=(str(path), barrier, results)) for _ in range(racers)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert outcomes == ["granted"] + ["refused"] * (racers - 1)
    with AttemptLedger(path, max_failures=2) as ledger:
        assert ledger.failures("north-ldap", "pilot", now=T0) == 2


def test_in_flight_counts_other_pending_reservations(tmp_path: Path) -> None:
    with AttemptLedger(tmp_path / "l.sqlite", max_failures=5) as ledger:
        mine = ledger.reserve("r", "a", now=T0, sweep="s1")
        assert ledger.in_flight("r", "a", exclude=mine, now=T0) == 0
        other = ledger.reserve("r", "a", now=T0, sweep="s2")
        assert ledger.in_flight("r", "a", exclude=mine, now=T0) == 1
        assert ledger.in_flight("r", "a", now=T0) == 2
        assert ledger.in_flight("r", "b", now=T0) == 0  # per account
        ledger.record(other, Outcome.FAILURE)  # finished: the server has seen it
        assert ledger.in_flight("r", "a", exclude=mine, now=T0) == 0
        stale = ledger.reserve("r", "a", now=T0 - dt.timedelta(days=2), sweep="s3")
        assert stale.id and ledger.in_flight("r", "a", exclude=mine, now=T0) == 0  # window


def _headroom_racer(path: str, sweep: str, barrier: object, results: object) -> None:
    """One sweep's pilot step: reserve, count the others in flight, then decide against
    a server headroom of 2 (min_headroom 2), as the identity family does."""
    ledger = AttemptLedger(Path(path), max_failures=10)
    barrier.wait()  # type: ignore[attr-defined]
    reservation = ledger.reserve("north-ldap", "pilot", now=T0, sweep=sweep)
    others = ledger.in_flight("north-ldap", "pilot", exclude=reservation, now=T0)
    server_headroom, min_headroom = 2, 2
    if server_headroom - others >= min_headroom:
        results.put("bind")  # type: ignore[attr-defined]
        barrier.wait()  # type: ignore[attr-defined]  # every racer has decided
        ledger.record(reservation, Outcome.FAILURE, "49")
    else:
        results.put("refused")  # type: ignore[attr-defined]
        ledger.record(reservation, Outcome.NOT_SENT)
        barrier.wait()  # type: ignore[attr-defined]
    ledger.close()


@pytest.mark.parametrize("racers", [2, 5])
def test_concurrent_sweeps_never_both_spend_the_last_headroom(tmp_path: Path, racers: int) -> None:
    path = tmp_path / "ledger.sqlite"
    AttemptLedger(path).close()
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(racers)
    results = mp.Queue()
    procs = [
        mp.Process(target=_headroom_racer, args=(str(path), f"s{i}", barrier, results))
        for i in range(racers)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # Headroom 2 with min 2 allows one failing bind: never two (that would lock at 0).
    assert outcomes.count("bind") <= 1, outcomes


V1_SCHEMA = """
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, realm TEXT NOT NULL, account TEXT NOT NULL,
    at REAL NOT NULL, sweep TEXT NOT NULL DEFAULT '', family TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_account ON attempts (realm, account, at);
"""


def _v1_ledger(path: Path) -> None:
    """A ledger as version 1 wrote it: keyed by the inventory's names, no version."""
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO attempts (realm, account, at, sweep, family, outcome) VALUES "
        "('north-ldap', 'jsmith', ?, 's0', 'identity', 'failure')",
        (T0.timestamp(),),
    )
    db.commit()
    db.close()


def test_a_version_1_ledger_is_migrated_and_its_rows_follow_the_account(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    _v1_ledger(path)
    server, account = "ldap:10.0.0.1/dc=northvale,dc=test", "dn:uid=jsmith,dc=northvale,dc=test"
    with AttemptLedger(path, max_failures=2) as ledger:
        (old,) = ledger.history("north-ldap", "jsmith")
        assert old.label == "north-ldap/jsmith"  # the old key, kept for people reading it
        # An inventory that calls the directory "nv" reaches the same account: naming the
        # old key moves its rows, so the failure recorded under "north-ldap" counts.
        first = ledger.reserve(
            server, account, now=T0, label="nv/jsmith", aliases=[("north-ldap", "jsmith")]
        )
        assert first.remaining == 0
        assert not ledger.history("north-ldap", "jsmith")
        ledger.record(first, Outcome.FAILURE)
        with pytest.raises(BudgetExceeded, match="nv/jsmith"):
            ledger.reserve(server, account, now=T0, label="nv/jsmith")
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == 2


def test_a_ledger_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    AttemptLedger(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="newer version"):
        AttemptLedger(path)
