"""The ``network`` check family: can each site reach what its staff need?

Sections owned
    ``applications`` (id -> :class:`Application`) and ``network_resources``
    (id -> :class:`NetworkResource`); roles and staff refer to their ids.

What is checked (check ``network.tcp-connect``, target ``"<host>:<port>"``)
    A network resource's ``host:port``, and each application's URL host and port
    (``port`` overrides the URL's), accepts a TCP connection within its
    ``timeout``, from each vantage point of each site whose staff need it (the
    who-needs-what graph). An object nobody needs is still tried from ``local``.
    The name is resolved through the site's resolvers from that vantage point
    (shared with the ``dns`` family: one query per name, resolver and vantage);
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

Inventory fields read: ``applications.*``, ``network_resources.*``,
``sites.*.resolvers``, ``sites.*.vantage_points``, ``programme.resolvers``.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import socket
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field, field_validator

from readiness import naming
from readiness.family import CheckFamily, HostRef, PlanContext, Probe, Problem, RunContext
from readiness.inventory.models import Hostname, Id, Port, Strict
from readiness.results import Result, Status
from readiness_checks.dns import SYSTEM, cached_lookup, impact_text, staff_by_subject

if TYPE_CHECKING:
    from readiness.inventory import Inventory

CHECK = "network.tcp-connect"
VIA_VANTAGE = "vantage"  # resolver label: let the SSH jump host resolve the name itself
MAX_WORKERS = 32
DEFAULT_PORTS = {"https": 443, "http": 80}


class Application(Strict):
    name: str = Field("", description="Display name")
    url: str = Field(description="The application's URL (http:// or https://)")
    health: str | None = Field(None, description="Health-check path, e.g. /health")
    owner: str = Field("", description="Who fixes it")
    port: Port | None = Field(None, description="TCP port to test instead of the URL's")
    timeout: float | None = Field(None, gt=0, le=300, description="Connect timeout (seconds)")
    tags: list[str] = Field(default_factory=list)
    organisation: Id | None = Field(None, description="Organisation that runs it")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("url must be an http:// or https:// URL with a host name")
        parts.port  # noqa: B018 - raises ValueError for a bad port
        return value

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def tcp_port(self) -> int:
        parts = urllib.parse.urlsplit(self.url)
        return self.port or parts.port or DEFAULT_PORTS[parts.scheme]


class NetworkResource(Strict):
    name: str = Field("", description="Display name")
    host: Hostname = Field(description="Host name or address")
    port: Port
    owner: str = Field("", description="Who fixes it")
    timeout: float | None = Field(None, gt=0, le=300, description="Connect timeout (seconds)")
    tags: list[str] = Field(default_factory=list)
    organisation: Id | None = Field(None, description="Organisation that runs it")

    @property
    def tcp_port(self) -> int:
        return self.port


def _objects(inventory: Inventory) -> Iterator[tuple[str, str, Application | NetworkResource]]:
    for section in ("applications", "network_resources"):
        for obj_id, obj in sorted(inventory.section(section).items()):
            yield section, obj_id, obj


def _host(obj: Application | NetworkResource) -> str:
    return obj.host


class NetworkFamily(CheckFamily):
    name = "network"
    description = ("Network resources and applications accept TCP connections from each "
                   "site whose staff need them")
    sections: ClassVar[dict[str, type[BaseModel]]] = {
        "applications": Application,
        "network_resources": NetworkResource,
    }
    reads: ClassVar[Sequence[str]] = (
        "applications.*.url", "applications.*.port", "applications.*.timeout",
        "network_resources.*.host", "network_resources.*.port", "network_resources.*.timeout",
        "sites.*.resolvers", "sites.*.vantage_points", "programme.resolvers",
    )
    default_timeout = 5.0

    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        for section, obj_id, obj in _objects(inventory):
            org = obj.organisation
            if org is not None and org not in inventory.organisations:
                close = difflib.get_close_matches(org, list(inventory.organisations), n=1)
                yield Problem(inventory.where(section, obj_id, "organisation"),
                              f"organisation '{org}' does not exist",
                              f"did you mean '{close[0]}'?" if close
                              else "define it under 'organisations:'")

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        for section, obj_id, obj in _objects(inventory):
            yield HostRef(_host(obj), f"{section}:{obj_id}", obj.owner)

    def plan(self, ctx: PlanContext) -> Iterator[Probe]:
        inventory = ctx.inventory
        objects = list(_objects(inventory))
        subjects = {f"{section}:{obj_id}" for section, obj_id, _ in objects}
        needed = staff_by_subject(inventory, ctx.staff, subjects)
        programme = [naming.format_resolver(r) for r in inventory.programme.resolvers]
        for section, obj_id, obj in objects:
            subject = f"{section}:{obj_id}"
            # vantage -> (resolvers in order, Counter(site -> staff))
            routes: dict[str, tuple[list[str], Counter[str]]] = {}
            for site_id, count in sorted(needed[subject].items()):
                site = inventory.sites.get(site_id)
                if site is None:
                    continue
                for vantage in site.vantage_points or ["local"]:
                    if site.resolvers:
                        resolvers = [naming.format_resolver(r) for r in site.resolvers]
                    elif vantage == "local" or inventory.vantage_points.get(vantage) is None \
                            or inventory.vantage_points[vantage].kind == "local":
                        resolvers = programme or [SYSTEM]
                    else:
                        resolvers = [VIA_VANTAGE]
                    known, sites = routes.setdefault(vantage, ([], Counter()))
                    known.extend(r for r in resolvers if r not in known)
                    sites[site_id] += count
            if not routes:
                routes["local"] = (programme or [SYSTEM], Counter())
            host, port = _host(obj), obj.tcp_port
            for vantage, (resolvers, sites) in sorted(routes.items()):
                yield Probe(
                    family=self.name, check=CHECK, subject=subject, target=f"{host}:{port}",
                    vantage=vantage, server=f"{host}:{port}", batch=f"network@{vantage}",
                    sites=tuple(sorted(sites)),
                    timeout=obj.timeout or self.default_timeout,
                    summary=f"TCP connect to {host}:{port} from {vantage}",
                    params={"host": host, "port": port, "resolvers": resolvers,
                            "staff": sum(sites.values()), "sites": sorted(sites),
                            "owner": obj.owner, "name": obj.name or subject},
                )

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterator[Result]:
        if not probes:
            return
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(probes)),
                                thread_name_prefix="network") as pool:
            futures = [pool.submit(self._probe, probe, ctx) for probe in probes]
            for future in futures:
                yield future.result()

    # ------------------------------------------------------------------ one probe
    def _probe(self, probe: Probe, ctx: RunContext) -> Result:
        started = time.perf_counter()
        try:
            return self._check(probe, ctx, started)
        except Exception as exc:  # one broken probe must not take its batch down
            return probe.result(
                Status.ERROR, f"the TCP check of {probe.target} from {probe.vantage} failed "
                f"unexpectedly: {type(exc).__name__}: {exc}",
                impact=self._impact(probe), root_cause=f"crash|{self.name}",
                hint="a defect or an environment problem; report the message",
                duration_ms=(time.perf_counter() - started) * 1000)

    @staticmethod
    def _impact(probe: Probe) -> str:
        return impact_text(probe.subject, probe.params.get("staff", 0),
                           probe.params.get("sites", []))

    def _check(self, probe: Probe, ctx: RunContext, started: float) -> Result:
        host, port = probe.params["host"], probe.params["port"]
        resolvers: list[str] = probe.params["resolvers"]
        owner = probe.params.get("owner", "")
        common: dict[str, Any] = {"impact": self._impact(probe),
                                  "expected": "the connection is accepted"}
        details: dict[str, Any] = {"host": host, "port": port, "resolvers": resolvers,
                                   "staff": probe.params.get("staff", 0),
                                   "sites": probe.params.get("sites", [])}

        def done(status: Status, summary: str, **fields: Any) -> Result:
            return probe.result(status, summary, details=details,
                                duration_ms=(time.perf_counter() - started) * 1000,
                                **{**common, **fields})

        # 1. Addresses (as the site finds them).
        if naming.is_ip(host):
            addresses = [host.strip("[]")]
        elif resolvers == [VIA_VANTAGE]:
            addresses = [host]  # the jump host resolves it
        else:
            found: list[naming.Lookup] = []
            for resolver in resolvers:
                answer = cached_lookup(ctx, host, resolver, probe.vantage)
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
                    Status.ERROR, f"could not test {host}:{port} from {probe.vantage}: the name "
                    f"does not resolve via {last.resolver}: {last.describe()}",
                    observed=f"resolution: {last.describe()}", root_cause=cause,
                    hint="see the dns.resolves result for this name; fix DNS first")
            addresses = list(last.addresses)
        details["addresses"] = addresses

        # 2. The vantage point.
        try:
            vantage = ctx.vantage(probe.vantage)
        except Exception as exc:
            return done(Status.ERROR, f"could not test {host}:{port}: vantage point "
                        f"{probe.vantage} is unusable: {exc}", observed=str(exc),
                        root_cause=f"vantage|{probe.vantage}",
                        hint="check the vantage point definition in the inventory")

        # 3. Connect to each address until one accepts.
        from readiness.vantage import VantageError

        attempts: list[tuple[str, str, str]] = []  # (address, outcome, detail)
        with ctx.limit(probe.server):
            for address in addresses:
                try:
                    sock = vantage.connect(address, port, probe.timeout)
                except VantageError as exc:
                    return done(Status.ERROR, f"could not test {host}:{port}: {exc}",
                                observed=str(exc), root_cause=f"vantage|{probe.vantage}",
                                hint="check the jump host: address, known_hosts, key, "
                                     "AllowTcpForwarding")
                except ConnectionRefusedError as exc:
                    attempts.append((address, "refused", str(exc) or "connection refused"))
                    continue
                except TimeoutError:
                    attempts.append((address, "no-answer",
                                     f"no answer within {probe.timeout:g}s"))
                    continue
                except socket.gaierror as exc:  # the jump host could not resolve the name
                    attempts.append((address, "unresolved", exc.strerror or str(exc)))
                    continue
                except OSError as exc:
                    kind = "unreachable" if exc.errno in (
                        errno.EHOSTUNREACH, errno.ENETUNREACH) else "error"
                    attempts.append((address, kind, exc.strerror or str(exc)))
                    continue
                with contextlib.suppress(Exception):
                    sock.close()
                attempts.append((address, "accepted", ""))
                break
        details["attempts"] = [{"address": a, "outcome": o, "detail": d} for a, o, d in attempts]
        observed = "; ".join(f"{a}: {o}" + (f" ({d})" if d and o != "no-answer" else "")
                             for a, o, d in attempts)
        outcomes = {o for _, o, _ in attempts}
        if "accepted" in outcomes:
            return done(Status.PASS, f"{host}:{port} accepts connections from {probe.vantage}",
                        observed=observed)
        where = f"from {probe.vantage}"
        if "refused" in outcomes:
            return done(Status.FAIL, f"{host}:{port} refuses connections {where} (port closed)",
                        observed=observed, root_cause=f"tcp|{host.lower()}:{port}|refused",
                        owner=owner,
                        hint=f"start the service on port {port} of {host}, or fix a firewall "
                             "rule that rejects it")
        if "no-answer" in outcomes:
            return done(Status.FAIL, f"{host}:{port} does not answer {where} "
                        f"within {probe.timeout:g}s",
                        observed=observed, root_cause=f"tcp|{host.lower()}:{port}|no-answer",
                        owner=owner,
                        hint=f"a firewall probably drops traffic from {where[5:]} to {host}:{port};"
                             " open the flow (and check the return path: one-way blocks are "
                             "common), or check that the host is up")
        if "unresolved" in outcomes:
            return done(Status.ERROR, f"{where[5:]} cannot resolve {host}, so {host}:{port} "
                        "could not be tested", observed=observed,
                        root_cause=f"dns|{host.lower()}|via-{probe.vantage}",
                        hint=f"check that {host} resolves at {where[5:]} (its resolvers, "
                             "conditional forwarders for the other organisation's domain)")
        if "unreachable" in outcomes:
            return done(Status.FAIL, f"{host}:{port} is unreachable {where} (no route)",
                        observed=observed, root_cause=f"tcp|{host.lower()}:{port}|unreachable",
                        owner=owner,
                        hint="add the route between the site and the resource's network")
        return done(Status.ERROR, f"could not test {host}:{port} {where}: {observed}",
                    observed=observed, root_cause=f"tcp|{host.lower()}:{port}|error",
                    hint="see the observed error")


family = NetworkFamily()
