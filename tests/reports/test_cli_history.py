"""``readiness history|diff|person|report`` and a sweep interrupted by Ctrl-C or SIGTERM
(stored, marked partial, exit 130). No server: the interrupted sweep waits on a UDP
socket of the test's own that never answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.history import History
from readiness.results import ExitCode, Verdict
from tests.processes import at_a_terminal
from tests.reports.conftest import EXAMPLE, MINIMAL, at
from tests.reports.synthetic import make_record


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A history with three sweeps of the example inventory: a person's account breaks
    in the second and is fixed in the third."""
    base = make_record(EXAMPLE, fail_rate=0.0, sweep_id="aaaa0001", finished_at=at(0))
    person = next(p for p in base.people if p.verdict is Verdict.READY)
    account = next(r.id for r in base.results if r.subject == person.key and "account" in r.check)
    records = [
        base,
        make_record(EXAMPLE, fail_rate=0.0, sweep_id="bbbb0002", finished_at=at(1),
                    broken=frozenset({account})),
        make_record(EXAMPLE, fail_rate=0.0, sweep_id="cccc0003", finished_at=at(2)),
    ]  # fmt: skip
    folder = tmp_path / "state"
    with History.of(folder) as h:
        for record in records:
            h.add(record)
    shared = Counter(p.username for p in base.people).most_common(1)[0][0]  # in both orgs
    (tmp_path / "who").write_text(f"{person.key}\n{shared}\n{account}", "utf-8")
    return folder


def _who(state: Path) -> list[str]:
    return (state.parent / "who").read_text("utf-8").splitlines()


def test_history_lists_newest_first(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--state-dir", str(state)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["#", "sweep", "finished"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert main(["history", "--state-dir", str(state), "--json", "--limit", "1"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["id"] == "cccc0003" and only["seq"] == 3


def test_diff_exit_code_on_regressions(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, _, account = _who(state)
    assert int(ExitCode.REGRESSED) == 7
    assert main(["diff", "1", "2", "--state-dir", str(state)]) == 7
    out = capsys.readouterr().out
    assert "regressions 1," in out and account in out and "became not ready (1)" in out
    assert main(["diff", "--state-dir", str(state)]) == 0  # previous -> latest: a fix
    out = capsys.readouterr().out
    assert "fixed (1)" in out and key in out
    assert main(["diff", "1", "2", "--json", "--state-dir", str(state)]) == 7
    assert json.loads(capsys.readouterr().out)["regressions"] == [account]
    assert main(["diff", "2", "2", "--state-dir", str(state)]) == ExitCode.INVALID


def test_person_by_any_handle(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, username, account = _who(state)
    handle = key.removeprefix("staff:")
    assert main(["person", handle.upper(), "--sweep", "2", "--state-dir", str(state)]) == 1
    out = capsys.readouterr().out
    assert "NOT READY" in out and account.split("|")[1] in out
    assert "fix: " in out and "owner: " in out
    across = out[out.index("Across sweeps:") :].splitlines()[1:]
    assert [line.split()[3] for line in across] == ["ready", "not", "ready"]
    assert main(["person", handle, "--state-dir", str(state)]) == 0
    # The same username in both organisations: ask for org/id.
    assert main(["person", username, "--state-dir", str(state)]) == ExitCode.INVALID
    assert "names several people" in capsys.readouterr().err
    assert main(["person", "nobody", "--state-dir", str(state)]) == ExitCode.INVALID
    assert "is named 'nobody'" in capsys.readouterr().err


def test_report_of_any_stored_sweep(state: Path, tmp_path: Path) -> None:
    for fmt in ("html", "md", "csv", "blockers-csv", "json", "junit"):
        out = tmp_path / f"r.{fmt}"
        assert main(["report", "2", "--format", fmt, "--out", str(out),
                     "--state-dir", str(state)]) == 0  # fmt: skip
        assert out.stat().st_mode & 0o777 == 0o600
    data = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert data["sweep"]["id"] == "bbbb0002"
    # A results.json file: reported with the history of the same sweep.
    html = tmp_path / "again.html"
    assert main(["report", str(tmp_path / "r.json"), "--out", str(html),
                 "--state-dir", str(state)]) == 0  # fmt: skip
    assert "Since sweep #1" in html.read_text("utf-8")
    assert main(["report", "--format", "pdf", "--state-dir", str(state)]) == ExitCode.INVALID
    assert main(["report", "9", "--state-dir", str(state)]) == ExitCode.INVALID


def test_commands_on_an_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--state-dir", str(tmp_path)]) == 0
    assert "No sweeps stored yet" in capsys.readouterr().out
    assert main(["diff", "--state-dir", str(tmp_path)]) == ExitCode.INVALID
    assert main(["report", "--state-dir", str(tmp_path)]) == ExitCode.INVALID


def _slow_inventory(tmp_path: Path, port: int) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(MINIMAL, inventory)
    programme = inventory / "programme.yaml"
    text = programme.read_text("utf-8").replace(
        "  go_live: 2027-01-04\n", f'  go_live: 2027-01-04\n  resolvers: ["127.0.0.1:{port}"]\n'
    )
    programme.write_text(text, "utf-8")
    apps = "\n".join(
        f"  app{i}:\n    name: App {i}\n    url: https://app{i}.shared.test/\n    owner: Apps"
        for i in range(4)
    )
    (inventory / "apps.yaml").write_text(f"applications:\n{apps}\n", "utf-8")
    return inventory


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_sweep_is_stored_partial(tmp_path: Path, sig: signal.Signals) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver that never answers
    silent.bind(("127.0.0.1", 0))
    try:
        inventory = _slow_inventory(tmp_path, silent.getsockname()[1])
        state, out = tmp_path / "state", tmp_path / "out"
        proc = subprocess.Popen(
            [sys.executable, "-m", "readiness.cli", "sweep", str(inventory), "--family", "dns",
             "--state-dir", str(state), "--out", str(out), "--no-progress",
             "--server-limit", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1", "PILOT_N0001": "x"},
            preexec_fn=at_a_terminal,
        )  # fmt: skip
        silent.settimeout(30)
        silent.recvfrom(512)  # the sweep's first question: it is running (5 s per lookup)
        started = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
        assert time.monotonic() - started < 4.5  # it did not wait for the 5 s timeouts
    finally:
        silent.close()
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert "Stored as sweep #1" in stdout
    with History.of(state) as h:
        (stored,) = h.sweeps()
        assert stored.partial.startswith(f"interrupted by {sig.name}")
        assert h.record(1).meta.partial == stored.partial
    data = json.loads((out / "results.json").read_text("utf-8"))
    assert data["sweep"]["partial"] == stored.partial
