"""The ``network`` check family: can each site reach what its staff need, and only that?

Reads the core's service objects ``network_resources`` and ``applications``, the
vantage points, and a ``tcp`` block on each object::

    network_resources:
      south-records:
        host: records.south-hq.southmere.test
        port: 5432
        tcp:
          site: south-hq                 # where it sits (one-way findings)
          not_reachable_from: [internet, north-hq]   # exposure: must NOT connect
          reachable_from: [audit-jump]   # also from there (beyond the needing sites)
    applications:
      thick-client: {url: https://app.test/, tcp: {port: 1494}}   # a port besides the URL's

What is checked
    ``network.tcp-connect`` (target ``host:port``): a network resource accepts a TCP
    connection from each vantage point of each site whose staff need it (the
    who-needs-what graph; nobody: from ``local``), and from each ``reachable_from``.
    An application is connected to here only when its ``tcp`` block names a ``port``
    (one its clients use besides the URL's): its URL is reached by the
    ``applications`` family, whose connection is the same test (done once, not twice).
    A failure one way between two sites whose other way works (A reaches B's
    resources, B does not reach A's) says so (``details.one_way``).
    ``network.exposure`` (target ``host:port``): from each ``not_reachable_from`` (a
    vantage point, or a site: its vantage points), the connection must NOT be
    accepted: accepted is ``fail`` (an exposure), refused / no answer / unreachable is
    ``pass``. The name is resolved as that vantage point does
    (:meth:`PlanContext.vantage_resolvers`: an outside one with its own resolvers).
    ``network.vantage-login`` (subject ``vantage_points:<id>``): each SSH vantage
    point accepts our login with the host key of ``known_hosts``; its root cause
    ``vantage|<id>`` is the one every probe through it shares when it is unusable.

Statuses (:mod:`readiness.net.reach` classifies, the same for every family)
    ``pass`` accepted; ``fail`` refused, no answer (a firewall DROP is a real Day-1
    blocker), no route; ``error`` the name does not resolve (root cause shared with
    the ``dns`` result), the resolver or the vantage point is unusable.

Inventory fields read: ``network_resources.*.host/port``, ``applications.*.url``, the
``tcp`` blocks, ``sites.*.resolvers``, ``sites.*.vantage_points``, ``vantage_points``,
``programme.resolvers``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from readiness.family import (
    CheckFamily,
    CheckSpec,
    PlanContext,
    Probe,
    RunContext,
    subject_impact,
)
from readiness.inventory.extension import block
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Id, Port, ServiceObject, Strict
from readiness.inventory.needs import NeedKind
from readiness.net.reach import reach
from readiness.problems import Problem
from readiness.results import Result, Status

CHECK = "network.tcp-connect"
EXPOSURE = "network.exposure"
LOGIN = "network.vantage-login"
MAX_WORKERS = 32
LOGIN_TIMEOUT = 15.0


class Tcp(Strict):
    """The network family's block on a network resource or an application."""

    port: Port | None = Field(
        None,
        description="TCP port to test instead of the resource's; on an application, a port "
        "its clients use besides the URL's (the URL itself is the applications family's)",
    )
    timeout: float | None = Field(None, gt=0, le=300, description="Connect timeout (seconds)")
    site: Id | None = Field(None, description="The site whose network it sits in")
    reachable_from: list[Id] = Field(
        default_factory=list,
        description="Vantage points or sites it must also be reachable from",
    )
    not_reachable_from: list[Id] = Field(
        default_factory=list,
        description="Vantage points or sites it must NOT be reachable from (an exposure "
        "is a failure): e.g. an outside vantage point, the other organisation's sites",
    )


@dataclass(frozen=True)
class Connect:
    host: str
    port: int
    resolvers: tuple[str, ...]  # in order; (VIA_VANTAGE,) = the jump host resolves
    owner: str = ""
    asking: tuple[str, ...] = ()  # the sites whose staff need it from this vantage point
    at_site: str = ""  # where the object sits (tcp.site)
    from_site: str = ""  # the site this vantage point belongs to, if one


def _objects(inventory: Inventory) -> Iterator[tuple[str, str, ServiceObject, Tcp, str, int]]:
    """(section, id, object, its tcp block, host, port) of everything to connect to."""
    for res_id, res in sorted(inventory.network_resources.items()):
        tcp = block(res, "tcp", Tcp) or Tcp()
        yield "network_resources", res_id, res, tcp, res.host, tcp.port or res.port
    for app_id, app in sorted(inventory.applications.items()):
        tcp = block(app, "tcp", Tcp) or Tcp()
        if tcp.port or tcp.reachable_from or tcp.not_reachable_from:
            yield "applications", app_id, app, tcp, app.host, tcp.port or app.port


def _vantages_of(inventory: Inventory, where: Iterable[str]) -> list[str]:
    """Vantage point ids named directly or through a site."""
    out: list[str] = []
    for name in where:
        site = inventory.sites.get(name)
        for v in (site.vantage_points or ["local"]) if site else [name]:
            if v not in out:
                out.append(v)
    return out


