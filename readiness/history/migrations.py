"""The history database's schema, as an ordered list of migrations.

``PRAGMA user_version`` is the number of migrations applied. Opening a database runs
the missing ones in one transaction; a database written by a newer tool (a version
beyond this list) is refused rather than guessed at. Never edit a migration that has
shipped: append one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "VERSION"]

MIGRATIONS: tuple[str, ...] = (
    # 1: sweeps with their headline figures; the full record and a compact status map,
    # both zlib-compressed JSON.
    """
    CREATE TABLE sweeps (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        programme TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        go_live TEXT NOT NULL,
        go_live_source TEXT NOT NULL,
        inventory TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        selection TEXT NOT NULL,       -- JSON: the filters
        families TEXT NOT NULL,        -- JSON list
        tool_version TEXT NOT NULL,
        partial TEXT NOT NULL DEFAULT '',
        timings TEXT NOT NULL,         -- JSON: seconds per phase
        exit_code INTEGER NOT NULL,
        staff INTEGER NOT NULL,
        ready INTEGER NOT NULL,
        not_ready INTEGER NOT NULL,
        unknown INTEGER NOT NULL,
        organisations TEXT NOT NULL,   -- JSON: org -> {name, verdicts}
        counts TEXT NOT NULL,          -- JSON: status -> results
        stored_at TEXT NOT NULL
    );
    CREATE TABLE records (
        seq INTEGER PRIMARY KEY REFERENCES sweeps (seq) ON DELETE CASCADE,
        body BLOB NOT NULL             -- zlib(results.json)
    );
    CREATE TABLE statuses (
        seq INTEGER PRIMARY KEY REFERENCES sweeps (seq) ON DELETE CASCADE,
        body BLOB NOT NULL             -- zlib(JSON {result id: [status, root cause]})
    );
    """,
    # 2: blockers and per-person verdicts as rows, for blocker age, per-owner figures
    # and a person's history without reading whole records.
    """
    CREATE TABLE blockers (
        seq INTEGER NOT NULL REFERENCES sweeps (seq) ON DELETE CASCADE,
        root_cause TEXT NOT NULL,
        status TEXT NOT NULL,
        check_id TEXT NOT NULL,
        family TEXT NOT NULL,
        owner TEXT NOT NULL,
        people INTEGER NOT NULL,
        summary TEXT NOT NULL,
        PRIMARY KEY (seq, root_cause)
    ) WITHOUT ROWID;
    CREATE INDEX blockers_cause ON blockers (root_cause, seq);
    CREATE TABLE verdicts (
        seq INTEGER NOT NULL REFERENCES sweeps (seq) ON DELETE CASCADE,
        person TEXT NOT NULL,
        verdict TEXT NOT NULL,
        problems TEXT NOT NULL,        -- the checks behind the verdict, space-separated
        PRIMARY KEY (seq, person)
    ) WITHOUT ROWID;
    CREATE INDEX verdicts_person ON verdicts (person, seq);
    """,
)
VERSION = len(MIGRATIONS)
