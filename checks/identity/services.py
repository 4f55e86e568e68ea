"""The directory services themselves, for the identity team (subject
``directories:<id>``, probed from where ``checked_from`` says):

* ``identity.srv``: the SRV records clients find the directory by resolve
  (``_ldap._tcp``, ``_ldaps._tcp``, ``_kerberos._tcp`` of its DNS domain; by default
  LDAP and Kerberos on AD), through the resolvers of the sites it speaks for;
* ``tls.*``: LDAPS and StartTLS are offered and their certificates are valid at
  go-live, judged by the core's one certificate module (readiness.net.certificates);
* ``identity.kdc``: each KDC the Kerberos SRV record names accepts a connection on its
  port (88): a TCP connect, which is what a client's first step needs.

A fault here counts for everyone whose account the directory holds. What concerns the
sweep's own access (the service account binds, the lockout policy is readable) is
reported from the snapshot (:func:`access_results`) under the subject
``family:identity``: it says nothing about anyone's Day 1, and shares its root cause
with the results it leaves unknown.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from readiness.family import VIA_VANTAGE, Probe, RunContext
from readiness.net.streams import Stream
from readiness.results import Origin, Result, Status

from .check_ids import KDC, LOCKOUT_POLICY, SERVICE_BIND, SRV
from .client import DirectoryError, Endpoint
from .config import Directory
from .snapshot import Snapshot, _Reader

SRV_PREFIX = {"ldap": "_ldap._tcp", "ldaps": "_ldaps._tcp", "kerberos": "_kerberos._tcp"}
IMPACT = "staff whose account this directory holds depend on it to log in on Day 1"

# RFC 4511 ExtendedRequest for StartTLS (RFC 4513 3.1.1), message id 1.
STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
STARTTLS_REQUEST = bytes([0x30, 0x1D, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16]) + STARTTLS_OID


# --------------------------------------------------------------------------- StartTLS


def _read_tlv(stream: Stream) -> bytes:
    """One BER element (tag, length, value) read from ``stream``."""
    buffer = b""

    def need(n: int) -> None:
        nonlocal buffer
        while len(buffer) < n:
            chunk = stream.recv(4096)
            if not chunk:
                raise OSError("the server closed the connection")
            buffer += chunk

    need(2)
    length, offset = buffer[1], 2
    if length & 0x80:
        count = length & 0x7F
        need(2 + count)
        length, offset = int.from_bytes(buffer[2 : 2 + count], "big"), 2 + count
    need(offset + length)
    return buffer[offset : offset + length]


def _elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    i = 0
    while i + 1 < len(data):
        tag, length, i = data[i], data[i + 1], i + 2
        if length & 0x80:
            count = length & 0x7F
            length, i = int.from_bytes(data[i : i + count], "big"), i + count
        yield tag, data[i : i + length]
        i += length


def starttls_preamble(stream: Stream) -> None:
    """Ask for StartTLS; PreambleError with the server's answer when it refuses."""
    from readiness.net.certificates import PreambleError

    stream.sendall(STARTTLS_REQUEST)
    parts = list(_elements(_read_tlv(stream)))  # messageID, protocolOp
    response = next((value for tag, value in parts if tag == 0x78), None)
    if response is None:
        raise PreambleError("the server's answer is not an LDAP extended response")
    fields = list(_elements(response))  # resultCode, matchedDN, diagnosticMessage
    code = int.from_bytes(fields[0][1], "big") if fields else -1
    if code != 0:
        message = fields[2][1].decode("utf-8", "replace") if len(fields) > 2 else ""
        raise PreambleError(f"StartTLS refused: LDAP result {code} {message}".strip())


# --------------------------------------------------------------------------- the probe


