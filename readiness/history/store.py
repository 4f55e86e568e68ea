"""Sweep history: an embedded SQLite database in the state folder.

Every sweep is stored whole (its ``results.json``, compressed) with its headline
figures, a compact map of result statuses (for diffs), its blockers and each person's
verdict as rows (for blocker age, per-owner figures and a person's history). A sweep
is written in one ``BEGIN IMMEDIATE`` transaction: a crash mid-write leaves the
history as it was, and concurrent sweeps sharing the state folder queue for the
write lock instead of failing. The file is created readable by its owner only
(it names people and their accounts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readiness.files import private_file
from readiness.history.migrations import MIGRATIONS, VERSION
from readiness.record.model import SweepRecord
from readiness.record.nogc import paused_gc
from readiness.results import ExitCode, Status

__all__ = ["FILENAME", "History", "HistoryError", "StoredSweep"]

FILENAME = "history.sqlite"
_COLUMNS = (
    "seq, id, programme, started_at, finished_at, go_live, go_live_source, inventory, "
    "fingerprint, selection, families, tool_version, partial, timings, exit_code, staff, "
    "ready, not_ready, unknown, organisations, counts"
)


class HistoryError(Exception):
    """A history that cannot be used, or a sweep that is not in it; the message says
    which and what to do."""


@dataclass(frozen=True)
class StoredSweep:
    """A stored sweep's headline: what ``readiness history`` lists."""

    seq: int
    id: str
    programme: str
    started_at: dt.datetime
    finished_at: dt.datetime
    go_live: dt.datetime
    go_live_source: str
    inventory: str
    fingerprint: str
    selection: Mapping[str, list[str]]
    families: tuple[str, ...]
    tool_version: str
    partial: str
    timings: Mapping[str, float]
    exit_code: int
    staff: int
    ready: int
    not_ready: int
    unknown: int
    organisations: Mapping[str, Mapping[str, Any]]  # org -> {"name", "verdicts"}
    counts: Mapping[str, int]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredSweep:
        (seq, sid, programme, started, finished, go_live, source, inventory, fingerprint,
         selection, families, version, partial, timings, code, staff, ready, not_ready,
         unknown, organisations, counts) = row  # fmt: skip
        return cls(
            seq, sid, programme, dt.datetime.fromisoformat(started),
            dt.datetime.fromisoformat(finished), dt.datetime.fromisoformat(go_live), source,
            inventory, fingerprint, json.loads(selection), tuple(json.loads(families)), version,
            partial, json.loads(timings), code, staff, ready, not_ready, unknown,
            json.loads(organisations), json.loads(counts),
        )  # fmt: skip

    @property
    def filtered(self) -> bool:
        return any(self.selection.values())

    def ready_pct(self, organisation: str) -> float | None:
        verdicts = self.organisations.get(organisation, {}).get("verdicts", {})
        total = sum(verdicts.values())
        return 100.0 * verdicts.get("ready", 0) / total if total else None


def _pack(value: Any) -> bytes:
    import orjson

    return zlib.compress(orjson.dumps(value), 1)


def _unpack(blob: bytes) -> Any:
    import orjson

    return orjson.loads(zlib.decompress(blob))


def _record_body(record: SweepRecord, counts: Mapping[str, int], code: int) -> bytes:
    """``results.json`` of ``record`` (each result without its derived ``id``): orjson
    writes the results' dataclass fields itself, several times faster than building
    150,000 dictionaries first."""
    import orjson

    data = dataclasses.replace(record, results=()).to_json()
    data["exit_code"] = code
    data["counts"] = dict(sorted(counts.items()))
    data["results"] = record.results
    return orjson.dumps(data)


class History:
    """The history database of one state folder."""

    def __init__(self, path: Path, *, busy_timeout: float = 60.0) -> None:
        self.path = Path(path)
        private_file(self.path)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._retry(lambda: self._db.execute("PRAGMA journal_mode = WAL"), busy_timeout)
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate(busy_timeout)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"the history {self.path} cannot be read: {exc}") from None

    @classmethod
    def of(cls, state_dir: Path) -> History:
        return cls(state_dir / FILENAME)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema
    @staticmethod
    def _retry(action: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, timeout: float) -> None:
        if self.version == VERSION:
            return
        with self._write(timeout):
            current = self.version  # again, now that we hold the write lock
            if current > VERSION:
                raise HistoryError(
                    f"the history {self.path} has schema version {current}, newer than this "
                    f"tool's {VERSION}: upgrade the tool, or use another --state-dir"
                )
            for number in range(current, VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {VERSION}")

    @contextlib.contextmanager
    def _write(self, timeout: float = 60.0) -> Iterator[None]:
        """One transaction holding the write lock: all of it is stored, or nothing."""
        self._retry(lambda: self._db.execute("BEGIN IMMEDIATE"), timeout)
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def add(self, record: SweepRecord, body: bytes | None = None) -> int:
        """Store ``record`` (``body``: its results.json text, if already made); return
        its number in this history. Storing the same sweep twice is refused."""
        with paused_gc():
            return self._add(record, body)

    def _add(self, record: SweepRecord, body: bytes | None) -> int:
        # A result id is subject|check|target|vantage: a person's problem checks come
        # from their reasons' ids without indexing 150,000 results.
        m = record.meta
        verdicts = record.verdict_counts()
        organisations = {
            org: {"name": name, "verdicts": dict(record.verdict_counts(org))}
            for org, name in record.organisations.items()
        }
        # Status and root cause of every result; the summary of fail/error ones (what a
        # diff lists), so diffs never read whole records. One pass (150,000 results);
        # statuses are str enums, written as their value by orjson.
        statuses: dict[str, list[str]] = {}
        family_of: dict[str, str] = {}
        tally: Counter[Status] = Counter()
        for r in record.results:
            tally[r.status] += 1
            if r.status is Status.FAIL or r.status is Status.ERROR:
                statuses[r.id] = [r.status, r.root_cause, r.summary]
                family_of[r.root_cause] = r.family
            else:
                statuses[r.id] = [r.status, r.root_cause]
        counts = {status.value: n for status, n in tally.items()}
        code = int(ExitCode.of_statuses(tally))
        raw = body if body is not None else _record_body(record, counts, code)
        # zlib lets go of the GIL: the record compresses while the rest is prepared.
        with ThreadPoolExecutor(1) as pool:
            compressed = pool.submit(zlib.compress, raw, 1)
            packed = _pack(statuses)
            people = [
                (p.key, p.verdict.value, " ".join(sorted({i.split("|")[1] for i in p.reasons})))
                for p in record.people
            ]
            blob = compressed.result()
        with self._write():
            if self._db.execute("SELECT 1 FROM sweeps WHERE id = ?", (m.sweep_id,)).fetchone():
                raise HistoryError(f"the sweep {m.sweep_id} is already in the history")
            cur = self._db.execute(
                "INSERT INTO sweeps (id, programme, started_at, finished_at, go_live, "
                "go_live_source, inventory, fingerprint, selection, families, tool_version, "
                "partial, timings, exit_code, staff, ready, not_ready, unknown, organisations, "
                "counts, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    m.sweep_id, m.programme, m.started_at.isoformat(), m.finished_at.isoformat(),
                    m.go_live.isoformat(), m.go_live_source, m.inventory, m.fingerprint,
                    json.dumps(dict(m.selection)), json.dumps(list(m.families)), m.tool_version,
                    m.partial, json.dumps(dict(m.timings)), code,
                    len(record.people), verdicts["ready"], verdicts["not ready"],
                    verdicts["unknown"], json.dumps(organisations),
                    json.dumps(dict(counts)), dt.datetime.now(dt.UTC).isoformat(),
                ),
            )  # fmt: skip
            seq = int(cur.lastrowid or 0)
            self._db.execute("INSERT INTO records VALUES (?, ?)", (seq, blob))
            self._db.execute("INSERT INTO statuses VALUES (?, ?)", (seq, packed))
            self._db.executemany(
                "INSERT INTO blockers VALUES (?,?,?,?,?,?,?,?)",
                [
                    (seq, b.root_cause, b.status.value, b.check, family_of.get(b.root_cause, ""),
                     b.owner, b.people, b.summary)
                    for b in record.blockers
                ],
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO verdicts VALUES (?,?,?,?)", [(seq, *row) for row in people]
            )
        return seq

    # ------------------------------------------------------------------ reading
    def sweeps(self, programme: str | None = None, limit: int | None = None) -> list[StoredSweep]:
        """Stored sweeps, newest first."""
        sql = f"SELECT {_COLUMNS} FROM sweeps"  # noqa: S608 (constant columns)
        args: list[Any] = []
        if programme is not None:
            sql += " WHERE programme = ?"
            args.append(programme)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [StoredSweep.from_row(r) for r in self._db.execute(sql, args)]

    def get(self, seq: int) -> StoredSweep:
        sql = f"SELECT {_COLUMNS} FROM sweeps WHERE seq = ?"  # noqa: S608 (constant columns)
        row = self._db.execute(sql, (seq,)).fetchone()
        if row is None:
            raise HistoryError(f"no sweep number {seq} in the history {self.path}")
        return StoredSweep.from_row(row)

    def resolve(self, ref: str | None) -> StoredSweep:
        """A sweep by reference: ``None``/``latest``, ``previous``, its number in
        ``readiness history`` (``7`` or ``#7``), ``-N`` (N before the latest), or a
        prefix of its id."""
        newest = self.sweeps(limit=1)
        if not newest:
            raise HistoryError(
                f"the history {self.path} holds no sweep yet: run `readiness sweep` with the "
                "same --state-dir first"
            )
        text = (ref or "latest").strip().lstrip("#")
        if text in ("latest", "last"):
            return newest[0]
        if text in ("previous", "prev"):
            text = "-1"
        if text.startswith("-") and text[1:].isdigit():
            back = int(text[1:])
            found = self.sweeps(limit=back + 1)
            if len(found) <= back:
                raise HistoryError(f"the history holds only {len(found)} sweep(s)")
            return found[back]
        if text.isdigit() and len(text) < 8:
            return self.get(int(text))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM sweeps WHERE id LIKE ? ORDER BY seq DESC",  # noqa: S608
            (text.replace("%", "").replace("_", "") + "%",),
        ).fetchall()
        if len(rows) == 1 and len(text) >= 4:
            return StoredSweep.from_row(rows[0])
        which = "matches several sweeps" if len(rows) > 1 else "matches no sweep"
        raise HistoryError(
            f"{ref!r} {which} (use a number from `readiness history`, latest, previous, -N "
            "or an id prefix of at least 4 characters)"
        )

    def previous(self, sweep: StoredSweep) -> StoredSweep | None:
        """The last complete sweep of the same programme stored before ``sweep``."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM sweeps WHERE seq < ? AND programme = ? "  # noqa: S608
            "AND partial = '' ORDER BY seq DESC LIMIT 1",
            (sweep.seq, sweep.programme),
        ).fetchone()
        return StoredSweep.from_row(row) if row else None

    def record(self, seq: int) -> SweepRecord:
        row = self._db.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise HistoryError(f"no sweep number {seq} in the history {self.path}")
        with paused_gc():
            return SweepRecord.from_json(_unpack(row[0]))

    def statuses(self, seq: int) -> dict[str, list[str]]:
        """result id -> [status, root cause] (+ summary of fail/error) of a stored sweep."""
        row = self._db.execute("SELECT body FROM statuses WHERE seq = ?", (seq,)).fetchone()
        return _unpack(row[0]) if row else {}

    def verdicts(self, seq: int) -> dict[str, str]:
        """person key -> verdict of a stored sweep."""
        return dict(self._db.execute("SELECT person, verdict FROM verdicts WHERE seq = ?", (seq,)))

    def person(self, key: str) -> list[tuple[int, str, str]]:
        """(sweep number, verdict, checks behind it) of one person, oldest first."""
        return [
            (int(s), v, p)
            for s, v, p in self._db.execute(
                "SELECT seq, verdict, problems FROM verdicts WHERE person = ? ORDER BY seq", (key,)
            )
        ]

    def blocker_rows(self, root_causes: list[str], upto: int) -> list[tuple[int, str, str]]:
        """(sweep number, root cause, family) of these root causes up to sweep ``upto``."""
        found: list[tuple[int, str, str]] = []
        for start in range(0, len(root_causes), 500):
            chunk = root_causes[start : start + 500]
            found += self._db.execute(
                "SELECT seq, root_cause, family FROM blockers WHERE seq <= ? AND "  # noqa: S608
                f"root_cause IN ({','.join('?' * len(chunk))}) ORDER BY seq",
                (upto, *chunk),
            ).fetchall()
        return found
