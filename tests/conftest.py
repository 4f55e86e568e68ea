"""Shared fixtures, and the guard of the fast unit subset.

Real-server fixtures live with the tests that use them (and the lab's in
readiness_lab.pytest_fixtures); this file stays light so unit tests start fast.

The guard: while a test that is not marked ``integration`` sets up or runs, starting
one of the lab's server programs (directly, through ``ip netns exec`` or a shell
command) or creating a network namespace fails that test at once, before the
program runs. So ``pytest -m "not integration"`` provably starts no server, and a
test that needs one must say so with the marker.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SERVERS = frozenset({"slapd", "named", "sshd", "samba", "nginx", "postfix", "kamailio", "sipp"})
SHELLS = frozenset({"sh", "bash", "dash"})
_unit_test: list[str] = []  # the node id of the unit test being set up or run


@pytest.fixture
def data_dir() -> Path:
    return DATA


def started_server(argv: object) -> str:
    """What ``argv`` would start that a unit test must not: a server's name, "a network
    namespace", or '' for anything else."""
    items = [argv] if isinstance(argv, str | bytes | os.PathLike) else argv
    if not isinstance(items, list | tuple):
        return ""
    words = [os.fsdecode(a) for a in items]
    if words and os.path.basename(words[0]) in SHELLS and "-c" in words[:-1]:
        words = shlex.split(words[words.index("-c") + 1])
    names = [os.path.basename(w) for w in words]
    if names[:3] == ["ip", "netns", "add"]:
        return "a network namespace"
    if names[:3] == ["ip", "netns", "exec"]:
        names = names[4:]
    return names[0] if names and names[0] in SERVERS else ""


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _unit_test or event not in ("subprocess.Popen", "os.posix_spawn", "os.exec"):
        return
    server = started_server(args[1])  # argv, in each of these events
    if server:
        raise pytest.fail.Exception(
            f"{_unit_test[0]} starts {server} but is not marked integration: mark it "
            "(pytest.mark.integration), or let it start no server",
            pytrace=True,
        )


sys.addaudithook(_audit)


@contextlib.contextmanager
def _guarded(item: pytest.Item) -> Iterator[None]:
    unit = item.get_closest_marker("integration") is None
    if unit:
        _unit_test.append(item.nodeid)
    try:
        yield
    finally:
        _unit_test.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Fixtures a unit test sets up are guarded too: a session fixture starting slapd
    for the first test that asks is what the guard exists for."""
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)
