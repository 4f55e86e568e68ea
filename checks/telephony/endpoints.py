"""Service level: each telephony endpoint answers OPTIONS over every transport it
should serve, from each site whose staff need it.

One probe per (endpoint, vantage point). A domain is first turned into targets through
NAPTR (where published) and SRV (``_sip._udp``, ``_sip._tcp``, ``_sips._tcp``: one
``sip.dns`` result each); each target's name through the site's resolvers (the core's
DNS service, each question once per sweep). Then per transport one OPTIONS transaction
(``sip.options``, target ``<transport>:<host>:<port>``): UDP with retransmissions
(skipped, with the reason, from an SSH jump host, which forwards TCP only), TCP, and
TLS, whose certificate is judged by the core's one certificate module
(``tls.*`` findings, target ``<host>:<port>``) before the OPTIONS runs over a session
of its own.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from readiness.family import Probe, RunContext, subject_impact
from readiness.inventory.models import TelephonyEndpoint
from readiness.net import dns
from readiness.net.reach import VIA_VANTAGE
from readiness.net.streams import Stream
from readiness.net.vantage import Vantage, VantageError
from readiness.results import Result, Status

from . import sip as wire
from .config import Sip

__all__ = [
    "DNS",
    "NO_HOST",
    "OPTIONS",
    "SRV_NAMES",
    "EndpointParams",
    "probe_endpoint",
    "unverified_context",
]

OPTIONS = "sip.options"
DNS = "sip.dns"
SRV_NAMES = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}
NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
NO_HOST = "readiness.invalid"  # a Via host where the local address is unknown (SSH)


@dataclass(frozen=True)
class EndpointParams:
    endpoint: str
    resolvers: tuple[str, ...]  # in order; (VIA_VANTAGE,) = the jump host resolves
    needed_by: tuple[str, ...] = ()  # the sites whose staff need it (from anywhere)


@dataclass(frozen=True)
class Target:
    transport: str
    host: str
    port: int


class _Out:
    """The results of one endpoint probe, with the fields they share."""

    def __init__(self, probe: Probe[EndpointParams], endpoint: TelephonyEndpoint) -> None:
        self.probe = probe
        self.owner = endpoint.owner
        self.impact = subject_impact(probe.subject, probe.params.needed_by)
        self.results: list[Result] = []

    def add(self, status: Status, summary: str, *, check: str, target: str, **fields: Any) -> None:
        if status in (Status.PASS, Status.SKIP):
            fields.pop("hint", None)
            fields.pop("root_cause", None)
        self.results.append(
            self.probe.result(
                status,
                summary,
                check=check,
                target=target,
                impact=self.impact,
                owner=self.owner if status.bad or status is Status.WARN else "",
                **fields,
            )
        )


def probe_endpoint(
    probe: Probe[EndpointParams], ctx: RunContext, endpoint: TelephonyEndpoint, sip: Sip
) -> list[Result]:
    out = _Out(probe, endpoint)
    try:
        vantage = ctx.vantage(probe.vantage)
    except Exception as exc:
        for target in _declared(sip):
            _unusable(out, _label(target), f"vantage point {probe.vantage} is unusable: {exc}")
        return out.results
    targets = _targets(out, ctx, sip) if sip.domain else _declared(sip)
    for target in targets:
        with ctx.limit(f"sip:{target.host}:{target.port}"):
            _probe_target(out, ctx, vantage, endpoint, sip, target)
    return out.results


def _declared(sip: Sip) -> list[Target]:
    if sip.host is None:  # a domain: the transports' SRV names stand for the targets
        return [Target(t, sip.domain or "", sip.port_for(t)) for t in sip.transports]
    return [Target(t, sip.host, sip.port_for(t)) for t in sip.transports]


def _label(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.transport}:{host}:{target.port}"


# --------------------------------------------------------------------------- DNS


def _ask(
    ctx: RunContext, name: str, rdtype: str, resolvers: tuple[str, ...], vantage: str
) -> dns.Answer | None:
    """The first resolver's answer that says something (None: the jump host resolves)."""
    if resolvers == (VIA_VANTAGE,):
        return None
    answer: dns.Answer | None = None
    for resolver in resolvers:
        answer = ctx.dns.query(name, rdtype, resolver, vantage)
        if answer.ok or answer.is_failure:
            break
    return answer


def _targets(out: _Out, ctx: RunContext, sip: Sip) -> list[Target]:
    """RFC 3263: NAPTR (if published) names the SRV records of each transport; without
    NAPTR, the standard SRV names. One ``sip.dns`` result per transport."""
    probe = out.probe
    domain = sip.domain or ""
    resolvers = probe.params.resolvers
    srv_names = {t: f"{SRV_NAMES[t]}.{domain}" for t in sip.transports}
    naptr = _ask(ctx, domain, "NAPTR", resolvers, probe.vantage)
    if naptr is not None and naptr.ok:
        for value in naptr.values:
            parts = value.split()
            if len(parts) == 6 and parts[3].strip('"').upper() in NAPTR_SERVICES:
                transport = NAPTR_SERVICES[parts[3].strip('"').upper()]
                if transport in srv_names:
                    srv_names[transport] = parts[5].rstrip(".")
    targets: list[Target] = []
    for transport, name in srv_names.items():
        answer = _ask(ctx, name, "SRV", resolvers, probe.vantage)
        where = f"{name} via {answer.resolver}" if answer else name
        if answer is None:  # through a jump host without site resolvers: not from here
            out.add(
                Status.SKIP,
                f"SRV {name} not asked from {probe.vantage}: the site names no resolver",
                check=DNS,
                target=name,
            )
            continue
        details = {"name": name, "resolver": answer.resolver, "records": answer.values}
        if naptr is not None and naptr.ok:
            details["naptr"] = naptr.values
        if not answer.ok:
            failed = answer.is_failure
            out.add(
                Status.FAIL if failed else Status.ERROR,
                f"{name} does not lead to the {transport.upper()} service: {answer.describe()}",
                check=DNS,
                target=where,
                expected=f"SRV records for SIP over {transport.upper()}",
                observed=answer.describe(),
                root_cause=f"vantage|{probe.vantage}"
                if answer.outcome == "vantage"
                else f"dns|{name.lower()}|{answer.outcome}",
                hint=f"publish {name} SRV records pointing at the {transport.upper()} service "
                "(phones find the service through them)"
                if failed
                else "check the resolver: it could not answer",
                details=details,
            )
            continue
        records = sorted((_srv(v) for v in answer.values), key=lambda r: (r[0], -r[1]))
        found = [Target(transport, host, port) for _, _, port, host in records if host]
        if not found:  # only "." targets: RFC 2782's "this service is not offered here"
            out.add(
                Status.FAIL,
                f"{name} says SIP over {transport.upper()} is not offered",
                check=DNS,
                target=where,
                expected=f"SRV records for SIP over {transport.upper()}",
                observed=", ".join(answer.values),
                root_cause=f"dns|{name.lower()}|not-offered",
                hint=f"point {name} at the {transport.upper()} service, or drop "
                f"{transport} from the endpoint's transports",
                details=details,
            )
            continue
        out.add(
            Status.PASS,
            f"{name} leads to " + ", ".join(_label(t) for t in found),
            check=DNS,
            target=where,
            expected=f"SRV records for SIP over {transport.upper()}",
            observed=", ".join(answer.values),
            details=details,
        )
        targets += found
    return targets


def _srv(value: str) -> tuple[int, int, int, str]:
    """``priority weight port target`` -> its parts ('' target: "service not here")."""
    try:
        priority, weight, port, host = value.split()
        return int(priority), int(weight), int(port), host.rstrip(".")
    except ValueError:
        return 65535, 0, 0, ""


