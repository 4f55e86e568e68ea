"""Garbage collection paused while a whole sweep record is built, stored or rendered.

A record of 10,000 staff per organisation is a few million live objects, none of them
garbage; Python's collector, triggered by allocation counts, would walk them all again
and again (measured: half the time of storing a sweep). Reference counting still frees
everything as usual; only the cycle collector waits until the end of the block.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