class DirectoryServices:
    """The service checks of one directory from one vantage point."""

    def __init__(self, dir_id: str, directory: Directory, ctx: RunContext) -> None:
        self.dir_id = dir_id
        self.d = directory
        self.ctx = ctx
        self.endpoint = Endpoint.parse(directory.url)

    def run(self, probe: Probe[Any], resolvers: list[str]) -> list[Result]:
        out: list[Result] = []
        kdcs: list[tuple[str, int]] | None = None
        for kind in self.d.srv_wanted:
            result, targets = self._srv(probe, kind, resolvers)
            out.append(result)
            if kind == "kerberos":
                kdcs = targets
        for service in self.d.tls_services:
            out += self._tls(probe, service, resolvers)
        if kdcs is not None:
            out += [self._kdc(probe, host, port, resolvers) for host, port in kdcs]
        return out

    def _result(
        self, probe: Probe[Any], check: str, status: Status, summary: str, **f: Any
    ) -> Result:
        if status.bad or status is Status.WARN:
            f.setdefault("impact", IMPACT)
            f.setdefault("owner", self.d.owner)
        return probe.result(status, summary, check=check, **f)

    def _srv(
        self, probe: Probe[Any], kind: str, resolvers: list[str]
    ) -> tuple[Result, list[tuple[str, int]]]:
        name = f"{SRV_PREFIX[kind]}.{self.d.srv_domain}"
        asked = [r for r in resolvers if r not in (VIA_VANTAGE, "system")]
        if not asked:
            return self._result(
                probe,
                SRV,
                Status.ERROR,
                f"SRV {name} not checked: no DNS resolver to ask from {probe.vantage}",
                target=name,
                hint="set programme.resolvers (or the site's resolvers) so SRV records can be "
                "asked for",
                root_cause=f"{SRV}|{self.dir_id}|no-resolver",
                origin=Origin.CONFIG,
            ), []
        for resolver in asked:
            answer = self.ctx.dns.query(name, "SRV", resolver, probe.vantage, self.d.timeout)
            if answer.ok or answer.is_failure:
                break
        target = f"{name} via {answer.resolver}"
        if not answer.ok:
            return self._result(
                probe,
                SRV,
                Status.FAIL if answer.is_failure else Status.ERROR,
                f"SRV {name} does not resolve via {answer.resolver}: {answer.describe()}",
                target=target,
                expected=f"SRV records for {kind} in {self.d.srv_domain}",
                observed=answer.describe(),
                hint=f"publish {name} (priority weight port target) for the directory's servers"
                if answer.is_failure
                else "check the resolver from this vantage point; see the dns.resolves results",
                root_cause=f"{SRV}|{self.dir_id}|{kind}|{answer.outcome}",
            ), []
        targets = []
        for value in answer.values:
            parts = value.split()
            if len(parts) == 4 and parts[2].isdigit() and parts[3] != ".":
                targets.append((parts[3].rstrip("."), int(parts[2])))
        return self._result(
            probe,
            SRV,
            Status.PASS,
            f"SRV {name} names " + ", ".join(f"{h}:{p}" for h, p in targets),
            target=target,
            expected=f"SRV records for {kind} in {self.d.srv_domain}",
            observed=", ".join(answer.values),
            details={"targets": [f"{h}:{p}" for h, p in targets]},
        ), targets

    def _connector(
        self, vantage: str, host: str, port: int, resolvers: list[str]
    ) -> Callable[[], Stream]:
        """Opens a stream to host:port from the vantage point, the name found as the
        sites it speaks for find it (an SSH jump host resolves it itself)."""

        def connect() -> Stream:
            from readiness.net import dns

            address = host
            if not dns.is_ip(host) and VIA_VANTAGE not in resolvers:
                lookup = None
                for resolver in resolvers:
                    lookup = self.ctx.dns.lookup(host, resolver, vantage, self.d.timeout)
                    if lookup.ok or lookup.is_failure:
                        break
                if lookup is None or not lookup.ok:
                    detail = lookup.describe() if lookup else "no resolver"
                    raise socket.gaierror(socket.EAI_NONAME, f"{host}: {detail}")
                address = lookup.addresses[0]
            return self.ctx.vantage(vantage).connect(address, port, self.d.timeout)

        return connect

    def _tls(self, probe: Probe[Any], service: str, resolvers: list[str]) -> list[Result]:
        from readiness.net.certificates import judge, observe

        e = self.endpoint
        if service == "ldaps":
            port = e.port if e.scheme == "ldaps" else 636
            target = f"ldaps://{e.host}:{port}"
        else:
            port = e.port if e.scheme == "ldap" else 389
            target = f"ldap://{e.host}:{port} (StartTLS)"
        try:
            ca_file = _Reader(self.dir_id, self.d, self.ctx).ca_file()
        except DirectoryError as exc:
            return [
                self._result(
                    probe,
                    "tls.handshake",
                    Status.ERROR,
                    f"{target} not checked: {exc.message}",
                    target=target,
                    hint=exc.hint,
                    root_cause=f"identity.directory|{self.dir_id}|{exc.code}",
                    origin=origin_of(exc.code),
                )
            ]
        from readiness.net import dns

        seen = observe(
            self._connector(probe.vantage, e.host, port, resolvers),
            server_name=None if dns.is_ip(e.host) else e.host,
            ca_file=ca_file,
            verify=self.d.tls_verify,
            timeout=self.d.timeout,
            preamble=starttls_preamble if service == "starttls" else None,
        )
        findings = judge(
            seen,
            host=e.host,
            go_live=self.ctx.go_live,
            now=self.ctx.now(),
            min_days=self.d.certificate_min_days,
            warn_days=self.d.certificate_warn_days,
            verify=self.d.tls_verify,
        )
        return [
            self._result(
                probe,
                f.check,
                f.status,
                f"{service}: {f.summary}",
                target=target,
                expected=f.expected,
                observed=f.observed,
                hint=f.hint,
                details=f.details,
                root_cause=self._tls_cause(f.check, service, f.details),
            )
            for f in findings
        ]

    def _tls_cause(self, check: str, service: str, details: dict[str, Any]) -> str:
        """A TLS service that cannot even be connected to shares the root cause of the
        directory that cannot be read: one server down is one problem, not three."""
        if details.get("stage") == "connect" and details.get("code") in CONNECT_CODES:
            return f"identity.directory|{self.dir_id}|unreachable"
        return f"{check}|{self.dir_id}|{service}"

    def _kdc(self, probe: Probe[Any], host: str, port: int, resolvers: list[str]) -> Result:
        target = f"{host}:{port}"
        started = time.perf_counter()
        try:
            stream = self._connector(probe.vantage, host, port, resolvers)()
        except ConnectionRefusedError:
            status, observed, code = Status.FAIL, "connection refused", "refused"
        except TimeoutError:
            status, observed, code = Status.FAIL, "no answer", "no-answer"
        except OSError as exc:  # name, route or vantage point: we could not find out
            status, observed, code = Status.ERROR, str(exc) or type(exc).__name__, "unreachable"
        else:
            with contextlib.suppress(OSError):
                stream.close()
            return self._result(
                probe,
                KDC,
                Status.PASS,
                f"the KDC {target} accepts connections from {probe.vantage}",
                target=target,
                expected="a TCP connection to the KDC",
                observed="connected",
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        return self._result(
            probe,
            KDC,
            status,
            f"the KDC {target} named by the Kerberos SRV record: {observed} from {probe.vantage}",
            target=target,
            expected="a TCP connection to the KDC",
            observed=observed,
            hint="start the KDC on that host, or open the flow to it (Kerberos logons and "
            "domain-joined devices need it)",
            root_cause=f"{KDC}|{target}|{code}",
        )


# --------------------------------------------------------------------------- the sweep's access

# DirectoryError codes that are the sweep's own configuration (its secret, CA bundle,
# service account, directory settings), not the directory's state: fixed by whoever
# runs the sweep, they come first in every report.
SWEEP_CONFIG_CODES = frozenset({"secret", "ca-bundle", "service-bind", "config", "access"})


# Connect failures (certificate module codes) that mean the directory's host is not there.
CONNECT_CODES = frozenset({"refused", "timeout", "unreachable"})


def origin_of(code: str) -> Origin:
    """Whose problem a directory that could not be read is: the sweep's configuration,
    or a server it could not ask."""
    return Origin.CONFIG if code in SWEEP_CONFIG_CODES else Origin.ACCESS


def access_results(
    probe: Probe[Any], dir_id: str, directory: Directory, snap: Snapshot | BaseException
) -> list[Result]:
    """Whether the service account binds and the lockout policy is readable, from the
    snapshot (``probe``: subject ``family:identity``, target the directory)."""
    return [_service_bind(probe, dir_id, directory, snap), _lockout(probe, dir_id, directory, snap)]


def _service_bind(
    probe: Probe[Any], dir_id: str, directory: Directory, snap: Snapshot | BaseException
) -> Result:
    if isinstance(snap, Snapshot):
        return probe.result(
            Status.PASS,
            f"the service account {directory.bind_dn} binds to {directory.url} and reads "
            f"{len(snap.people)} people",
            check=SERVICE_BIND,
            expected="the read-only service account binds and reads",
            observed=f"{len(snap.people)} people, {snap.operations} LDAP operations",
        )
    code, message, hint = (
        (snap.code, snap.message, snap.hint)
        if isinstance(snap, DirectoryError)
        else ("crash", f"{type(snap).__name__}: {snap}", "a defect; report the message")
    )
    return probe.result(
        Status.FAIL if code == "service-bind" else Status.ERROR,
        f"the sweep cannot read directory {dir_id}: {message}",
        check=SERVICE_BIND,
        expected="the read-only service account binds and reads",
        observed=message,
        impact=f"the sweep cannot judge anyone's account in {dir_id}",
        hint=hint or "check the directory's settings in the inventory",
        owner=directory.owner,
        root_cause=f"identity.directory|{dir_id}|{code}",
        origin=origin_of(code),
    )


def _lockout(
    probe: Probe[Any], dir_id: str, directory: Directory, snap: Snapshot | BaseException
) -> Result:
    if not isinstance(snap, Snapshot):
        return probe.result(
            Status.SKIP,
            f"the lockout policy of {dir_id} was not read (see identity.service-bind)",
            check=LOCKOUT_POLICY,
        )
    declared = directory.lockout_policy == "none"
    policy = snap.lockout_policy()
    if policy and policy.lockout and declared:
        return probe.result(
            Status.WARN,
            f"{dir_id} declares no lockout policy, but the directory enforces one: "
            f"{policy.describe}; the policy read is followed",
            check=LOCKOUT_POLICY,
            expected="the declaration matches the directory",
            observed=policy.describe,
            impact="none for the sweep (the stricter policy read is followed)",
            hint="remove lockout_policy: none from the directory in the inventory",
            owner=directory.owner,
            root_cause=f"{LOCKOUT_POLICY}|{dir_id}|declaration",
        )
    if policy is None and not declared:
        return probe.result(
            Status.ERROR,
            f"the default lockout policy of {dir_id} cannot be read: pilot logins are refused",
            check=LOCKOUT_POLICY,
            expected="a readable lockout policy (or the declaration lockout_policy: none)",
            observed=snap.policy_note,
            impact="pilot logins to this directory are not attempted",
            hint="grant the service account read access to the policy, or declare "
            "lockout_policy: none if the server has none",
            owner=directory.owner,
            root_cause=f"{LOCKOUT_POLICY}|{dir_id}|unreadable",
        )
    summary = (
        f"{dir_id} has no lockout policy, as the inventory declares (lockout_policy: none)"
        if policy is None
        else f"the lockout policy of {dir_id} is readable: {policy.describe}"
    )
    return probe.result(
        Status.PASS,
        summary,
        check=LOCKOUT_POLICY,
        expected="a readable lockout policy",
        observed=policy.describe if policy else "none (declared)",
        details={"declared_none": declared},
    )