def _addresses(
    out: _Out, ctx: RunContext, target: Target, resolvers: tuple[str, ...]
) -> list[str] | None:
    """The target's addresses as the site finds them (None: reported as an error)."""
    probe, host = out.probe, target.host
    if dns.is_ip(host) or resolvers == (VIA_VANTAGE,):
        return [host.strip("[]")]
    last: dns.Lookup | None = None
    for resolver in resolvers:
        last = ctx.dns.lookup(host, resolver, probe.vantage)
        if last.ok:
            return list(last.addresses)
        if last.is_failure:
            break
    assert last is not None
    cause = (
        f"vantage|{probe.vantage}"
        if last.outcome == "vantage"
        else f"dns|{host.lower()}|{last.outcome}"
    )
    out.add(
        Status.ERROR,
        f"could not test {_label(target)} from {probe.vantage}: {host} does not resolve via "
        f"{last.resolver}: {last.describe()}",
        check=OPTIONS,
        target=_label(target),
        observed=f"resolution: {last.describe()}",
        root_cause=cause,
        hint="see the dns.resolves result for this name; fix DNS first",
    )
    return None


# --------------------------------------------------------------------------- one target


def _probe_target(
    out: _Out,
    ctx: RunContext,
    vantage: Vantage,
    endpoint: TelephonyEndpoint,
    sip: Sip,
    target: Target,
) -> None:
    probe = out.probe
    label = _label(target)
    if target.transport == "udp" and not vantage.supports_udp:
        out.add(
            Status.SKIP,
            f"{label} not checked from {probe.vantage}: an SSH jump host forwards TCP only, "
            "so SIP over UDP cannot be sent from there",
            check=OPTIONS,
            target=label,
            details={"transport": "udp", "vantage_kind": vantage.kind},
        )
        return
    addresses = _addresses(out, ctx, target, probe.params.resolvers)
    if addresses is None:
        return
    if target.transport == "tls" and not _certificate(
        out, ctx, vantage, endpoint, sip, target, addresses[0]
    ):
        out.add(
            Status.SKIP,
            f"{label} not asked: no TLS session (see tls.handshake)",
            check=OPTIONS,
            target=label,
        )
        return
    uri = _request_uri(sip, target)
    attempts: list[dict[str, Any]] = []
    outcome: wire.Exchange | None = None
    for address in addresses:
        started = time.perf_counter()
        try:
            outcome = _options(vantage, target, address, uri, sip.timeout)
        except VantageError as exc:
            _unusable(out, label, str(exc))
            return
        except OSError as exc:
            code, detail = _connect_failure(exc, sip.timeout)
            attempts.append({"address": address, "outcome": code, "detail": detail})
            continue
        answer = outcome.outcomes[0]
        attempts.append(
            {
                "address": address,
                "outcome": "answered" if answer.response else answer.error,
                "detail": answer.detail,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )
        if answer.response is not None:
            break
    _judge(out, sip, target, uri, outcome, attempts)


def _unusable(out: _Out, label: str, why: str) -> None:
    """The vantage point could not be used: we could not find out (one cause for all)."""
    out.add(
        Status.ERROR,
        f"could not test {label}: {why}",
        check=OPTIONS,
        target=label,
        observed=why,
        root_cause=f"vantage|{out.probe.vantage}",
        hint="check the vantage point: its definition in the inventory, and the jump host "
        "(address, known_hosts, key, AllowTcpForwarding)",
    )


def _request_uri(sip: Sip, target: Target) -> str:
    if sip.domain:
        return f"sip:{sip.domain}"
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"sip:{host}:{target.port}"


def _options(
    vantage: Vantage, target: Target, address: str, uri: str, timeout: float
) -> wire.Exchange:
    """One OPTIONS transaction to ``address``."""
    if target.transport == "udp":
        sock = vantage.udp(address, target.port, timeout)
        with contextlib.closing(sock):
            host, port = sock.getsockname()[:2]
            request = wire.options(uri, transport="UDP", via_host=host, via_port=port)
            return wire.exchange(wire.Datagrams(sock), [request], timeout=timeout)
    stream: Stream = vantage.connect(address, target.port, timeout)
    if target.transport == "tls":
        from readiness.net.tls import TlsError, start_tls

        try:
            stream = start_tls(
                stream, server_name=target.host, context=unverified_context(), timeout=timeout
            )
        except TlsError as exc:
            raise _NoSession(str(exc)) from None
    with contextlib.closing(stream):
        host, port = (
            stream.getsockname()[:2] if isinstance(stream, socket.socket) else (NO_HOST, None)
        )
        request = wire.options(
            uri, transport=target.transport.upper(), via_host=host, via_port=port
        )
        return wire.exchange(wire.Frames(stream), [request], timeout=timeout)


class _NoSession(OSError):
    """No TLS session for the OPTIONS (the certificate findings say why)."""


@functools.cache
def unverified_context() -> ssl.SSLContext:
    """One unverified client context: the certificate is judged apart, by the one
    certificate module; the OPTIONS only asks whether the SIP service answers."""
    from readiness.net.tls import client_context

    return client_context(None, verify=False)


def _connect_failure(exc: OSError, timeout: float) -> tuple[str, str]:
    if isinstance(exc, _NoSession):
        return "no-session", str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused: nothing listens there"
    if isinstance(exc, TimeoutError):
        return "no-answer", f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "unresolved", exc.strerror or str(exc)
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable", exc.strerror or "no route to the host"
    return "error", exc.strerror or str(exc) or type(exc).__name__


Verdict = tuple[Status, str, str, str, str]  # status, summary, observed, hint, root-cause tail


def _judge(
    out: _Out,
    sip: Sip,
    target: Target,
    uri: str,
    outcome: wire.Exchange | None,
    attempts: list[dict[str, Any]],
) -> None:
    """One ``sip.options`` result from how the transaction(s) to ``target`` went."""
    details: dict[str, Any] = {"transport": target.transport, "uri": uri, "attempts": attempts}
    seen = outcome
    answer = seen.outcomes[0] if seen else None
    if seen is not None:
        details |= {"sent": answer.sent if answer else 0, "set_aside": seen.set_aside}
        details |= {"malformed": seen.malformed, "notes": seen.reasons}
    if answer is not None and answer.response is not None:
        verdict = _answered(sip, _label(target), out.probe.vantage, answer, details)
    else:
        verdict = _unanswered(target, out.probe.vantage, seen, attempts)
    status, summary, observed, hint, why = verdict
    out.add(
        status,
        summary,
        check=OPTIONS,
        target=_label(target),
        expected="a response " + " or ".join(str(c) for c in sip.expect),
        observed=observed,
        hint=hint,
        root_cause=f"sip|{_label(target)}|{why}",
        details=details,
    )


def _answered(
    sip: Sip, label: str, vantage: str, answer: wire.Outcome, details: dict[str, Any]
) -> Verdict:
    response = answer.response
    assert response is not None
    code, rtt = response.code, answer.rtt_ms or 0.0
    details |= {"code": code, "reason": response.reason, "rtt_ms": round(rtt, 1)}
    server = response.header("server") or response.header("user-agent")
    if server:
        details["server"] = server[:200]
    retry = response.header("retry-after")
    if retry:
        details["retry_after"] = retry[:100]
    seen = f"{code} {response.reason}".strip() + f" in {rtt:.0f} ms"
    if code in sip.expect:
        return Status.PASS, f"{label} answers OPTIONS from {vantage}: {seen}", seen, "", ""
    if code in sip.maintenance:
        return (
            Status.WARN,
            f"{label} answers OPTIONS from {vantage} with {seen}: planned maintenance",
            seen,
            "end the maintenance before go-live (the inventory lists this code as maintenance)",
            str(code),
        )
    summary = f"{label} answers OPTIONS from {vantage} with {seen}"
    return Status.FAIL, summary, seen, _code_hint(code, retry), str(code)


def _unanswered(
    target: Target,
    vantage: str,
    seen: wire.Exchange | None,
    attempts: list[dict[str, Any]],
) -> Verdict:
    label = _label(target)
    codes = [a["outcome"] for a in attempts]
    observed = "; ".join(f"{a['address']}: {a['outcome']} ({a['detail']})" for a in attempts)
    if seen is not None and (seen.malformed or seen.set_aside):
        what = "malformed SIP" if seen.malformed else "responses to another request"
        return (
            Status.FAIL,
            f"{label} answers OPTIONS from {vantage} with {what} only",
            "; ".join(seen.reasons) or observed,
            "the endpoint's SIP stack answers wrongly (phones and trunks will reject it): see "
            "its log and its version",
            "bad-response",
        )
    if "no-session" in codes:
        return (
            Status.SKIP,
            f"{label} not asked: no TLS session (see tls.handshake)",
            observed,
            "",
            "",
        )
    if codes and all(c in ("refused", "unreachable") for c in codes):
        if "refused" in codes:
            where = f"{target.transport.upper()} port {target.port} of {target.host}"
            return (
                Status.FAIL,
                f"{label} refuses from {vantage}: nothing listens there",
                observed,
                f"start the SIP service on {where}, or correct the inventory",
                "refused",
            )
        return (
            Status.FAIL,
            f"{label} cannot be reached from {vantage}: no route",
            observed,
            "add the route between the site and the endpoint's network",
            "unreachable",
        )
    if "closed" in codes:
        return (
            Status.FAIL,
            f"{label} closed the connection from {vantage} without answering OPTIONS",
            observed,
            "see the endpoint's log: it accepts connections but drops SIP requests",
            "closed",
        )
    return (
        Status.ERROR,
        f"{label} did not answer OPTIONS from {vantage}",
        observed or "no answer",
        f"check that the endpoint is up and that a firewall lets SIP from {vantage} through "
        "(an SBC may drop OPTIONS from sources it does not know)",
        "no-answer",
    )


def _code_hint(code: int, retry_after: str) -> str:
    if code == 503:
        later = f" (it says retry after {retry_after})" if retry_after else ""
        return f"the endpoint is unavailable or in maintenance{later}: bring it back into service"
    if code in (401, 407):
        return "the endpoint wants authentication for OPTIONS: allow OPTIONS from the probe"
    if code == 403:
        return "the endpoint refuses the probe: allow OPTIONS from where it is sent"
    if code == 404:
        return "the endpoint does not know the request URI: check the host or domain it serves"
    return "see the endpoint's log for why it answers this way"


# --------------------------------------------------------------------------- TLS


def _certificate(
    out: _Out,
    ctx: RunContext,
    vantage: Vantage,
    endpoint: TelephonyEndpoint,
    sip: Sip,
    target: Target,
    address: str,
) -> bool:
    """Judge the certificate through the core's one module; False when no TLS session
    could be had at all (the OPTIONS is then not sent)."""
    from readiness.net import certificates
    from readiness.net.trust import TrustError

    probe = out.probe
    where = f"{target.host}:{target.port}"
    name = sip.tls_name or sip.domain or target.host
    try:
        bundle = ctx.trust.bundle(
            [endpoint.organisation] if endpoint.organisation else [],
            override=sip.ca_bundle,
            where=("telephony_endpoints", probe.subject.partition(":")[2], "sip", "ca_bundle"),
        )
    except TrustError as exc:
        out.add(
            Status.ERROR,
            f"could not judge the certificate of {where}: {exc}",
            check=certificates.HANDSHAKE,
            target=where,
            observed=str(exc),
            root_cause=f"trust|{probe.subject}",
            hint="fix the CA bundle path in the inventory",
        )
        return False
    observation = certificates.observe(
        lambda: vantage.connect(address, target.port, sip.timeout),
        server_name=name,
        ca_file=str(bundle) if bundle else None,
        verify=sip.verify,
        timeout=sip.timeout,
    )
    for finding in certificates.judge(
        observation,
        host=name,
        go_live=ctx.go_live,
        now=ctx.now(),
        min_days=sip.min_days,
        warn_days=sip.warn_days,
        verify=sip.verify,
    ):
        out.add(
            finding.status,
            f"{where}: {finding.summary}",
            check=finding.check,
            target=where,
            expected=finding.expected,
            observed=finding.observed,
            hint=finding.hint or "see the observed certificate",
            root_cause=f"{finding.check}|{where}",
            details={**finding.details, "name": name, "address": address},
        )
    return observation.failure is None
