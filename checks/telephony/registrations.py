"""Which extensions a registrar knows, and whether their phones answer.

Two ways to read registrations (``telephony_endpoints.<id>.sip.registrations.read``):

* ``jsonrpc``: the registrar's management interface, ONE call for every contact
  (kamailio's ``ul.dump`` over HTTP; a bounded read of the reply). ``detail: brief``
  (the default) lists the addresses of record that have contacts (kamailio removes
  expired ones within its timer interval, a minute by default); ``detail: full`` also
  reads each contact's address and expiry (a contact counts while its ``Expires`` is
  seconds left, or ``permanent``), but kamailio builds that reply in a time that grows
  with the square of the contacts (measured: 1 s at 10,000, 22 s at 20,000).
* ``options``: no management interface; an OPTIONS to each address of record through
  the proxy tells both: 404, 480 or 604 mean no registration.

Then "the contact answers": an OPTIONS to each registered address of record through
the registrar's proxy (the path a call takes, which also reaches phones behind NAT),
all of them as concurrent transactions over ONE UDP socket (or one TCP/TLS stream when
the registrar serves no UDP), from this machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness.family import RunContext
from readiness.net import dns
from readiness.net.streams import Stream

from . import sip as wire
from .config import Registrations, Sip
from .endpoints import NO_HOST, SRV_NAMES

__all__ = ["Contact", "ReadError", "Registrar", "parse_ul_dump"]

MAX_REPLY = 256 * 1024 * 1024  # bytes of a JSON-RPC reply (ul.dump of 20,000 contacts: ~18 MB)
NOT_REGISTERED = frozenset({404, 480, 604})


class ReadError(Exception):
    """Registrations could not be read; ``code`` groups the people it leaves unknown."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Contact:
    address: str  # "" when the registrar was read briefly
    expires: dt.datetime | None  # None: permanent, or not read (brief)
    permanent: bool = False

    def live(self, at: dt.datetime) -> bool:
        return self.expires is None or self.expires > at


BRIEF = Contact("", None)  # what ``ul.dump brief`` says of an address of record


def parse_ul_dump(reply: Any, now: dt.datetime) -> dict[str, list[Contact]]:
    """kamailio ``ul.dump`` (or ``ul.dump brief``: no contacts, each record one
    :data:`BRIEF`) -> address-of-record user part -> its contacts (expired and deleted
    ones left out). Raises ReadError on a reply of another shape."""
    try:
        domains = reply["Domains"]
        records = [rec for d in domains for rec in d["Domain"].get("AoRs", [])]
    except (KeyError, TypeError, AttributeError):
        raise ReadError("bad-reply", "the ul.dump reply has no Domains/AoRs") from None
    found: dict[str, list[Contact]] = {}
    for record in records:
        info = record.get("Info", record) if isinstance(record, dict) else {}
        aor = str(info.get("AoR", ""))
        contacts: list[Contact] = [] if isinstance(record, dict) and "Info" in record else [BRIEF]
        for item in info.get("Contacts", []) or []:
            contact = item.get("Contact", {}) if isinstance(item, dict) else {}
            expires = contact.get("Expires")
            address = str(contact.get("Address", ""))
            if expires == "permanent":
                contacts.append(Contact(address, None, permanent=True))
            elif isinstance(expires, int) and expires > 0:
                contacts.append(Contact(address, now + dt.timedelta(seconds=expires)))
            # else "expired", "deleted", 0 or unreadable: no longer a registration
        if aor:
            found.setdefault(aor.partition("@")[0], []).extend(contacts)
    return found


@dataclass
class Asked:
    """What the proxy said about each address of record (or why it could not be asked)."""

    outcomes: dict[str, wire.Outcome] = field(default_factory=dict)
    failure: ReadError | None = None
    set_aside: int = 0
    malformed: int = 0


