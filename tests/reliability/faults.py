"""Faults for a running lab: stop a server by PID and start it again from its recorded
argv, freeze one (SIGSTOP: the kernel still accepts connections, nobody answers), or
put a misbehaving listener on its address (resets every connection, answers one byte
at a time, answers DNS with SERVFAIL).

Everything goes through the lab's own records (``pids.json``, lab/process.py), so the
lab's ``down`` stops what was restarted here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode

from readiness_lab.process import Managed, Supervisor, alive, run, tcp_ready

_NETNS_PREFIX = 4  # "ip netns exec NS" before a namespaced process's own argv


def _find(sup: Supervisor, name: str) -> Managed:
    (managed,) = [m for m in sup.processes() if m.name == name]
    return managed


def _gone(pid: int, timeout: float = 10.0) -> None:
    ends = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < ends:
        time.sleep(0.05)
    assert not alive(pid), f"pid {pid} did not stop"


@contextlib.contextmanager
def stopped(state: Path, name: str, port: tuple[str, int] | None) -> Iterator[int]:
    """Stop the lab process ``name`` by PID (SIGTERM to its process group, as the lab's
    Supervisor does) and start it again afterwards from its recorded argv, waiting until
    ``port`` accepts connections. Yields the stopped PID."""
    sup = Supervisor(state)
    managed = _find(sup, name)
    sup.stop(name)
    _gone(managed.pid)
    try:
        yield managed.pid
    finally:
        argv = managed.argv[_NETNS_PREFIX:] if managed.netns else managed.argv
        ready = tcp_ready(*port) if port else None
        sup.start(name, argv, netns=managed.netns, ready=ready)


@contextlib.contextmanager
def postfix_stopped(state: Path) -> Iterator[int]:
    """Postfix daemonises, so it is stopped by its master's PID (SIGTERM: the master
    takes its children with it) and started again with ``postfix start``, adopting the
    new master PID the way the lab does."""
    sup = Supervisor(state)
    managed = _find(sup, "postfix")
    os.kill(managed.pid, signal.SIGTERM)
    _gone(managed.pid)
    sup.stop("postfix")  # the record only: the PID is gone
    try:
        yield managed.pid
    finally:
        run(managed.argv)
        pid_file = _postfix_pid_file(state)
        ends = time.monotonic() + 15
        pid = 0
        while time.monotonic() < ends and not (pid and alive(pid) and pid != managed.pid):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().split()[0])
            time.sleep(0.05)
        assert pid and pid != managed.pid, "postfix did not start again"
        sup.adopt("postfix", pid, managed.argv, Path(managed.log))


def _postfix_pid_file(state: Path) -> Path:
    conf = state / "postfix" / "etc" / "main.cf"
    for line in conf.read_text().splitlines():
        if line.startswith("queue_directory"):
            return Path(line.split("=", 1)[1].strip()) / "pid" / "master.pid"
    raise AssertionError("no queue_directory in the lab's postfix main.cf")


@contextlib.contextmanager
def frozen(state: Path, name: str) -> Iterator[int]:
    """SIGSTOP the process group of ``name``: connections are still accepted by the
    kernel (and UDP queued) but nothing answers; SIGCONT afterwards."""
    pid = _find(Supervisor(state), name).pid
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.killpg(pid, signal.SIGCONT)


Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def listening(
    addresses: list[tuple[str, int]], handler: Handler, udp: Handler | None = None
) -> Iterator[None]:
    """Serve TCP ``addresses`` with ``handler`` (one thread per connection), and UDP
    with ``udp`` if given, until the block ends."""
    done = threading.Event()
    sockets: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def accept(server: socket.socket) -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            t = threading.Thread(target=_serve, args=(conn,), daemon=True)
            t.start()

    def _serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            handler(conn, done)

    for host, port in addresses:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((host, port))
        tcp.listen(64)
        sockets.append(tcp)
        threads.append(threading.Thread(target=accept, args=(tcp,), daemon=True))
        if udp is not None:
            dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dgram.bind((host, port))
            sockets.append(dgram)
            threads.append(threading.Thread(target=udp, args=(dgram, done), daemon=True))
    for t in threads:
        t.start()
    try:
        yield
    finally:
        done.set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in threads:
            t.join(5)


def reset(conn: socket.socket, done: threading.Event) -> None:
    """Close at once with SO_LINGER 0: the peer gets a TCP reset."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def trickle(greeting: bytes, interval: float = 0.5) -> Handler:
    """A server that answers, correctly but one byte every ``interval`` seconds: each
    read sees progress, so only an overall deadline ends the exchange."""

    def handler(conn: socket.socket, done: threading.Event) -> None:
        for byte in greeting:
            if done.wait(interval):
                return
            conn.sendall(bytes([byte]))
        done.wait(120)

    return handler


def _servfail(query: bytes) -> bytes:
    response = dns.message.make_response(dns.message.from_wire(query))
    response.set_rcode(dns.rcode.SERVFAIL)
    response.flags |= dns.flags.RA
    return response.to_wire()


def servfail_udp(sock: socket.socket, done: threading.Event) -> None:
    """Answer every DNS question with SERVFAIL (a resolver whose upstream is broken)."""
    while not done.is_set():
        try:
            query, peer = sock.recvfrom(4096)
        except OSError:
            return
        with contextlib.suppress(Exception):
            sock.sendto(_servfail(query), peer)


def servfail_tcp(conn: socket.socket, done: threading.Event) -> None:
    conn.settimeout(10)
    while not done.is_set():
        head = conn.recv(2)
        if len(head) < 2:
            return
        query = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
        answer = _servfail(query)
        conn.sendall(struct.pack("!H", len(answer)) + answer)


def ready(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False
