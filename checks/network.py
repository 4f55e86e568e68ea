"""The ``network`` check family: can each site reach what its staff need?

Reads the core's service objects ``applications`` and ``network_resources``, and
attaches a ``tcp`` block to them (``port``: test another port than the URL's or the
resource's; ``timeout``).

What is checked (check ``network.tcp-connect``, target ``"<host>:<port>"``)
    A network resource's ``host:port``, and each application's URL host and port,
    accepts a TCP connection within its timeout, from each vantage point of each
    site whose staff need it (the
    who-needs-what graph). An object nobody needs is still tried from ``local``.
    The name is resolved through the site's resolvers from that vantage point
    (the core's DNS service: one query per name, resolver and vantage);
    a site without resolvers uses ``programme.resolvers`` from ``local`` and lets an
    SSH jump host resolve the name itself.

Statuses
    ``pass``   the connection was accepted;
    ``fail``   refused (the port is closed: RST), no answer within the timeout on a
               resolved address (a firewall DROP is a real Day-1 blocker, so it is a
               failure, observed "no answer"), or no route (ICMP unreachable);
    ``error``  the name could not be resolved (root cause shared with the ``dns``
               family's result), the resolver could not be asked, or the vantage
               point is unusable: we could not find out.
Root causes: ``tcp|<host>:<port>|<refused|no-answer|unreachable>``, ``dns|...``,
``dns-resolver|...``, ``vantage|<name>``.

Inventory fields read: ``applications.*.url``, ``network_resources.*.host/port``, the
``tcp`` blocks, ``sites.*.resolvers``, ``sites.*.vantage_points``, ``programme.resolvers``.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from readiness.family import (
    VIA_VANTAGE,
    CheckFamily,
    CheckSpec,
    PlanContext,
    Probe,
    RunContext,
    subject_impact,
)
from readiness.inventory.extension import block
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Port, ServiceObject, Strict
from readiness.inventory.needs import NeedKind
from readiness.net import dns
from readiness.net.vantage import VantageError
from readiness.results import Result, Status

CHECK = "network.tcp-connect"
MAX_WORKERS = 32


class Tcp(Strict):
    """The network family's block on an application or a network resource."""

    port: Port | None = Field(
        None, description="TCP port to test instead of the URL's / resource's"
    )
    timeout: float | None = Field(None, gt=0, le=300, description="Connect timeout (seconds)")


@dataclass(frozen=True)
class Connect:
    host: str
    port: int
    resolvers: tuple[str, ...]  # in order; (VIA_VANTAGE,) = the jump host resolves
    owner: str = ""
    asking: tuple[str, ...] = ()  # the sites whose staff need it from this vantage point


def _objects(inventory: Inventory) -> Iterator[tuple[str, str, ServiceObject, str, int]]:
    """(section, id, object, host, port) of everything to connect to."""
    for app_id, app in sorted(inventory.applications.items()):
        tcp = block(app, "tcp", Tcp)
        yield "applications", app_id, app, app.host, (tcp.port if tcp and tcp.port else app.port)
    for res_id, res in sorted(inventory.network_resources.items()):
        tcp = block(res, "tcp", Tcp)
        yield (
            "network_resources",
            res_id,
            res,
            res.host,
            (tcp.port if tcp and tcp.port else res.port),
        )


