"""Servers failing while a sweep runs, against a lab of real servers (slapd, Samba, BIND,
Postfix, nginx, kamailio, OpenSSH jump hosts): each kind stopped by PID, frozen
(accepts, never answers), replaced by a listener that resets every connection or one
that answers a byte at a time; DNS timing out, refusing, answering SERVFAIL. Then
SIGINT/SIGTERM in the middle of a sweep.

Each fault lands once the sweep process is running, before its probes reach that
server (so which results it touches is deterministic). Every time: the sweep ends
within its ``--deadline`` (plus start-up and writing), results touching the server are
``error`` (or unchanged, or a ``skip`` pointing at that error), never a new ``fail``;
results that do not touch it are exactly the baseline's; the sweep is in history.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from readiness.history import History
from readiness.results import ExitCode
from readiness_lab.pytest_fixtures import LabHandle
from tests.processes import at_a_terminal

from . import faults

pytestmark = [pytest.mark.integration, pytest.mark.lab]

DEADLINE = 30  # seconds: a fault-free sweep of this lab takes a few (more on a loaded machine)
SLACK = 20  # start-up, writing results and history, a loaded machine
Result = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    name: str
    apply: Callable[[LabHandle], AbstractContextManager[object]]
    markers: Callable[[LabHandle], list[str]]  # text in every result the fault may touch
    target: bool = False  # the server is what some checks check: refused/reset is a fail
    named: Callable[[LabHandle], list[str]] | None = None  # in the error's words (markers)


def _hosts(lab: LabHandle, address: str) -> list[str]:
    """The address and every lab name that resolves to it."""
    hosts: dict[str, str] = lab.facts["dns"]["hosts"]
    return [address, *(name for name, a in hosts.items() if a == address)]


def _addr(lab: LabHandle, name: str) -> str:
    address: str = lab.facts["dns"]["hosts"][name]
    return address


def _dns(lab: LabHandle) -> list[str]:
    return [lab.facts["dns"]["server"], lab.facts["dns"]["site_server"]]


def _dns_addresses(lab: LabHandle) -> list[tuple[str, int]]:
    return [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in _dns(lab)]


def _everything(lab: LabHandle) -> list[str]:
    return [""]  # every name is resolved through the lab's DNS


def _stop(name: str, host: str, port: int) -> Callable[[LabHandle], AbstractContextManager[int]]:
    return lambda lab: faults.stopped(lab.state, name, (_addr(lab, host), port))


def _ldap(host: str, directory: str) -> Callable[[LabHandle], list[str]]:
    return lambda lab: [directory, *_hosts(lab, _addr(lab, host))]


def _web(lab: LabHandle) -> list[str]:
    """nginx serves every application (webmail on its own address)."""
    return [*_hosts(lab, _addr(lab, "login.valeshared.test")), "webmail."]


def _mail(lab: LabHandle) -> list[str]:
    return _hosts(lab, _addr(lab, "mail.valeshared.test"))


def _sip(lab: LabHandle) -> list[str]:
    return ["sip.", "telephony", *_hosts(lab, _addr(lab, "sip.valeshared.test"))]


def _jump(lab: LabHandle) -> list[str]:
    return ["north-hq-jump", *_hosts(lab, _addr(lab, "jump.north-hq.northvale.test"))]


@contextlib.contextmanager
def _replaced(
    lab: LabHandle, name: str, host: str, port: int, handler: faults.Handler
) -> Iterator[None]:
    address = _addr(lab, host)
    with (
        faults.stopped(lab.state, name, (address, port)),
        faults.listening([(address, port)], handler),
    ):
        yield


@contextlib.contextmanager
def _postfix_replaced(lab: LabHandle, handler: faults.Handler) -> Iterator[None]:
    with (
        faults.postfix_stopped(lab.state),
        faults.listening([(_addr(lab, "mail.valeshared.test"), 25)], handler),
    ):
        yield


@contextlib.contextmanager
def _servfail(lab: LabHandle) -> Iterator[None]:
    with (
        faults.stopped(lab.state, "named", _dns_addresses(lab)[0]),
        faults.listening(_dns_addresses(lab), faults.servfail_tcp, faults.servfail_udp),
    ):
        yield


SLOW_SMTP = b"220 mail.valeshared.test ESMTP slow\r\n"

NORTH, SOUTH = (
    _ldap("ldap.northvale.test", "north-ldap"),
    _ldap("ldap.southmere.test", "south-ldap"),
)
AD = _ldap("dc1.ad.valeshared.test", "shared-ad")
FAULTS = [
    Fault("slapd stopped", _stop("slapd-north", "ldap.northvale.test", 389), NORTH),
    Fault("slapd accepts and never answers",
          lambda lab: faults.frozen(lab.state, "slapd-south"), SOUTH),
    Fault("nginx stopped", _stop("nginx", "login.valeshared.test", 443), _web, target=True),
    Fault("nginx resets every connection",
          lambda lab: _replaced(lab, "nginx", "login.valeshared.test", 443, faults.reset),
          _web, target=True),
    Fault("postfix stopped", lambda lab: faults.postfix_stopped(lab.state), _mail, target=True),
    Fault("smtp answers a byte at a time",
          lambda lab: _postfix_replaced(lab, faults.trickle(SLOW_SMTP)), _mail),
    Fault("jump host sshd stopped",
          _stop("sshd-north-hq", "jump.north-hq.northvale.test", 22), _jump, target=True),
    Fault("bind stopped", _stop("named", "ns1.valeshared.test", 53), _everything, named=_dns),
    Fault("dns times out", lambda lab: faults.frozen(lab.state, "named"), _everything, named=_dns),
    Fault("dns answers servfail", _servfail, _everything, named=_dns),
    Fault("samba stopped", _stop("samba-dc", "dc1.ad.valeshared.test", 636), AD, target=True),
    # Last: kamailio keeps registrations in memory, so a restarted one has none.
    Fault("kamailio stopped", _stop("kamailio", "sip.valeshared.test", 5060), _sip, target=True),
]  # fmt: skip


def sweep(
    lab: LabHandle, state: Path, out: Path, env: dict[str, str], *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "readiness.cli", "sweep", str(lab.inventory),
         "--secrets-dir", str(lab.secrets_dir), "--state-dir", str(state),
         "--out", str(out), "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=at_a_terminal,
    )  # fmt: skip


def results(out: Path) -> dict[str, Result]:
    data = json.loads((out / "results.json").read_text("utf-8"))
    return {r["id"]: r for r in data["results"]}


@pytest.fixture(scope="module")
def baseline(own_lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    tmp = tmp_path_factory.mktemp("baseline")
    proc = sweep(own_lab, tmp / "state", tmp / "out", {**os.environ, "NO_COLOR": "1"})
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode in (ExitCode.OK, ExitCode.FAILED, ExitCode.UNKNOWN), stderr
    return results(tmp / "out")


def _touches(result: Result, markers: list[str]) -> bool:
    text = json.dumps(result).lower()
    return any(m.lower() in text for m in markers)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_mid_sweep_then_a_second_sweep(
    own_lab: LabHandle, baseline: dict[str, Result], sig: signal.Signals, tmp_path: Path,
    readiness_env: dict[str, str],
) -> None:  # fmt: skip
    """While slapd hangs (so the sweep is surely mid-run): the signal stores a partial
    sweep and exits 130; the next sweep in the same state folder completes."""
    state = tmp_path / "state"
    with faults.frozen(own_lab.state, "slapd-north"):
        proc = sweep(own_lab, state, tmp_path / "one", readiness_env, "--deadline", str(DEADLINE))
        time.sleep(4)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr
    again = sweep(own_lab, state, tmp_path / "two", readiness_env)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode in (ExitCode.OK, ExitCode.FAILED, ExitCode.UNKNOWN), stderr
    assert "Stored as sweep #2" in stdout
    with History.of(state) as history:
        first, second = sorted(history.sweeps(), key=lambda s: s.seq)
        assert first.partial.startswith(f"interrupted by {sig.name}")
        assert not second.partial
    assert {rid: r["status"] for rid, r in results(tmp_path / "two").items()} == {
        rid: r["status"] for rid, r in baseline.items()
    }
    assert_nothing_left(tmp_path, readiness_env)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_server_failing_mid_sweep(
    own_lab: LabHandle, baseline: dict[str, Result], fault: Fault, tmp_path: Path,
    readiness_env: dict[str, str],
) -> None:  # fmt: skip
    state, out = tmp_path / "state", tmp_path / "out"
    started = time.monotonic()
    proc = sweep(own_lab, state, out, readiness_env, "--deadline", str(DEADLINE))
    with fault.apply(own_lab):
        stdout, stderr = proc.communicate(timeout=DEADLINE + 120)
    elapsed = time.monotonic() - started
    assert "Traceback" not in stderr, stderr
    assert proc.returncode in (ExitCode.FAILED, ExitCode.UNKNOWN), stdout + stderr
    assert elapsed < DEADLINE + SLACK, f"the sweep took {elapsed:.0f}s"
    assert "Stored as sweep #1" in stdout
    with History.of(state) as history:
        assert len(history.sweeps()) == 1
    now, markers = results(out), fault.markers(own_lab)
    named = (fault.named or fault.markers)(own_lab)
    wrong = [f"{rid}: {why}" for rid, why in _compare(baseline, now, markers, fault.target)]
    assert not wrong, f"{len(wrong)} results wrong:\n" + "\n".join(wrong[:15])
    problems = [r for r in now.values() if r["status"] in ("error", "fail") and _new(r, baseline)]
    assert problems, "the fault changed nothing"
    words = ("summary", "observed", "target", "root_cause")
    assert any(_touches({k: r[k] for k in words}, named) for r in problems), problems[0]
    assert_nothing_left(tmp_path, readiness_env)


def _compare(
    baseline: dict[str, Result], now: dict[str, Result], markers: list[str], target: bool
) -> Iterator[tuple[str, str]]:
    """(result id, what is wrong) for every result the fault should not have produced."""
    problems = {"error", "fail"} if target else {"error"}
    explained = {
        r["subject"] for r in now.values() if r["status"] in problems and _new(r, baseline)
    }
    for rid, before in baseline.items():
        after = now.get(rid)
        if after is None:
            if not _touches(before, markers) or before["subject"] not in explained:
                yield rid, "missing"
        elif not _touches(before, markers):
            if after["status"] != before["status"]:
                yield rid, f"unrelated, {before['status']} -> {after['status']}: {after['summary']}"
        elif after["status"] not in (before["status"], "skip", *problems):
            yield rid, f"{before['status']} -> {after['status']}: {after['summary']}"
    for rid, result in now.items():
        if rid not in baseline and result["status"] != "error":
            yield rid, f"new {result['status']}: {result['summary']}"


def _new(result: Result, baseline: dict[str, Result]) -> bool:
    before = baseline.get(result["id"])
    return before is None or before["status"] != "error"


def assert_nothing_left(tmp_path: Path, env: dict[str, str]) -> None:
    """No file in the sweep's temporary folder, no process carrying its marker."""
    assert not list(Path(env["TMPDIR"]).iterdir())
    mark = f"RELIABILITY_MARK={env['RELIABILITY_MARK']}".encode()
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    left.append(entry.name)
    assert not left, f"processes left behind: {left}"