class NetworkFamily(CheckFamily[Connect]):
    name = "network"
    description = (
        "Network resources accept TCP connections from each site whose staff need them, "
        "and not from where they must not; SSH vantage points accept our login"
    )
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {
        ("applications", "tcp"): Tcp,
        ("network_resources", "tcp"): Tcp,
    }
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(CHECK, "the host:port accepts a connection from each site that needs it"),
        CheckSpec(EXPOSURE, "the host:port does not accept a connection from where it must not"),
        CheckSpec(LOGIN, "the SSH vantage point accepts our login with the known host key"),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.NETWORK_RESOURCE})
    reads: ClassVar[Sequence[str]] = (
        "network_resources.*.host",
        "network_resources.*.port",
        "network_resources.*.tcp",
        "applications.*.url",
        "applications.*.tcp",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "vantage_points",
        "programme.resolvers",
    )
    default_timeout = 5.0

    def validate(self, inventory: Inventory) -> Iterator[Problem]:
        known = set(inventory.sites) | set(inventory.vantage_points) | {"local"}
        for section, obj_id, _, tcp, _, _ in _objects(inventory):
            where = (section, obj_id, "tcp")
            if tcp.site and tcp.site not in inventory.sites:
                yield Problem(
                    inventory.where(*where, "site"),
                    f"{section}.{obj_id}: unknown site {tcp.site!r}",
                    "known sites: " + ", ".join(sorted(inventory.sites)),
                )
            for key in ("reachable_from", "not_reachable_from"):
                for n, name in enumerate(getattr(tcp, key)):
                    if name not in known:
                        yield Problem(
                            inventory.where(*where, key, n),
                            f"{section}.{obj_id}: {key} names {name!r}, neither a site nor "
                            "a vantage point",
                            "known: " + ", ".join(sorted(known)),
                        )
            both = set(tcp.reachable_from) & set(tcp.not_reachable_from)
            if both:
                yield Problem(
                    inventory.where(*where),
                    f"{section}.{obj_id}: {', '.join(sorted(both))} both in reachable_from "
                    "and not_reachable_from",
                )

    def plan(self, ctx: PlanContext) -> Iterator[Probe[Connect]]:
        inventory = ctx.inventory
        site_of = {v: s for s, site in inventory.sites.items() for v in site.vantage_points}
        for vp_id, point in sorted(inventory.vantage_points.items()):
            if point.kind == "ssh":
                yield Probe(
                    self.name,
                    LOGIN,
                    f"vantage_points:{vp_id}",
                    f"{point.user}@{point.host}:{point.port}",
                    Connect(point.host or "", point.port, ()),
                    vantage=vp_id,
                    batch="network",
                    timeout=LOGIN_TIMEOUT,
                    summary=f"SSH login to vantage point {vp_id}",
                )
        for section, obj_id, obj, tcp, host, port in _objects(inventory):
            subject = f"{section}:{obj_id}"
            timeout = tcp.timeout or self.default_timeout
            own = section == "network_resources" or tcp.port  # an application's URL: not here
            routes = ctx.reach_routes(section, obj_id) if own else {}
            extra = {
                v: (ctx.vantage_resolvers(v), ())
                for v in _vantages_of(inventory, tcp.reachable_from)
            }
            for vantage, (resolvers, sites) in sorted({**extra, **routes}.items()):
                yield Probe(
                    self.name,
                    CHECK,
                    subject,
                    f"{host}:{port}",
                    Connect(
                        host,
                        port,
                        resolvers,
                        obj.owner,
                        sites,
                        tcp.site or "",
                        site_of.get(vantage, ""),
                    ),
                    vantage=vantage,
                    server=f"{host}:{port}",
                    batch="network",
                    sites=sites,
                    timeout=timeout,
                    summary=f"TCP connect to {host}:{port} from {vantage}",
                )
            for vantage in _vantages_of(inventory, tcp.not_reachable_from):
                yield Probe(
                    self.name,
                    EXPOSURE,
                    subject,
                    f"{host}:{port}",
                    Connect(host, port, ctx.vantage_resolvers(vantage), obj.owner),
                    vantage=vantage,
                    server=f"{host}:{port}",
                    batch="network",
                    timeout=timeout,
                    summary=f"{host}:{port} must not be reachable from {vantage}",
                )

    def run(self, probes: Sequence[Probe[Connect]], ctx: RunContext) -> Iterator[Result]:
        if not probes:
            return
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(probes)), thread_name_prefix="network"
        ) as pool:
            results = list(pool.map(lambda p: self._probe(p, ctx), probes))
        yield from _one_way(list(zip(probes, results, strict=True)))

    # ------------------------------------------------------------------ one probe
    def _probe(self, probe: Probe[Connect], ctx: RunContext) -> Result:
        started = time.perf_counter()
        try:
            if probe.check == LOGIN:
                return self._login(probe, ctx, started)
            return self._check(probe, ctx, started)
        except Exception as exc:  # one broken probe must not take its batch down
            return probe.result(
                Status.ERROR,
                f"the check of {probe.target} from {probe.vantage} failed "
                f"unexpectedly: {type(exc).__name__}: {exc}",
                impact=subject_impact(probe.subject, probe.params.asking),
                root_cause=f"crash|{self.name}",
                hint="a defect or an environment problem; report the message",
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    def _login(self, probe: Probe[Connect], ctx: RunContext, started: float) -> Result:
        name = probe.vantage
        fields: dict[str, Any] = {
            "expected": "an SSH login with the host key of known_hosts",
            "impact": f"every check from vantage point {name} (its site's view) depends on it",
            "root_cause": f"vantage|{name}",
        }
        try:
            observed = ctx.vantage(name).login(probe.timeout)
        except OSError as exc:
            text = str(exc)
            kind = (
                "host-key"
                if "host key" in text
                else "login-refused"
                if "refused our login" in text
                else "unreachable"
            )
            hint = {
                "host-key": "confirm the jump host's new key out of band, then update known_hosts",
                "login-refused": "install the sweep's public key for the vantage point's user",
                "unreachable": "start the jump host's sshd, or fix the route to it",
            }[kind]
            return probe.result(
                Status.FAIL,
                f"SSH login to vantage point {name} failed: {text}",
                observed=text,
                hint=hint,
                details={"reason": kind},
                duration_ms=(time.perf_counter() - started) * 1000,
                **fields,
            )
        return probe.result(
            Status.PASS,
            f"vantage point {name} accepts our SSH login",
            observed=observed,
            duration_ms=(time.perf_counter() - started) * 1000,
            **fields,
        )

    def _check(self, probe: Probe[Connect], ctx: RunContext, started: float) -> Result:
        p = probe.params
        found = reach(
            p.host,
            p.port,
            vantage_name=probe.vantage,
            vantage=lambda: ctx.vantage(probe.vantage),
            lookup=ctx.dns.lookup,
            resolvers=p.resolvers,
            timeout=probe.timeout,
        )
        if found.stream is not None:
            with ctx.limit(probe.server):
                found.close()
        details = {**found.details, "sites": list(p.asking)}
        common: dict[str, Any] = {
            "observed": found.observed,
            "details": details,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        status = found.status
        if probe.check == EXPOSURE:
            return self._exposure(probe, found.outcome, status, found.summary, common)
        fields: dict[str, Any] = {
            "impact": subject_impact(probe.subject, p.asking),
            "expected": "the connection is accepted",
            "root_cause": found.root_cause,
            "hint": found.hint,
        }
        if status is Status.FAIL:
            fields["owner"] = p.owner
        return probe.result(status, found.summary, **fields, **common)

    def _exposure(
        self,
        probe: Probe[Connect],
        outcome: str,
        status: Status,
        summary: str,
        common: dict[str, Any],
    ) -> Result:
        p = probe.params
        fields: dict[str, Any] = {
            "expected": "the connection is not accepted (refused, dropped or no route)",
            "impact": f"{probe.subject} is exposed where the inventory says it must not be",
        }
        if status is Status.PASS:  # accepted: an exposure
            return probe.result(
                Status.FAIL,
                f"{probe.target} is reachable from {probe.vantage}, where it must not be",
                owner=p.owner,
                hint=f"block {probe.vantage}'s access to {probe.target} in the firewall "
                "(or correct not_reachable_from)",
                root_cause=f"exposure|{p.host.lower()}:{p.port}|{probe.vantage}",
                **fields,
                **common,
            )
        if status is Status.FAIL:
            return probe.result(
                Status.PASS,
                f"{probe.target} is not reachable from {probe.vantage} ({outcome}), as required",
                **fields,
                **common,
            )
        return probe.result(
            Status.ERROR,
            summary,
            root_cause=f"exposure-unknown|{p.host.lower()}:{p.port}|{probe.vantage}",
            hint="fix what stops the test (see observed), then sweep again",
            **fields,
            **common,
        )


def _one_way(pairs: list[tuple[Probe[Connect], Result]]) -> Iterator[Result]:
    """The results, with a failure between two sites whose other way works called out."""
    works: dict[tuple[str, str], list[str]] = defaultdict(list)  # (from, to) -> subjects
    for probe, result in pairs:
        p = probe.params
        if probe.check == CHECK and result.status is Status.PASS and p.from_site and p.at_site:
            works[(p.from_site, p.at_site)].append(probe.subject)
    for probe, result in pairs:
        p = probe.params
        back = works.get((p.at_site, p.from_site), [])
        if (
            probe.check == CHECK
            and result.status is Status.FAIL
            and p.from_site
            and p.at_site
            and p.at_site != p.from_site
            and back
        ):
            note = (
                f"one-way: {p.at_site} reaches {p.from_site} ({', '.join(sorted(back))}), "
                f"{p.from_site} does not reach {p.at_site}"
            )
            result = dataclasses.replace(
                result,
                summary=f"{result.summary} ({note})",
                details={
                    **result.details,
                    "one_way": {"reaches": [p.at_site, p.from_site], "back": sorted(back)},
                },
                hint=f"{result.hint}; the other direction works, so look for a rule "
                f"that drops {p.from_site} -> {p.at_site} only",
            )
        yield result


family = NetworkFamily()
