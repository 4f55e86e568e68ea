"""Reaching a host:port from a vantage point, as a site would: one way for every family.

A site finds a server through its own resolvers (asked from its vantage point, through
the sweep's DNS cache) and connects from where it stands. :func:`reach` does both and
classifies what happened the same way for every family that opens a connection (TCP
reachability, HTTP, SMTP...), so a dropped flow reads the same whoever found it:

    ``accepted``     a stream is open (``Reach.stream``: the caller owns it);
    ``refused``      the port is closed (RST): ``fail``;
    ``no-answer``    nothing within the timeout (a firewall DROP): ``fail``;
    ``unreachable``  no route (ICMP unreachable): ``fail``;
    ``unresolved``   the jump host could not resolve the name: ``error``;
    ``dns``          the site's resolvers gave no address: ``error`` (root cause shared
                     with the ``dns`` family's result);
    ``vantage``      the vantage point itself is unusable: ``error``;
    ``error``        anything else: ``error``.

Resolver labels come from :meth:`readiness.family.PlanContext.reach_routes`;
:data:`VIA_VANTAGE` means "let the SSH jump host resolve the name itself".
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness.net import dns
from readiness.net.streams import Stream
from readiness.net.vantage import Vantage, VantageError
from readiness.results import Status

__all__ = ["BAD_OUTCOMES", "VIA_VANTAGE", "Reach", "reach"]

VIA_VANTAGE = "vantage"
# Outcomes where the target (or the path to it) said no: a Day-1 blocker, not an unknown.
BAD_OUTCOMES = frozenset({"refused", "no-answer", "unreachable"})


@dataclass
class Reach:
    """What trying to reach ``host:port`` from ``vantage`` found."""

    host: str
    port: int
    vantage: str
    outcome: str
    stream: Stream | None = None  # open when outcome == "accepted"; the caller closes it
    address: str = ""  # the address that accepted
    summary: str = ""
    observed: str = ""
    root_cause: str = ""
    hint: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        if self.outcome == "accepted":
            return Status.PASS
        return Status.FAIL if self.outcome in BAD_OUTCOMES else Status.ERROR

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def _addresses(
    lookup: Callable[[str, str, str], dns.Lookup],
    host: str,
    resolvers: Sequence[str],
    vantage: str,
) -> list[str] | dns.Lookup:
    """The addresses the site finds, or the failed lookup."""
    if dns.is_ip(host):
        return [host.strip("[]")]
    if list(resolvers) == [VIA_VANTAGE]:
        return [host]  # the jump host resolves it
    last: dns.Lookup | None = None
    for resolver in resolvers or [dns.SYSTEM]:
        last = lookup(host, resolver, vantage)
        if last.ok:
            return list(last.addresses)
        if last.is_failure:
            break
    assert last is not None
    return last


def reach(
    host: str,
    port: int,
    *,
    vantage_name: str,
    vantage: Callable[[], Vantage],
    lookup: Callable[[str, str, str], dns.Lookup],
    resolvers: Sequence[str],
    timeout: float,
) -> Reach:
    """Resolve ``host`` as the site does and connect from ``vantage_name``; never raises
    for DNS or network trouble. ``lookup(host, resolver, vantage)`` is the sweep's cache
    (``ctx.dns.lookup``); ``vantage()`` gives the vantage point (``ctx.vantage``)."""
    where = f"from {vantage_name}"
    target = f"{host}:{port}"
    out = Reach(host, port, vantage_name, "error")
    out.details = {"host": host, "port": port, "resolvers": list(resolvers)}
    found = _addresses(lookup, host, resolvers, vantage_name)
    if isinstance(found, dns.Lookup):
        out.details["resolution"] = found.outcome
        if found.is_failure or found.outcome in ("servfail", "refused"):
            cause = f"dns|{host.lower()}|{found.outcome}"
        elif found.outcome == "vantage":
            cause = f"vantage|{vantage_name}"
        else:
            cause = f"dns-resolver|{found.resolver}|{found.outcome}|{vantage_name}"
        out.outcome = "dns"
        out.summary = (
            f"could not test {target} {where}: the name does not resolve via "
            f"{found.resolver}: {found.describe()}"
        )
        out.observed = f"resolution: {found.describe()}"
        out.root_cause = cause
        out.hint = "see the dns.resolves result for this name; fix DNS first"
        return out
    out.details["addresses"] = found
    try:
        point = vantage()
    except Exception as exc:
        return _vantage_error(out, f"vantage point {vantage_name} is unusable: {exc}", exc)
    attempts: list[tuple[str, str, str]] = []  # (address, outcome, detail)
    for address in found:
        try:
            out.stream = point.connect(address, port, timeout)
        except VantageError as exc:
            return _vantage_error(out, str(exc), exc)
        except ConnectionRefusedError as exc:
            attempts.append((address, "refused", str(exc) or "connection refused"))
            continue
        except TimeoutError:
            attempts.append((address, "no-answer", f"no answer within {timeout:g}s"))
            continue
        except socket.gaierror as exc:  # the jump host could not resolve the name
            attempts.append((address, "unresolved", exc.strerror or str(exc)))
            continue
        except OSError as exc:
            unreachable = exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH)
            attempts.append((address, "unreachable" if unreachable else "error", str(exc)))
            continue
        attempts.append((address, "accepted", ""))
        out.address = address
        break
    out.details["attempts"] = [{"address": a, "outcome": o, "detail": d} for a, o, d in attempts]
    out.observed = "; ".join(
        f"{a}: {o}" + (f" ({d})" if d and o != "no-answer" else "") for a, o, d in attempts
    )
    outcomes = [o for _, o, _ in attempts]
    for outcome in ("accepted", "refused", "no-answer", "unresolved", "unreachable", "error"):
        if outcome in outcomes:
            out.outcome = outcome
            break
    out.summary, out.hint = _explained(out.outcome, target, where, timeout, out.observed)
    if out.outcome == "unresolved":
        out.root_cause = f"dns|{host.lower()}|via-{vantage_name}"
    elif out.outcome != "accepted":
        out.root_cause = f"tcp|{host.lower()}:{port}|{out.outcome}"
    return out


def _vantage_error(out: Reach, message: str, exc: BaseException) -> Reach:
    out.outcome = "vantage"
    out.summary = f"could not test {out.host}:{out.port}: {message}"
    out.observed = str(exc)
    out.root_cause = f"vantage|{out.vantage}"
    out.hint = "check the jump host: address, known_hosts, key, AllowTcpForwarding"
    return out


def _explained(
    outcome: str, target: str, where: str, timeout: float, observed: str
) -> tuple[str, str]:
    """(summary, hint) of an outcome."""
    host, _, port = target.rpartition(":")
    if outcome == "accepted":
        return f"{target} accepts connections {where}", ""
    if outcome == "refused":
        return (
            f"{target} refuses connections {where} (port closed)",
            f"start the service on port {port} of {host}, or fix a firewall rule that rejects it",
        )
    if outcome == "no-answer":
        return (
            f"{target} does not answer {where} within {timeout:g}s",
            f"a firewall probably drops traffic {where} to {target}; open the flow (and "
            "check the return path: one-way blocks are common), or check that the host is up",
        )
    if outcome == "unresolved":
        site = where[5:]
        return (
            f"{site} cannot resolve {host}, so {target} could not be tested",
            f"check that {host} resolves at {site} (its resolvers, conditional "
            "forwarders for the other organisation's domain)",
        )
    if outcome == "unreachable":
        return (
            f"{target} is unreachable {where} (no route)",
            "add the route between the site and the resource's network",
        )
    return f"could not test {target} {where}: {observed}", "see the observed error"
