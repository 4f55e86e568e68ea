"""Helpers for tests that start the command line as a process of its own."""

from __future__ import annotations

import signal


def at_a_terminal() -> None:
    """``preexec_fn``: SIGINT at its default, as for a command someone runs at a terminal
    and interrupts with Ctrl-C. A non-interactive shell starts its background jobs with
    SIGINT ignored (a CI runner's script, a chroot wrapper), the test process inherits
    that, and a Python child then keeps ignoring SIGINT, as POSIX programs should."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
