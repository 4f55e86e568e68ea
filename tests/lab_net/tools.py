"""Helpers of the lab-net tests.

The tests use a layout of their own (namespaces ``rlt-*``, 10.78.x, 127.78.x) so
they can run next to a lab that is up on the default layout (rl-*, 10.77.x, 127.77.x).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from readiness_lab.process import alive

NS_PREFIX, NS_OCTET = "rlt", 78  # namespace layout of the tests
FALLBACK_PREFIX, FALLBACK_OCTET = "rlf", 79  # loopback-fallback layout of the tests
WEB_ADDRESS = "127.78.4.10"
MAIL_ADDRESS = "127.78.5.25"
SIP_ADDRESS = "127.78.6.60"
PHONES_ADDRESS = "127.78.6.61"
TRUNK_UP = "127.78.6.62"
TRUNK_DOWN = "127.78.6.63"


def sh(argv: Sequence[str], *, input: str = "",
       timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a client tool; never raises on a non-zero exit (tests look at the code)."""
    return subprocess.run(list(argv), input=input, capture_output=True, text=True,
                          timeout=timeout, check=False)


def times_out(argv: Sequence[str], seconds: float) -> bool:
    """True if the command is still waiting after ``seconds`` (it is then killed)."""
    try:
        subprocess.run(list(argv), input="", capture_output=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return True
    return False


def all_gone(pids: Sequence[int]) -> bool:
    return not any(alive(p) for p in pids)
