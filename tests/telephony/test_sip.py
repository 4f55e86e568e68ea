"""The SIP module's pure logic: building, parsing (and fuzzing) messages, transactions
matched by Via branch and Call-ID, RFC 3261 timers, framing on streams. The real
servers are in test_servers.py; here a scripted channel and a fake clock stand in for
the network, so timings are exact."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness_checks.telephony import sip
from readiness_checks.telephony.sip import (
    MAX_MESSAGE,
    ChannelClosed,
    Frames,
    MalformedMessage,
    Request,
    exchange,
    options,
    parse_response,
)


def response(request: Request, code: int = 200, **change: str) -> bytes:
    call_id = change.get("call_id", request.call_id)
    branch = change.get("branch", request.branch)
    body = change.get("body", "")
    length = change.get("length", str(len(body)))
    return (
        f"SIP/2.0 {code} {change.get('reason', 'OK')}\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport=5099\r\n"
        "From: <sip:readiness@127.0.0.1>;tag=a\r\nTo: <sip:x@y>;tag=b\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 {change.get('method', 'OPTIONS')}\r\n"
        f"Content-Length: {length}\r\n\r\n{body}"
    ).encode()


def test_an_options_request() -> None:
    r = options("sip:4101@valeshared.test", transport="udp", via_host="127.0.0.1", via_port=5099)
    text = r.data.decode()
    assert text.startswith("OPTIONS sip:4101@valeshared.test SIP/2.0\r\n")
    assert f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={r.branch};rport\r\n" in text
    assert r.branch.startswith("z9hG4bK-") and f"Call-ID: {r.call_id}\r\n" in text
    assert text.endswith("Content-Length: 0\r\n\r\n")
    other = options("sip:x", transport="TCP", via_host="h", via_port=None)
    assert (other.branch, other.call_id) != (r.branch, r.call_id)
    assert "Via: SIP/2.0/TCP h;branch=" in other.data.decode()


@pytest.mark.parametrize("uri", ["sip:a b@x", "sip:x\r\nEvil: 1", "", "sip:x\ty", "sip:\x00"])
def test_nothing_from_an_inventory_can_inject_a_header(uri: str) -> None:
    with pytest.raises(ValueError, match="white space or control"):
        options(uri, transport="UDP", via_host="h", via_port=1)
    with pytest.raises(ValueError):
        options("sip:x", transport="SCTP", via_host="h", via_port=1)


def test_parse_a_response() -> None:
    request = options("sip:x", transport="UDP", via_host="h", via_port=1)
    got = parse_response(response(request, 503, reason="Service Unavailable"))
    assert (got.code, got.reason, got.branch, got.call_id) == (
        503,
        "Service Unavailable",
        request.branch,
        request.call_id,
    )
    assert got.cseq_method == "OPTIONS" and got.header("CONTENT-LENGTH") == "0"
    # compact forms, folding, an empty reason phrase
    compact = (
        b"SIP/2.0 200 \r\nv: SIP/2.0/UDP h;branch=z9hG4bK-1\r\ni: abc\r\nCSeq: 7\r\n options\r\n"
        b"l: 0\r\n\r\n"
    )
    got = parse_response(compact)
    assert (got.code, got.reason, got.branch, got.call_id, got.cseq_method) == (
        200,
        "",
        "z9hG4bK-1",
        "abc",
        "OPTIONS",
    )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n", "status line"),
        (b"SIP/2.0 OK\r\n\r\n", "status line"),
        (b"SIP/2.0 99 Low\r\n\r\n", "status line"),
        (b"SIP/2.0 700 High\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "status line"),
        (b"SIP/2.0 200 OK\r\nVia: a\r\nCall-ID: b\r\nCSeq: 1 OPTIONS\r\n", "does not end"),
        (b"SIP/2.0 200 OK\r\nCall-ID: b\r\nCSeq: 1 OPTIONS\r\n\r\n", "no Via"),
        (b"SIP/2.0 200 OK\r\nVia: a\r\nCSeq: 1 OPTIONS\r\n\r\n", "no Call-Id"),
        (b"SIP/2.0 200 OK\r\nVia: a\r\nCall-ID: b\r\nCSeq: x\r\n\r\n", "CSeq"),
        (b"SIP/2.0 200 OK\r\nnot a header\r\n\r\n", "not a header line"),
        (b"SIP/2.0 200 OK\r\n folded\r\n\r\n", "continuation"),
        (b"SIP/2.0 200 OK\r\nVia: \xff\r\n\r\n", "UTF-8"),
        (b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", "byte count"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 9\r\n\r\nabc", "truncated"),
        (b"SIP/2.0 200 OK\r\n" + b"X: 1\r\n" * 300 + b"\r\n", "header lines"),
        (b"SIP/2.0 200 OK\r\n" + b"X" * MAX_MESSAGE + b"\r\n\r\n", "bytes"),
    ],
)
def test_malformed_responses_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(MalformedMessage, match=why):
        parse_response(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_parser(data: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        parse_response(data)


LINES = st.sampled_from(
    [
        "Via: SIP/2.0/UDP h;branch=z9hG4bK-1",
        "v: SIP/2.0/UDP h;branch",
        "Call-ID: abc",
        "i: \x00",
        "CSeq: 1 OPTIONS",
        "CSeq: 99999999999999999999 OPTIONS",
        "Content-Length: 3",
        "l: 99999999999",
        " folded",
        "Via: ;;;branch=;=;",
        ":",
        "X-" + "a" * 300,
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["SIP/2.0 200 OK", "SIP/2.0 100 Trying", "SIP/2.0 6 x", "SIP/2.0 486"]),
    st.lists(LINES | st.text(max_size=40), max_size=12),
    st.binary(max_size=20),
)
def test_hostile_headers_give_a_response_or_a_reason(
    status: str, lines: list[str], body: bytes
) -> None:
    data = ("\r\n".join([status, *lines]) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    try:
        got = parse_response(data)
    except MalformedMessage as exc:
        assert str(exc)
    else:
        assert 100 <= got.code <= 699 and got.call_id


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8))
def test_a_stream_of_random_chunks_frames_or_closes(chunks: list[bytes]) -> None:
    frames = Frames(_Chunks(chunks))
    try:
        while frames.receive(0.0):
            pass
    except ChannelClosed as exc:
        assert str(exc)


class _Chunks:
    """A stream handing out scripted chunks, then end of stream."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        return self.chunks.pop(0)[:size] if self.chunks else b""

    def sendall(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def test_frames_cut_a_stream_into_messages() -> None:
    request = options("sip:x", transport="TCP", via_host="h", via_port=None)
    one = response(request, body="abc")
    two = response(request, 486)
    stream = _Chunks([b"\r\n\r\n" + one[:10], one[10:] + two[:5], two[5:]])
    frames = Frames(stream)
    assert frames.receive(1.0) == [one]
    assert frames.receive(1.0) == [two]
    with pytest.raises(ChannelClosed, match="closed"):
        frames.receive(1.0)
    no_length = Frames(_Chunks([b"SIP/2.0 200 OK\r\nVia: a\r\n\r\n"]))
    with pytest.raises(ChannelClosed, match="without Content-Length"):
        no_length.receive(1.0)
    endless = Frames(_Chunks([b"x" * 40_000, b"x" * 40_000]))
    with pytest.raises(ChannelClosed, match="no end of headers"):
        endless.receive(1.0)


# --------------------------------------------------------------------------- transactions


class Script:
    """A channel whose peer answers through ``reply(request_bytes, nth) -> [bytes]``,
    with a fake clock that moves only while the caller waits."""

    def __init__(
        self,
        reply: Callable[[bytes, int], list[bytes]],
        *,
        reliable: bool = False,
        delay: float = 0.01,
    ) -> None:
        self.reply, self.reliable, self.delay = reply, reliable, delay
        self.now = 0.0
        self.sent: list[tuple[float, bytes]] = []
        self.inbox: list[tuple[float, bytes]] = []
        self.unfinished = 0
        self.counts: dict[bytes, int] = {}

    def clock(self) -> float:
        return self.now

    def send(self, data: bytes) -> None:
        self.sent.append((self.now, data))
        nth = self.counts[data] = self.counts.get(data, 0) + 1
        self.inbox += [(self.now + self.delay, r) for r in self.reply(data, nth)]
        self.inbox.sort(key=lambda item: item[0])

    def receive(self, timeout: float) -> list[bytes]:
        if self.inbox and self.inbox[0][0] <= self.now + timeout:
            at, data = self.inbox.pop(0)
            self.now = max(self.now, at)
            return [data]
        self.now += timeout
        return []


def request_of(data: bytes) -> Request:
    text = data.decode()
    branch = text.split("branch=")[1].split(";")[0]
    call_id = text.split("Call-ID: ")[1].split("\r\n")[0]
    return Request(data, branch, call_id)


def requests(n: int) -> list[Request]:
    return [options(f"sip:{i}@d", transport="UDP", via_host="h", via_port=1) for i in range(n)]


def test_retransmissions_follow_timers_e_and_f() -> None:
    silent = Script(lambda data, nth: [])
    seen = exchange(silent, requests(1), timeout=8.0, clock=silent.clock)
    times = [round(t, 3) for t, _ in silent.sent]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5]  # T1 doubling up to T2 = 4 s
    outcome = seen.outcomes[0]
    assert (outcome.response, outcome.error, outcome.sent) == (None, "no-answer", 5)
    assert "after 5 transmissions" in outcome.detail