class NetworkFamily(CheckFamily[Connect]):
    name = "network"
    description = (
        "Network resources and applications accept TCP connections from each "
        "site whose staff need them"
    )
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {
        ("applications", "tcp"): Tcp,
        ("network_resources", "tcp"): Tcp,
    }
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(CHECK, "the host:port accepts a connection from each site that needs it"),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset(
        {NeedKind.APPLICATION, NeedKind.NETWORK_RESOURCE}
    )
    reads: ClassVar[Sequence[str]] = (
        "applications.*.url",
        "applications.*.tcp",
        "network_resources.*.host",
        "network_resources.*.port",
        "network_resources.*.tcp",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "programme.resolvers",
    )
    default_timeout = 5.0

    def plan(self, ctx: PlanContext) -> Iterator[Probe[Connect]]:
        inventory = ctx.inventory
        for section, obj_id, obj, host, port in _objects(inventory):
            subject = f"{section}:{obj_id}"
            tcp = block(obj, "tcp", Tcp)
            # vantage -> (resolvers in order, the sites it speaks for)
            routes = {
                vantage: (ctx.route_resolvers(vantage, sites), sites)
                for vantage, sites in ctx.routes(section, obj_id).items()
            }
            for vantage, (resolvers, speaks_for) in sorted(routes.items()):
                yield Probe(
                    self.name,
                    CHECK,
                    subject,
                    f"{host}:{port}",
                    Connect(host, port, tuple(resolvers), obj.owner, speaks_for),
                    vantage=vantage,
                    server=f"{host}:{port}",
                    batch=f"network@{vantage}",
                    sites=speaks_for,
                    timeout=(tcp.timeout if tcp and tcp.timeout else self.default_timeout),
                    summary=f"TCP connect to {host}:{port} from {vantage}",
                )

    def run(self, probes: Sequence[Probe[Connect]], ctx: RunContext) -> Iterator[Result]:
        if not probes:
            return
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(probes)), thread_name_prefix="network"
        ) as pool:
            futures = [pool.submit(self._probe, probe, ctx) for probe in probes]
            for future in futures:
                yield future.result()

    # ------------------------------------------------------------------ one probe
    def _probe(self, probe: Probe[Connect], ctx: RunContext) -> Result:
        started = time.perf_counter()
        try:
            return self._check(probe, ctx, started)
        except Exception as exc:  # one broken probe must not take its batch down
            return probe.result(
                Status.ERROR,
                f"the TCP check of {probe.target} from {probe.vantage} failed "
                f"unexpectedly: {type(exc).__name__}: {exc}",
                impact=self._impact(probe),
                root_cause=f"crash|{self.name}",
                hint="a defect or an environment problem; report the message",
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    @staticmethod
    def _impact(probe: Probe[Connect]) -> str:
        return subject_impact(probe.subject, probe.params.asking)

    def _check(self, probe: Probe[Connect], ctx: RunContext, started: float) -> Result:
        params = probe.params
        host, port, owner = params.host, params.port, params.owner
        resolvers = list(params.resolvers)
        common: dict[str, Any] = {
            "impact": self._impact(probe),
            "expected": "the connection is accepted",
        }
        details: dict[str, Any] = {
            "host": host,
            "port": port,
            "resolvers": resolvers,
            "sites": list(params.asking),
        }

        def done(status: Status, summary: str, **fields: Any) -> Result:
            return probe.result(
                status,
                summary,
                details=details,
                duration_ms=(time.perf_counter() - started) * 1000,
                **{**common, **fields},
            )

        # 1. Addresses (as the site finds them).
        if dns.is_ip(host):
            addresses = [host.strip("[]")]
        elif resolvers == [VIA_VANTAGE]:
            addresses = [host]  # the jump host resolves it
        else:
            found: list[dns.Lookup] = []
            for resolver in resolvers:
                answer = ctx.dns.lookup(host, resolver, probe.vantage)
                found.append(answer)
                if answer.ok or answer.is_failure:
                    break
            last = found[-1]
            if not last.ok:
                details["resolution"] = last.outcome
                if last.is_failure or last.outcome in ("servfail", "refused"):
                    cause = f"dns|{host.lower()}|{last.outcome}"
                elif last.outcome == "vantage":
                    cause = f"vantage|{probe.vantage}"
                else:
                    cause = f"dns-resolver|{last.resolver}|{last.outcome}|{probe.vantage}"
                return done(
                    Status.ERROR,
                    f"could not test {host}:{port} from {probe.vantage}: the name "
                    f"does not resolve via {last.resolver}: {last.describe()}",
                    observed=f"resolution: {last.describe()}",
                    root_cause=cause,
                    hint="see the dns.resolves result for this name; fix DNS first",
                )
            addresses = list(last.addresses)
        details["addresses"] = addresses

        # 2. The vantage point.
        try:
            vantage = ctx.vantage(probe.vantage)
        except Exception as exc:
            return done(
                Status.ERROR,
                f"could not test {host}:{port}: vantage point {probe.vantage} is unusable: {exc}",
                observed=str(exc),
                root_cause=f"vantage|{probe.vantage}",
                hint="check the vantage point definition in the inventory",
            )

        # 3. Connect to each address until one accepts.
        attempts: list[tuple[str, str, str]] = []  # (address, outcome, detail)
        with ctx.limit(probe.server):
            for address in addresses:
                try:
                    sock = vantage.connect(address, port, probe.timeout)
                except VantageError as exc:
                    return done(
                        Status.ERROR,
                        f"could not test {host}:{port}: {exc}",
                        observed=str(exc),
                        root_cause=f"vantage|{probe.vantage}",
                        hint="check the jump host: address, known_hosts, key, AllowTcpForwarding",
                    )
                except ConnectionRefusedError as exc:
                    attempts.append((address, "refused", str(exc) or "connection refused"))
                    continue
                except TimeoutError:
                    attempts.append((address, "no-answer", f"no answer within {probe.timeout:g}s"))
                    continue
                except socket.gaierror as exc:  # the jump host could not resolve the name
                    attempts.append((address, "unresolved", exc.strerror or str(exc)))
                    continue
                except OSError as exc:
                    kind = (
                        "unreachable"
                        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH)
                        else "error"
                    )
                    attempts.append((address, kind, exc.strerror or str(exc)))
                    continue
                with contextlib.suppress(Exception):
                    sock.close()
                attempts.append((address, "accepted", ""))
                break
        details["attempts"] = [{"address": a, "outcome": o, "detail": d} for a, o, d in attempts]
        observed = "; ".join(
            f"{a}: {o}" + (f" ({d})" if d and o != "no-answer" else "") for a, o, d in attempts
        )
        outcomes = {o for _, o, _ in attempts}
        if "accepted" in outcomes:
            return done(
                Status.PASS,
                f"{host}:{port} accepts connections from {probe.vantage}",
                observed=observed,
            )
        where = f"from {probe.vantage}"
        if "refused" in outcomes:
            return done(
                Status.FAIL,
                f"{host}:{port} refuses connections {where} (port closed)",
                observed=observed,
                root_cause=f"tcp|{host.lower()}:{port}|refused",
                owner=owner,
                hint=f"start the service on port {port} of {host}, or fix a firewall "
                "rule that rejects it",
            )
        if "no-answer" in outcomes:
            return done(
                Status.FAIL,
                f"{host}:{port} does not answer {where} within {probe.timeout:g}s",
                observed=observed,
                root_cause=f"tcp|{host.lower()}:{port}|no-answer",
                owner=owner,
                hint=f"a firewall probably drops traffic from {where[5:]} to {host}:{port};"
                " open the flow (and check the return path: one-way blocks are "
                "common), or check that the host is up",
            )
        if "unresolved" in outcomes:
            return done(
                Status.ERROR,
                f"{where[5:]} cannot resolve {host}, so {host}:{port} could not be tested",
                observed=observed,
                root_cause=f"dns|{host.lower()}|via-{probe.vantage}",
                hint=f"check that {host} resolves at {where[5:]} (its resolvers, "
                "conditional forwarders for the other organisation's domain)",
            )
        if "unreachable" in outcomes:
            return done(
                Status.FAIL,
                f"{host}:{port} is unreachable {where} (no route)",
                observed=observed,
                root_cause=f"tcp|{host.lower()}:{port}|unreachable",
                owner=owner,
                hint="add the route between the site and the resource's network",
            )
        return done(
            Status.ERROR,
            f"could not test {host}:{port} {where}: {observed}",
            observed=observed,
            root_cause=f"tcp|{host.lower()}:{port}|error",
            hint="see the observed error",
        )


family = NetworkFamily()
