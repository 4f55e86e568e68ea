"""Listeners that misbehave on purpose, for tests of what a check makes of them."""

from __future__ import annotations

import socket
import struct
import threading


def resetting_listener(
    address: str = "127.0.0.1", port: int = 0
) -> tuple[socket.socket, threading.Thread]:
    """Accepts, then resets each connection (SO_LINGER 0 on close): a server that resets.
    Closing the returned socket ends the thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread
