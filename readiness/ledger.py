"""The persistent credential-attempt ledger: the lockout budget every family spends.

Real logins (an LDAP bind, HTTP basic auth, SSH, SIP REGISTER) are only ever made
for declared pilot accounts, and each one is charged here *before* it is sent:

    reservation = ledger.reserve("north-ldap", "jsmith", sweep=sweep_id)   # may raise
    ... one attempt ...
    ledger.record(reservation, Outcome.FAILURE, "invalidCredentials")

``reserve`` refuses (:class:`BudgetExceeded`, with a message saying why and when the
account may be tried again) when the account's failed attempts in the rolling window
(plus attempts still in flight, counted as failures) have reached the budget, or when
the account was already tried in the same sweep. The check and the insert happen in
one ``BEGIN IMMEDIATE`` transaction on an SQLite file in WAL mode, so concurrent
sweeps (threads or processes) sharing the state folder never both spend the last
attempt. The ledger knows nothing about any protocol: a realm is any string naming
where the account authenticates. Families key it by the account *as the server knows
it* (a directory's identity and the entry's DN or GUID, an application's origin...),
never by what an inventory calls things, so every inventory reaching the same account
shares one budget; ``label`` keeps the inventory's words for people reading it.

The file carries its schema version (``PRAGMA user_version``, :data:`SCHEMA_VERSION`).
Version 1 (no version written) keyed rows by the inventory's names; opening it adds the
``label`` column. Its rows are moved to the server's key the first time a family
reserves that account again and names the old key in ``aliases``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from readiness.files import private_file

__all__ = [
    "SCHEMA_VERSION",
    "AttemptLedger",
    "AttemptRecord",
    "BudgetExceeded",
    "LedgerError",
    "Outcome",
    "Reservation",
]

DEFAULT_MAX_FAILURES = 2
DEFAULT_WINDOW = dt.timedelta(days=1)
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    realm TEXT NOT NULL,
    account TEXT NOT NULL,
    at REAL NOT NULL,            -- POSIX seconds, UTC
    sweep TEXT NOT NULL DEFAULT '',
    family TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,       -- pending | success | failure | not-sent
    detail TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT ''  -- the account in the inventory's words
);
CREATE INDEX IF NOT EXISTS attempts_account ON attempts (realm, account, at);
"""


class LedgerError(Exception):
    """The ledger file cannot be used (e.g. written by a newer version)."""


class Outcome(StrEnum):
    PENDING = "pending"  # reserved, result not recorded yet: counted as a failure
    SUCCESS = "success"
    FAILURE = "failure"  # the server rejected the credentials (counts against the budget)
    NOT_SENT = "not-sent"  # nothing reached the server (connection error): free


class BudgetExceeded(Exception):
    """The attempt was refused; the message says why and when to try again."""

    def __init__(
        self, message: str, *, realm: str, account: str, retry_after: dt.datetime | None = None
    ) -> None:
        super().__init__(message)
        self.realm = realm
        self.account = account
        self.retry_after = retry_after


@dataclass(frozen=True)
class Reservation:
    id: int
    realm: str
    account: str
    at: dt.datetime
    remaining: int  # budget left after this attempt, if it fails


@dataclass(frozen=True)
class AttemptRecord:
    realm: str
    account: str
    at: dt.datetime
    sweep: str
    family: str
    outcome: Outcome
    detail: str
    label: str = ""