def test_after_a_provisional_response_retransmit_every_t2() -> None:
    def trying(data: bytes, nth: int) -> list[bytes]:
        return [response(request_of(data), 100, reason="Trying")] if nth == 1 else []

    script = Script(trying)
    seen = exchange(script, requests(1), timeout=12.0, clock=script.clock)
    assert [round(t, 2) for t, _ in script.sent] == [0.0, 0.5, 4.5, 8.5]
    assert seen.outcomes[0].provisional == 1 and seen.outcomes[0].error == "no-answer"


def test_a_reliable_transport_is_not_retransmitted() -> None:
    script = Script(lambda data, nth: [], reliable=True)
    seen = exchange(script, requests(1), timeout=3.0, clock=script.clock)
    assert len(script.sent) == 1 and seen.outcomes[0].sent == 1


def test_responses_match_by_branch_and_call_id_only() -> None:
    def wrong_then_right(data: bytes, nth: int) -> list[bytes]:
        r = request_of(data)
        return [
            response(r, 200, call_id="another"),
            response(r, 200, branch="z9hG4bK-other"),
            response(r, 200, method="INVITE"),
            b"garbage",
            response(r, 404),
        ]

    script = Script(wrong_then_right)
    seen = exchange(script, requests(1), timeout=2.0, clock=script.clock)
    assert seen.outcomes[0].response is not None and seen.outcomes[0].response.code == 404
    assert (seen.set_aside, seen.malformed) == (3, 1)
    assert any("another" in reason for reason in seen.reasons)


