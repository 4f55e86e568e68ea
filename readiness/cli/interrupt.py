"""Ctrl-C and SIGTERM during a sweep: stop waiting, keep what was found.

The engine runs batches on worker threads; only the main thread sees signals. Inside
:func:`interruptible`, SIGTERM raises :class:`Interrupted` in the main thread exactly as
Ctrl-C raises ``KeyboardInterrupt``, so one ``except KeyboardInterrupt`` path turns the
results collected so far into a record marked partial, which is stored and written
like any other (the worker threads are daemons: they end with the process).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupted", "interruptible", "reason"]


class Interrupted(KeyboardInterrupt):
    """A signal asked the sweep to stop."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def reason(exc: BaseException, results: int) -> str:
    """The ``partial`` note of a sweep stopped by ``exc``."""
    name = exc.name if isinstance(exc, Interrupted) else "SIGINT"
    return f"interrupted by {name} after {results} results"


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` in the main thread while inside."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_it(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, raise_it)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
