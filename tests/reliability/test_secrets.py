"""No secret of the lab's anywhere, with every library's debug logging on: the lab plants
service-account passwords, pilot passwords and SSH private keys in its secrets folder;
every command and output format runs against the real lab (sweep with --out and
--junit, --dry-run, validate, history, person, diff, report in every format, gate, the
pytest plugin); ``ps -eo args`` is sampled all through the sweeps; the history and
ledger databases are read value by value (compressed blobs unpacked) and byte by byte.
tests/reports/test_lab_history.py holds the same promise for the history flow."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness_lab.pytest_fixtures import LabHandle

from ..reports.test_lab_history import FORMATS, _secrets

pytestmark = [pytest.mark.integration, pytest.mark.lab]

# The readiness command line with every logger at DEBUG (ldap3's most detailed level,
# paramiko, dnspython...) into LOG, and tracebacks on (READINESS_DEBUG).
VERBOSE = """
import logging, os, sys
logging.basicConfig(level=logging.DEBUG, filename=os.environ["SECRETS_TEST_LOG"])
import ldap3.utils.log as ldap_log
ldap_log.set_library_log_detail_level(ldap_log.EXTENDED)
from readiness.cli import main
sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def process_lists(into: list[str]) -> Iterator[None]:
    """Sample every process's arguments (``ps -eo args``) until the block ends."""
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False)
            into.append(ps.stdout)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def database_text(path: Path) -> str:
    """Every value of every table, zlib blobs unpacked, as text."""
    parts = []
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from the file)
                for value in row:
                    if isinstance(value, bytes):
                        with contextlib.suppress(zlib.error):
                            value = zlib.decompress(value)
                        value = value.decode("utf-8", "replace")
                    parts.append(str(value))
    return "\n".join(parts)


def test_no_secret_anywhere(lab: LabHandle, tmp_path: Path) -> None:
    state, out, log = tmp_path / "state", tmp_path / "out", tmp_path / "debug.log"
    env = {**os.environ, "NO_COLOR": "1", "READINESS_DEBUG": "1", "SECRETS_TEST_LOG": str(log)}
    texts: dict[str, str] = {}

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-c", VERBOSE, *args], capture_output=True,
                              text=True, env=env, cwd=cwd, check=False)  # fmt: skip
        texts[" ".join(args)] = done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done

    inventory, secrets = str(lab.inventory), str(lab.secrets_dir)
    sweep = ("sweep", inventory, "--secrets-dir", secrets, "--state-dir", str(state))
    ps: list[str] = []
    with process_lists(ps):
        run("validate", inventory, "--secrets-dir", secrets)
        run(*sweep, "--dry-run")
        run(*sweep, "--out", str(out), "--junit", str(tmp_path / "sweep.xml"))
        run(*sweep, "--family", "identity", "--family", "network")
        plugin = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-v",
             "--readiness-inventory", inventory, "--readiness-secrets-dir", secrets,
             "--readiness-state-dir", str(tmp_path / "plugin-state"),
             "--readiness-out", str(tmp_path / "plugin-out"),
             "--junitxml", str(tmp_path / "plugin.xml")],
            capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip
        texts["pytest plugin"] = plugin.stdout + plugin.stderr
    assert len(ps) > 10
    texts["ps -eo args"] = "\n".join(ps)
    run("history", "--state-dir", str(state))
    run("diff", "--state-dir", str(state))
    run("person", "N00001", "--state-dir", str(state))
    run("gate", "--state-dir", str(state))
    for fmt in FORMATS:
        run("report", "--format", fmt, "--out", str(tmp_path / f"report.{fmt}"),
            "--state-dir", str(state))  # fmt: skip
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path.suffix != ".sqlite":
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    databases = sorted(tmp_path.rglob("*.sqlite"))
    assert {p.name for p in databases} >= {"history.sqlite", "ledger.sqlite"}
    for path in databases:
        texts[f"{path} (values)"] = database_text(path)
        for raw in path.parent.glob(path.name + "*"):  # the file, its WAL and journal
            texts[f"{raw} (bytes)"] = raw.read_bytes().decode("latin-1")
    assert log.stat().st_size > 10_000  # the libraries did log
    planted = _secrets(lab.secrets_dir)
    assert len(planted) >= 10  # passwords of service accounts and pilots, key lines
    leaks = {where: [s[:4] + "..." for s in planted if s in text] for where, text in texts.items()}
    assert not {w: s for w, s in leaks.items() if s}, "secrets of the lab found"