def _ts(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _dt(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)


class AttemptLedger:
    """A SQLite ledger of credential attempts, keyed by realm and account."""

    def __init__(
        self,
        path: Path,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: dt.timedelta = DEFAULT_WINDOW,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.max_failures = max_failures
        self.window = window
        private_file(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        # Several sweeps (threads or processes) may open the file at the same moment:
        # switching to WAL and creating the schema can meet a busy database, so retry.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                break
            except LedgerError:
                self._db.close()
                raise
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    self._db.close()
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Create the schema, or bring an older file up to :data:`SCHEMA_VERSION` (in one
        transaction, so concurrent openers never see half a migration)."""
        self._db.execute("BEGIN IMMEDIATE")  # a busy file raises here: the caller retries
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the attempt ledger {self.path} was written by a newer version "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade, or use "
                    "another --state-dir"
                )
            if version < SCHEMA_VERSION:
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(attempts)")}
                if columns and "label" not in columns:
                    # Version 1: the inventory's names were the key; keep them as labels.
                    self._db.execute(
                        "ALTER TABLE attempts ADD COLUMN label TEXT NOT NULL DEFAULT ''"
                    )
                    self._db.execute("UPDATE attempts SET label = realm || '/' || account")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # -- spending ---------------------------------------------------------------------
    def reserve(
        self,
        realm: str,
        account: str,
        *,
        now: dt.datetime | None = None,
        sweep: str = "",
        family: str = "",
        max_failures: int | None = None,
        window: dt.timedelta | None = None,
        label: str = "",
        aliases: Sequence[tuple[str, str]] = (),
    ) -> Reservation:
        """Charge one attempt to ``realm/account`` or raise :class:`BudgetExceeded`.

        Refused when failures (and in-flight attempts) in the rolling window have
        reached the budget, or when ``sweep`` is given and already tried this account.
        ``label`` is the account in the caller's words (shown in messages);
        ``aliases`` are other (realm, account) keys the same account was recorded
        under (an older ledger's): their rows are moved to this key first.
        """
        now = now or dt.datetime.now(dt.UTC)
        limit = self.max_failures if max_failures is None else max_failures
        span = window or self.window
        since = _ts(now - span)
        name = label or f"{realm}/{account}"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for old_realm, old_account in aliases:
                    if (old_realm, old_account) != (realm, account):
                        self._db.execute(
                            "UPDATE attempts SET realm=?, account=? WHERE realm=? AND account=?",
                            (realm, account, old_realm, old_account),
                        )
                if sweep:
                    row = self._db.execute(
                        "SELECT COUNT(*) FROM attempts WHERE realm=? AND account=? AND sweep=?",
                        (realm, account, sweep),
                    ).fetchone()
                    if row[0]:
                        raise BudgetExceeded(
                            f"{name} was already tried in this sweep ({sweep}); "
                            "at most one attempt per account per sweep",
                            realm=realm,
                            account=account,
                        )
                spent = self._db.execute(
                    "SELECT at FROM attempts WHERE realm=? AND account=? AND at>=? "
                    "AND outcome IN ('failure','pending') ORDER BY at",
                    (realm, account, since),
                ).fetchall()
                if len(spent) >= limit:
                    # The oldest counted failure leaves the window first.
                    retry = _dt(spent[len(spent) - limit][0]) + span
                    raise BudgetExceeded(
                        f"attempt budget for {name} is used up: {len(spent)} failed "
                        f"or unfinished attempt(s) in the last {_span(span)} (limit {limit}); "
                        f"not trying again before {retry:%Y-%m-%d %H:%M} UTC",
                        realm=realm,
                        account=account,
                        retry_after=retry,
                    )
                cur = self._db.execute(
                    "INSERT INTO attempts (realm, account, at, sweep, family, outcome, label) "
                    "VALUES (?,?,?,?,?,'pending',?)",
                    (realm, account, _ts(now), sweep, family, label),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Reservation(int(cur.lastrowid or 0), realm, account, now, limit - len(spent) - 1)

    def record(self, reservation: Reservation, outcome: Outcome | str, detail: str = "") -> None:
        """Record how a reserved attempt ended (``detail`` must never hold a secret)."""
        value = Outcome(outcome)
        with self._lock:
            self._db.execute(
                "UPDATE attempts SET outcome=?, detail=? WHERE id=?",
                (value.value, detail[:500], reservation.id),
            )

    # -- reading ----------------------------------------------------------------------
    def failures(
        self,
        realm: str,
        account: str,
        *,
        now: dt.datetime | None = None,
        window: dt.timedelta | None = None,
    ) -> int:
        """Failed (and unfinished) attempts in the rolling window."""
        now = now or dt.datetime.now(dt.UTC)
        since = _ts(now - (window or self.window))
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM attempts WHERE realm=? AND account=? AND at>=? "
                "AND outcome IN ('failure','pending')",
                (realm, account, since),
            ).fetchone()
        return int(row[0])

    def in_flight(
        self,
        realm: str,
        account: str,
        *,
        exclude: Reservation | None = None,
        now: dt.datetime | None = None,
        window: dt.timedelta | None = None,
    ) -> int:
        """Attempts on ``realm/account`` reserved in the rolling window and not finished
        yet (``pending``), other than ``exclude`` (the caller's own reservation).

        The server cannot see these yet: a caller that read the account's lockout
        headroom *after* taking this count subtracts it before sending its own attempt,
        so concurrent sweeps never spend the last attempts together.
        """
        now = now or dt.datetime.now(dt.UTC)
        since = _ts(now - (window or self.window))
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM attempts WHERE realm=? AND account=? AND at>=? "
                "AND outcome='pending' AND id<>?",
                (realm, account, since, exclude.id if exclude is not None else -1),
            ).fetchone()
        return int(row[0])

    def history(self, realm: str, account: str) -> list[AttemptRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT realm, account, at, sweep, family, outcome, detail, label FROM attempts "
                "WHERE realm=? AND account=? ORDER BY at, id",
                (realm, account),
            ).fetchall()
        return [
            AttemptRecord(r[0], r[1], _dt(r[2]), r[3], r[4], Outcome(r[5]), r[6], r[7])
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AttemptLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _span(span: dt.timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
