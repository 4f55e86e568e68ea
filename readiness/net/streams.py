"""The shape of a byte stream every protocol runs over: a socket, an SSH channel, TLS."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Stream"]


class Stream(Protocol):
    """What ``socket.socket`` and ``paramiko.Channel`` both offer."""

    def sendall(self, data: bytes, /) -> Any: ...
    def recv(self, size: int, /) -> bytes: ...
    def settimeout(self, value: float | None, /) -> Any: ...
    def close(self) -> Any: ...
