"""The ``dns`` check family: every host named in the inventory resolves.

What is checked
    Every host name the inventory names (the core's service objects: applications and
    network resources; each family's ``hosts()``: directories, mail and telephony hosts,
    ...; the hosts of SSH vantage points) resolves to A/AAAA records (CNAMEs followed)
    through the resolvers that will be used on Day 1:

    * a host needed by staff of a site (the who-needs-what graph) is asked of that
      site's ``resolvers`` from each of the site's ``vantage_points`` (a host needed
      at several sites is asked through each of those sites' resolvers);
    * a site without resolvers, an SSH jump host, and an object needed by nobody in
      particular are asked of ``programme.resolvers`` from ``local`` (the sweeping
      machine); with no programme resolvers either, of the operating system.

    Each question is asked once per sweep through the core's DNS service
    (``ctx.dns``), which every family shares.

Results (check ``dns.resolves``, one per host subject x resolver x vantage point)
    target ``"<host> via <resolver>"``;
    ``pass``  the name resolves (observed: the addresses, and the CNAME chain);
    ``fail``  NXDOMAIN or NODATA: the resolver answered and the record is missing
              (root cause ``dns|<host>|nxdomain`` / ``dns|<host>|nodata``);
    ``error`` SERVFAIL / REFUSED (root cause ``dns|<host>|servfail|refused``),
              timeout or unreachable resolver (``dns-resolver|<resolver>|<outcome>``),
              unusable vantage point (``vantage|<name>``): we could not find out.

Inventory fields read: ``programme.resolvers``, ``sites.*.resolvers``,
``sites.*.vantage_points``, ``vantage_points.*.host``, and every family's hosts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from readiness.family import (
    CheckFamily,
    CheckSpec,
    HostRef,
    PlanContext,
    Probe,
    RunContext,
    subject_impact,
)
from readiness.inventory.inventory import Inventory
from readiness.net import dns
from readiness.results import Result, Status

CHECK = "dns.resolves"
HOSTS = "dns.hosts"
MAX_WORKERS = 16


@dataclass(frozen=True)
class Lookup:
    """Resolve ``host`` through ``resolver`` (from the probe's vantage point)."""

    host: str
    resolver: str
    owner: str = ""
    asking: tuple[str, ...] = ()  # the sites whose staff need the name this way


@dataclass(frozen=True)
class BrokenHosts:
    """A family whose ``hosts()`` raised: its names could not be listed."""

    error: str


Params = Lookup | BrokenHosts


def object_hosts(inventory: Inventory) -> Iterator[HostRef]:
    """The hosts of the core's service objects that name one."""
    for app_id, app in sorted(inventory.applications.items()):
        yield HostRef(app.host, f"applications:{app_id}", app.owner)
    for res_id, res in sorted(inventory.network_resources.items()):
        yield HostRef(res.host, f"network_resources:{res_id}", res.owner)


class DnsFamily(CheckFamily[Params]):
    name = "dns"
    description = (
        "Every host named in the inventory resolves (A/AAAA/CNAME) through the "
        "resolvers of each site that needs it"
    )
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(
            CHECK,
            "a host named in the inventory resolves through the resolvers the "
            "staff who need it use",
        ),
        CheckSpec(HOSTS, "a family could list the hosts it names"),
    )
    reads: ClassVar[Sequence[str]] = (
        "programme.resolvers",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "vantage_points.*.host",
        "applications.*.url",
        "network_resources.*.host",
        "hosts named by every family (directories, mail, telephony, ...)",
    )
    default_timeout = 5.0

    def host_refs(self, ctx: PlanContext) -> tuple[list[HostRef], list[tuple[str, str]]]:
        """Every host the inventory names, and (family, error) for families whose
        ``hosts()`` raised (they become error results; the others go on)."""
        inventory = ctx.inventory
        refs: dict[tuple[str, str], HostRef] = {}
        broken: list[tuple[str, str]] = []
        for ref in object_hosts(inventory):
            refs.setdefault((dns.canonical(ref.host), ref.subject), ref)
        for fam in ctx.families:
            if fam is self:
                continue
            try:
                for ref in fam.hosts(inventory):
                    refs.setdefault((dns.canonical(ref.host), ref.subject), ref)
            except Exception as exc:
                broken.append((fam.name, f"{type(exc).__name__}: {exc}"))
        for vp_id, vp in inventory.vantage_points.items():
            if vp.kind == "ssh" and vp.host:
                ref = HostRef(vp.host, f"vantage_points:{vp_id}")
                refs.setdefault((dns.canonical(vp.host), ref.subject), ref)
        return [refs[k] for k in sorted(refs)], broken

    def plan(self, ctx: PlanContext) -> Iterator[Probe[Params]]:
        inventory = ctx.inventory
        refs, broken = self.host_refs(ctx)
        for family_name, error in broken:
            yield Probe(
                self.name,
                HOSTS,
                f"family:{family_name}",
                family_name,
                BrokenHosts(error),
                batch="broken",
                summary=f"list the hosts of the {family_name} family",
            )
        needing = dict(ctx.sites_needing)
        # Jump hosts: needed by the staff of the sites that use them.
        for person in ctx.staff:
            site = inventory.sites.get(person.site)
            for vp in site.vantage_points if site else ():
                subject = f"vantage_points:{vp}"
                needing[subject] = needing.get(subject, frozenset()) | {person.site}
        for ref in refs:
            if dns.is_ip(ref.host):
                continue
            sites = needing.get(ref.subject, frozenset())
            # (resolver, vantage) -> the sites that ask it
            routes: dict[tuple[str, str], set[str]] = {}
            if ref.subject.startswith("vantage_points:") or not sites:
                resolvers, _ = ctx.resolvers_for(None)
                for resolver in resolvers:
                    routes[(resolver, "local")] = set(sites)
            else:
                for site_id in sites:
                    resolvers, vantages = ctx.resolvers_for(site_id)
                    for resolver in resolvers:
                        for vantage in vantages:
                            routes.setdefault((resolver, vantage), set()).add(site_id)
            for (resolver, vantage), asking in sorted(routes.items()):
                yield Probe(
                    self.name,
                    CHECK,
                    ref.subject,
                    f"{ref.host} via {resolver}",
                    Lookup(ref.host, resolver, ref.owner, tuple(sorted(asking))),
                    vantage=vantage,
                    server=f"dns:{resolver}",
                    batch=f"dns@{vantage}",
                    sites=ctx.own_view(asking),
                    timeout=self.default_timeout,
                    summary=f"resolve {ref.host} (A/AAAA) via {resolver} from {vantage}",
                )

    def run(self, probes: Sequence[Probe[Params]], ctx: RunContext) -> Iterator[Result]:
        work: list[tuple[Probe[Params], Lookup]] = []
        for probe in probes:
            if isinstance(probe.params, BrokenHosts):
                yield probe.result(
                    Status.ERROR,
                    f"the hosts named by the {probe.target} family could not be "
                    f"listed: {probe.params.error}",
                    impact="names this family uses were not checked",
                    hint=f"a defect in the {probe.target} family; report the message",
                    root_cause=f"crash|{probe.target}|hosts",
                )
            else:
                work.append((probe, probe.params))
        unique = sorted({(p.host, p.resolver, probe.vantage, probe.timeout) for probe, p in work})
        started = time.perf_counter()
        lookups: dict[tuple[str, str, str], dns.Lookup] = {}
        if unique:
            with ThreadPoolExecutor(
                max_workers=min(MAX_WORKERS, len(unique)), thread_name_prefix="dns"
            ) as pool:
                futures = {
                    (host, resolver, vantage): pool.submit(
                        ctx.dns.lookup, host, resolver, vantage, timeout
                    )
                    for host, resolver, vantage, timeout in unique
                }
                for key, future in futures.items():
                    lookups[key] = future.result()
        elapsed = (time.perf_counter() - started) * 1000
        for probe, params in work:
            found = lookups[(params.host, params.resolver, probe.vantage)]
            yield self._result(probe, params, found, ctx, elapsed)

    def _result(
        self,
        probe: Probe[Params],
        params: Lookup,
        found: dns.Lookup,
        ctx: RunContext,
        elapsed: float,
    ) -> Result:
        host, resolver, owner = params.host, params.resolver, params.owner
        where = f"via {resolver} from {probe.vantage}"
        chain = f" (CNAME {' -> '.join(found.cnames)})" if found.cnames else ""
        common: dict[str, Any] = {
            "expected": "A/AAAA record(s)",
            "impact": subject_impact(probe.subject, params.asking),
            "duration_ms": found.elapsed_ms or elapsed,
            "details": {
                "host": host,
                "resolver": resolver,
                "outcome": found.outcome,
                "addresses": list(found.addresses),
                "cnames": list(found.cnames),
                "queries": found.queries,
            },
        }
        if found.ok:
            return probe.result(
                Status.PASS,
                f"{host} resolves {where}: {', '.join(found.addresses)}{chain}",
                observed=", ".join(found.addresses) + chain,
                **common,
            )
        site_owner = self._site_owner(ctx, params.asking)
        if found.is_failure:
            missing = (
                "does not exist (NXDOMAIN)"
                if found.outcome == "nxdomain"
                else "has no A/AAAA record (NODATA)"
            )
            return probe.result(
                Status.FAIL,
                f"{host} {missing} {where}{chain}",
                observed=found.describe(),
                root_cause=f"dns|{host.lower()}|{found.outcome}",
                owner=owner or site_owner,
                hint=(
                    f"create the A/AAAA record for {found.cnames[-1] if found.cnames else host}"
                    f" in its zone, or fix the conditional forwarder that {resolver} uses for "
                    "that zone; the name may also be misspelt in the inventory"
                ),
                **common,
            )
        if found.outcome in ("servfail", "refused", "rcode", "bad-response", "loop"):
            hint = {
                "servfail": f"{resolver} could not answer for {host}: check that the zone loads on "
                "its authoritative server (named-checkzone) and that the resolver's "
                "forwarders/upstreams are reachable",
                "refused": f"{resolver} refuses to answer for {host}: it is not authoritative for "
                "the zone and does not recurse for us; add a conditional forwarder or "
                "allow recursion for the sweep's and the site's clients",
            }.get(found.outcome, f"{resolver} gave an unusable answer for {host}")
            return probe.result(
                Status.ERROR,
                f"could not resolve {host} {where}: {found.describe()}",
                observed=found.describe(),
                root_cause=f"dns|{host.lower()}|{found.outcome}",
                owner=site_owner or owner,
                hint=hint,
                **common,
            )
        if found.outcome == "vantage":
            return probe.result(
                Status.ERROR,
                f"could not ask {resolver} about {host} from {probe.vantage}: {found.detail}",
                observed=found.describe(),
                root_cause=f"vantage|{probe.vantage}",
                owner=site_owner,
                hint="check the vantage point (jump host address, known_hosts, key)",
                **common,
            )
        return probe.result(
            Status.ERROR,
            f"could not resolve {host} {where}: {found.describe()}",
            observed=found.describe(),
            root_cause=f"dns-resolver|{resolver}|{found.outcome}|{probe.vantage}",
            owner=site_owner,
            hint=f"the resolver {resolver} does not answer from {probe.vantage}: check that it "
            "runs and that a firewall lets DNS (udp and tcp 53) through",
            **common,
        )

    @staticmethod
    def _site_owner(ctx: RunContext, sites: Sequence[str]) -> str:
        for site_id in sites:
            site = ctx.inventory.sites.get(site_id)
            if site is None:
                continue
            if site.owner:
                return site.owner
            org = ctx.inventory.organisations.get(site.organisation)
            if org is not None and org.owner:
                return org.owner
        return ""


family = DnsFamily()