class Registrar:
    """One registrar endpoint with ``registrations``: its registrations and its proxy."""

    def __init__(self, ep_id: str, sip: Sip, ctx: RunContext) -> None:
        assert sip.registrations is not None
        self.ep_id = ep_id
        self.sip = sip
        self.reg: Registrations = sip.registrations
        self.ctx = ctx

    def aor(self, extension: str) -> str:
        return f"sip:{extension}@{self.sip.aor_domain}"

    # -- reading registrations --------------------------------------------------
    def contacts(self) -> dict[str, list[Contact]] | ReadError:
        """Every registration (jsonrpc), once per sweep."""
        found = self.ctx.shared(("telephony-ul-dump", self.ep_id), self._dump)
        if isinstance(found, ReadError):
            return found
        if isinstance(found, BaseException):
            return ReadError("crash", f"{type(found).__name__}: {found}")
        return found

    def _dump(self) -> dict[str, list[Contact]]:
        url = self.reg.url or ""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            address = self.ctx.dns.resolve(host)[0]
        except dns.ResolveError as exc:
            raise ReadError("dns", str(exc)) from None
        port = parts.port or 80
        headers = {"Content-Type": "application/json", "Host": parts.netloc}
        params = ["brief"] if self.reg.detail == "brief" else []
        body = json.dumps(
            {"jsonrpc": "2.0", "method": "ul.dump", "params": params, "id": 1}
        ).encode()
        connection = http.client.HTTPConnection(address, port, timeout=self.reg.read_timeout)
        with self.ctx.limit(f"jsonrpc:{host}:{port}", 1), contextlib.closing(connection):
            try:
                connection.request("POST", parts.path or "/", body, headers)
                response = connection.getresponse()
                data = response.read(MAX_REPLY + 1)
            except TimeoutError:
                raise ReadError(
                    "timeout", f"{url} did not answer within {self.reg.read_timeout:g} s"
                ) from None
            except ConnectionRefusedError:
                raise ReadError("refused", f"{url} refused the connection") from None
            except (OSError, http.client.HTTPException) as exc:
                raise ReadError("unreachable", f"{url}: {exc}") from None
        if response.status != 200:
            raise ReadError(
                f"http-{response.status}",
                f"{url} answered HTTP {response.status} {response.reason}",
            )
        if len(data) > MAX_REPLY:
            raise ReadError("too-large", f"the ul.dump reply is larger than {MAX_REPLY} bytes")
        try:
            answer = json.loads(data)
        except ValueError as exc:
            raise ReadError("bad-reply", f"the ul.dump reply is not JSON: {exc}") from None
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise ReadError("rpc-error", f"ul.dump failed: {str(error)[:200]}")
        return parse_ul_dump(answer.get("result"), self.ctx.now())

    # -- asking the proxy -------------------------------------------------------
    def ask(self, extensions: Sequence[str]) -> Asked:
        """One OPTIONS per extension's address of record through the proxy."""
        asked = Asked()
        if not extensions:
            return asked
        try:
            transport, host, port = self._proxy()
            address = self.ctx.dns.resolve(host)[0]
        except dns.ResolveError as exc:
            asked.failure = ReadError("dns", str(exc))
            return asked
        except ReadError as exc:
            asked.failure = exc
            return asked
        vantage = self.ctx.vantage("local")
        timeout = self.reg.timeout
        with self.ctx.limit(f"sip:{host}:{port}"):
            try:
                channel, via_host, via_port, close = self._channel(
                    vantage, transport, address, port, host
                )
            except OSError as exc:
                asked.failure = ReadError("unreachable", f"{transport}:{host}:{port}: {exc}")
                return asked
            with contextlib.closing(close):
                requests = [
                    wire.options(
                        self.aor(e), transport=transport, via_host=via_host, via_port=via_port
                    )
                    for e in extensions
                ]
                seen = wire.exchange(
                    channel, requests, timeout=timeout, window=self.reg.max_in_flight
                )
        asked.outcomes = dict(zip(extensions, seen.outcomes, strict=True))
        asked.set_aside, asked.malformed = seen.set_aside, seen.malformed
        return asked

    def _proxy(self) -> tuple[str, str, int]:
        """(transport, host, port) of the proxy: UDP if served, else TCP, else TLS."""
        sip = self.sip
        transport = next(t for t in ("udp", "tcp", "tls") if t in sip.transports)
        if sip.host is not None:
            return transport, sip.host, sip.port_for(transport)
        name = f"{SRV_NAMES[transport]}.{sip.domain}"
        for resolver in self.ctx.dns.programme:
            answer = self.ctx.dns.query(name, "SRV", resolver)
            if answer.ok and answer.values:
                best = min(answer.values, key=lambda v: int(v.split()[0]))
                _, _, port, host = best.split()
                return transport, host.rstrip("."), int(port)
            if answer.is_failure:
                break
        raise ReadError("dns", f"{name} has no SRV record (the proxy cannot be found)")

    def _channel(
        self, vantage: Any, transport: str, address: str, port: int, host: str
    ) -> tuple[wire.Datagrams | wire.Frames, str, int | None, Any]:
        timeout = self.reg.timeout
        if transport == "udp":
            sock: socket.socket = vantage.udp(address, port, timeout)
            local = sock.getsockname()
            return wire.Datagrams(sock), local[0], local[1], sock
        stream: Stream = vantage.connect(address, port, timeout)
        if transport == "tls":
            from readiness.net.tls import start_tls

            from .endpoints import unverified_context

            stream = start_tls(
                stream, server_name=host, context=unverified_context(), timeout=timeout
            )
        via = stream.getsockname() if isinstance(stream, socket.socket) else (NO_HOST, None)
        return wire.Frames(stream), via[0], via[1], stream


def contact_reply(outcome: wire.Outcome) -> tuple[str, int | None, str]:
    """("answers" | "refuses" | "not-registered" | "no-answer" | "error", code, text)."""
    response = outcome.response
    if response is None:
        return "no-answer", None, outcome.detail or outcome.error
    text = f"{response.code} {response.reason}".strip()
    if response.code in NOT_REGISTERED:
        return "not-registered", response.code, text
    if 200 <= response.code < 300 or response.code in (405, 501):
        return "answers", response.code, text
    if response.code >= 500 and response.code != 503:
        return "error", response.code, text
    return "refuses", response.code, text


def expiry_text(contacts: Sequence[Contact]) -> str:
    """When the last of ``contacts`` expires (ISO 8601), ``permanent``, or "" (not read)."""
    if any(c.permanent for c in contacts):
        return "permanent"
    ends = [c.expires for c in contacts if c.expires is not None]
    return max(ends).isoformat(timespec="seconds") if ends else ""
