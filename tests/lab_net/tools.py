"""Helpers of the lab-net tests.

Each test module starts its servers on a slot of its own (the ``net_slot`` fixture,
readiness_lab.claim: 127.N.x, 10.N.x, namespaces rlN-*), and a test that builds a
second layout claims another, so they run next to a lab that is up and next to
another test run on the same machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from readiness_lab.process import alive


def sh(
    argv: Sequence[str], *, input: str = "", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a client tool; never raises on a non-zero exit (tests look at the code)."""
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )


def times_out(argv: Sequence[str], seconds: float) -> bool:
    """True if the command is still waiting after ``seconds`` (it is then killed)."""
    try:
        subprocess.run(list(argv), input="", capture_output=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return True
    return False


def all_gone(pids: Sequence[int]) -> bool:
    return not any(alive(p) for p in pids)
