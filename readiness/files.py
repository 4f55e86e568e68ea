"""Reading a file the user named, safely, and creating the sweep's own files privately:
a leaf module.

Inventories, HR exports and secret files are named by people editing YAML. Whatever
they name must never hang or flood the sweep: a FIFO would block a plain ``open`` until
someone writes to it, a folder or device is no file, and a file far larger than any
real one is refused before it is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FileProblem", "private_file", "read_regular"]


class FileProblem(Exception):
    """The file cannot be used; the message says why (never its content), ``kind`` is
    one of missing, folder, special, too-large, unreadable."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FileProblem("missing", "file not found") from None
    except IsADirectoryError:
        raise FileProblem("folder", "a folder, not a file") from None
    except OSError as exc:
        raise FileProblem("unreadable", f"cannot read it: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = FileProblem("folder", "a folder, not a file")
    elif not stat.S_ISREG(info.st_mode):
        problem = FileProblem("special", "not a regular file (a FIFO, socket or device)")
    elif info.st_size > limit:
        problem = FileProblem(
            "too-large", f"{_size(info.st_size)}, more than the {_size(limit)} allowed"
        )
    if problem is not None:
        os.close(fd)
        raise problem
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


def private_file(path: Path) -> Path:
    """Create ``path`` owner-only (0600) if missing, its folder too (0700), before a
    database opens it: SQLite gives its -wal and -shm files the file's permissions, and
    a state folder holds account names and attempt counts."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    return path