def test_many_transactions_share_one_channel_within_the_window() -> None:
    answered: list[int] = []

    def answer(data: bytes, nth: int) -> list[bytes]:
        answered.append(len(answered))
        return [response(request_of(data), 200)]

    script = Script(answer, delay=0.05)
    batch = requests(500)
    seen = exchange(script, batch, timeout=5.0, window=32, clock=script.clock)
    assert [o.response.code if o.response else None for o in seen.outcomes] == [200] * 500
    assert len(script.sent) == 500  # answered in time: no retransmission
    # Never more than the window outstanding: 500 answers at 0.05 s each, 32 at a time.
    assert 0.05 * 500 / 32 <= script.now < 0.05 * 500 / 32 + 1


def test_a_refused_channel_ends_every_transaction() -> None:
    class Refusing(Script):
        def receive(self, timeout: float) -> list[bytes]:
            raise ConnectionRefusedError

    script = Refusing(lambda d, n: [])
    seen = exchange(script, requests(5), timeout=2.0, window=2, clock=script.clock)
    assert {o.error for o in seen.outcomes} == {"refused"}
    assert len(script.sent) == 2  # the rest were never sent


def test_a_late_duplicate_final_response_is_not_set_aside() -> None:
    def twice(data: bytes, nth: int) -> list[bytes]:
        r = request_of(data)
        return [response(r), response(r)]

    script = Script(twice)
    seen = exchange(script, requests(2), timeout=1.0, clock=script.clock)
    assert seen.set_aside == 0 and all(o.response for o in seen.outcomes)


def test_datagrams_see_icmp_port_unreachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))  # nothing listens there any more
    try:
        seen = exchange(sip.Datagrams(sock), requests(1), timeout=1.0)
    finally:
        sock.close()
    assert seen.outcomes[0].error == "refused"
