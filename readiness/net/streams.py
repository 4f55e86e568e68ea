"""The one shape of a connection every network helper accepts.

A probe's connection is a ``socket.socket`` when it runs from the sweeping machine and a
paramiko ``Channel`` when it runs from a site's jump host (``readiness.net.vantage``). Both
already have these four methods, so helpers written against :class:`Stream` work from
any vantage point without adapters.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Stream"]


class Stream(Protocol):
    """A connected, blocking byte stream with a per-operation timeout.

    ``recv`` returns ``b""`` at end of stream and raises ``TimeoutError`` when nothing
    arrives within the timeout; other failures are ``OSError``.
    """

    def sendall(self, data: bytes, /) -> None: ...

    def recv(self, bufsize: int, /) -> bytes: ...

    def settimeout(self, timeout: float | None, /) -> None: ...

    def close(self) -> None: ...
