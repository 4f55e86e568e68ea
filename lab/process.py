"""Start and stop the lab's server processes, always by PID.

Every process the lab starts is recorded in ``<state>/pids.json`` (name, pid,
argv, network namespace) so that ``lab down`` (or a test session's teardown)
stops exactly what was started, even from another Python process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


class LabError(RuntimeError):
    """A lab component could not be set up; the message says what and why."""


@dataclass
class Managed:
    name: str
    pid: int
    argv: list[str]
    netns: str | None
    log: str


class Supervisor:
    """Owns the processes of one lab state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file = state_dir / "pids.json"

    def _load(self) -> list[Managed]:
        return recorded(self.state_dir)

    def _save(self, managed: list[Managed]) -> None:
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(m) for m in managed], indent=1))
        tmp.replace(self.pid_file)

    def processes(self) -> list[Managed]:
        return self._load()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        netns: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        ready: Callable[[], bool] | None = None,
        ready_timeout: float = 30.0,
    ) -> Managed:
        """Start ``argv`` in the background (inside ``netns`` if given).

        ``ready`` is polled until it returns True; if the process dies first or the
        timeout passes, the process is stopped and a LabError carries the log tail.
        """
        log = self.state_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        full = list(argv)
        if netns:
            full = ["ip", "netns", "exec", netns, *full]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                full,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        managed = Managed(name, proc.pid, full, netns, str(log))
        self._save([*self._load(), managed])
        if ready is None:
            return managed
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"{name} exited with code {proc.returncode}:\n{tail(log)}")
            with contextlib.suppress(OSError):
                if ready():
                    return managed
            time.sleep(0.05)
        self.stop(name)
        raise LabError(f"{name} did not become ready within {ready_timeout:.0f}s:\n{tail(log)}")

    def adopt(self, name: str, pid: int, argv: Sequence[str], log: Path) -> None:
        """Record a process that daemonised itself (e.g. postfix's master) by its pid."""
        self._save([*self._load(), Managed(name, pid, list(argv), None, str(log))])

    def stop(self, name: str | None = None, timeout: float = 5.0) -> list[str]:
        """Stop one process (or all, newest first) by PID; returns the names stopped."""
        managed = self._load()
        chosen = [m for m in managed if name is None or m.name == name]
        for m in reversed(chosen):
            _terminate(m.pid, timeout)
        self._save([m for m in managed if m not in chosen])
        return [m.name for m in chosen]

    def status(self) -> list[tuple[Managed, bool]]:
        return [(m, alive(m.pid)) for m in self._load()]


def recorded(state_dir: Path) -> list[Managed]:
    """The processes recorded in a state folder, read without creating anything."""
    pid_file = state_dir / "pids.json"
    if not pid_file.exists():
        return []
    return [Managed(**m) for m in json.loads(pid_file.read_text())]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.05)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def tcp_ready(host: str, port: int) -> Callable[[], bool]:
    """A readiness probe: true once ``host:port`` accepts a TCP connection."""

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    return probe


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a short command (config checks, provisioning); raise LabError with its output."""
    full = list(argv)
    if netns:
        full = ["ip", "netns", "exec", netns, *full]
    proc = subprocess.run(
        full,
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(full)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc
