"""The ``dns`` check family: every host named in the inventory resolves.

What is checked
    Every host name the inventory names (each family's ``hosts()``: applications,
    network resources, directories, ...; plus the hosts of SSH vantage points)
    resolves to A/AAAA records (CNAMEs followed) through the resolvers that will
    be used on Day 1:

    * a host needed by staff of a site (the who-needs-what graph) is asked of that
      site's ``resolvers`` from each of the site's ``vantage_points`` (a host needed
      at several sites is asked through each of those sites' resolvers);
    * a site without resolvers, an SSH jump host, and an object needed by nobody in
      particular are asked of ``programme.resolvers`` from ``local`` (the sweeping
      machine); with no programme resolvers either, of the operating system.

    Each (name, resolver, vantage point) is queried once per sweep (A + AAAA, plus
    CNAME targets outside the answer), shared with every family through
    :func:`cached_lookup`.

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
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from readiness import naming
from readiness.family import CheckFamily, HostRef, PlanContext, Probe, RunContext
from readiness.results import Result, Status

if TYPE_CHECKING:
    from readiness.inventory import Inventory

CHECK = "dns.resolves"
SYSTEM = "system"  # the resolver label of the operating system's resolver
MAX_WORKERS = 16


# ----------------------------------------------------------------------------- shared


def cached_lookup(ctx: RunContext, host: str, resolver: str, vantage: str,
                  timeout: float = 5.0) -> naming.Lookup:
    """Ask ``resolver`` about ``host`` from ``vantage``, once per sweep (ctx.shared).

    ``resolver`` is "host[:port]" or :data:`SYSTEM`. Never raises for DNS trouble.
    """
    label = SYSTEM if resolver == SYSTEM else naming.format_resolver(resolver)
    key = ("dns.lookup", host.lower().rstrip("."), label, vantage)

    def compute() -> naming.Lookup:
        if label == SYSTEM:
            return naming.system_lookup(host, vantage)
        via = None
        if vantage != "local":
            try:
                via = ctx.vantage(vantage)
            except Exception as exc:
                return naming.Lookup(host, label, vantage, "vantage", detail=str(exc))
        with ctx.limit(f"dns:{label}@{vantage}"):
            return naming.lookup(host, label, timeout, via=via, vantage=vantage)

    found = ctx.shared(key, compute)
    if isinstance(found, BaseException):
        return naming.Lookup(host, label, vantage, "bad-response",
                             detail=f"{type(found).__name__}: {found}")
    return found  # type: ignore[no-any-return]


def staff_by_subject(inventory: Inventory, staff: Iterable[Any],
                     subjects: set[str]) -> dict[str, Counter[str]]:
    """subject -> Counter(site -> number of the given staff who need it)."""
    counts: dict[str, Counter[str]] = {s: Counter() for s in subjects}
    for person in staff:
        for subject in inventory.needs(person).subjects & subjects:
            counts[subject][person.site] += 1
    return counts


def resolvers_for(inventory: Inventory, site_id: str | None) -> tuple[list[str], list[str]]:
    """(resolvers, vantage points) a site uses; ``None`` = the sweep's own (programme)."""
    site = inventory.sites.get(site_id) if site_id else None
    if site is not None and site.resolvers:
        return ([naming.format_resolver(r) for r in site.resolvers],
                list(site.vantage_points) or ["local"])
    programme = [naming.format_resolver(r) for r in inventory.programme.resolvers]
    return programme or [SYSTEM], ["local"]


def _own_view(inventory: Inventory, sites: Iterable[str]) -> tuple[str, ...]:
    """The sites whose own resolvers a lookup used: only then is it their view. Through the
    programme's resolvers it is the sweep's view, and counts for everyone who needs the name."""
    chosen = sorted(sites)
    if chosen and all((site := inventory.sites.get(s)) is not None and site.resolvers
                      for s in chosen):
        return tuple(chosen)
    return ()


def impact_text(subject: str, staff: int, sites: Sequence[str]) -> str:
    if staff:
        where = f" at {', '.join(sites)}" if sites else ""
        return f"{staff} staff{where} need {subject} on Day 1"
    return f"no staff need {subject} directly; the sweep and other checks use it"


# ----------------------------------------------------------------------------- family


class DnsFamily(CheckFamily):
    name = "dns"
    description = ("Every host named in the inventory resolves (A/AAAA/CNAME) through the "
                   "resolvers of each site that needs it")
    reads: ClassVar[Sequence[str]] = (
        "programme.resolvers", "sites.*.resolvers", "sites.*.vantage_points",
        "vantage_points.*.host", "hosts named by every family (applications, network_resources, "
        "directories, ...)",
    )
    default_timeout = 5.0

    def host_refs(self, inventory: Inventory) -> tuple[list[HostRef], list[tuple[str, str]]]:
        """Every host the inventory names, and (family, error) for families whose
        ``hosts()`` raised (they become error results; the others go on)."""
        refs: dict[tuple[str, str], HostRef] = {}
        broken: list[tuple[str, str]] = []
        for fam in inventory.families:
            if fam is self:
                continue
            try:
                for ref in fam.hosts(inventory):
                    refs.setdefault((ref.host.lower(), ref.subject), ref)
            except Exception as exc:
                broken.append((fam.name, f"{type(exc).__name__}: {exc}"))
        for vp_id, vp in inventory.vantage_points.items():
            if vp.kind == "ssh" and vp.host:
                ref = HostRef(vp.host, f"vantage_points:{vp_id}")
                refs.setdefault((vp.host.lower(), ref.subject), ref)
        return [refs[k] for k in sorted(refs)], broken

    def plan(self, ctx: PlanContext) -> Iterator[Probe]:
        inventory = ctx.inventory
        refs, broken = self.host_refs(inventory)
        for family_name, error in broken:
            yield Probe(self.name, "dns.hosts", f"family:{family_name}", family_name,
                        batch="broken", summary=f"list the hosts of the {family_name} family",
                        params={"error": error})
        refs = [r for r in refs if not naming.is_ip(r.host)]
        subjects = {r.subject for r in refs}
        needed = staff_by_subject(inventory, ctx.staff, subjects)
        # Jump hosts: needed by the staff of the sites that use them.
        for person in ctx.staff:
            site = inventory.sites.get(person.site)
            for vp in site.vantage_points if site else ():
                subject = f"vantage_points:{vp}"
                if subject in needed:
                    needed[subject][person.site] += 1
        for ref in refs:
            by_site = needed.get(ref.subject, Counter())
            # (resolver, vantage) -> Counter(site -> staff)
            routes: dict[tuple[str, str], Counter[str]] = {}
            if ref.subject.startswith("vantage_points:") or not by_site:
                resolvers, _ = resolvers_for(inventory, None)
                for resolver in resolvers:
                    routes[(resolver, "local")] = Counter(by_site)
            else:
                for site_id, count in by_site.items():
                    resolvers, vantages = resolvers_for(inventory, site_id)
                    for resolver in resolvers:
                        for vantage in vantages:
                            routes.setdefault((resolver, vantage), Counter())[site_id] += count
            for (resolver, vantage), sites in sorted(routes.items()):
                yield Probe(
                    family=self.name, check=CHECK, subject=ref.subject,
                    target=f"{ref.host} via {resolver}", vantage=vantage,
                    server=f"dns:{resolver}", batch=f"dns@{vantage}",
                    sites=_own_view(inventory, sites),
                    timeout=self.default_timeout,
                    summary=f"resolve {ref.host} (A/AAAA) via {resolver} from {vantage}",
                    params={"host": ref.host, "resolver": resolver, "owner": ref.owner,
                            "staff": sum(sites.values()), "sites": sorted(sites)},
                )

    def run(self, probes: Sequence[Probe], ctx: RunContext) -> Iterator[Result]:
        broken = [p for p in probes if p.check != CHECK]
        for probe in broken:
            yield probe.result(
                Status.ERROR, f"the hosts named by the {probe.target} family could not be listed: "
                f"{probe.params.get('error', '')}",
                impact="names this family uses were not checked",
                hint=f"a defect in the {probe.target} family; report the message",
                root_cause=f"crash|{probe.target}|hosts")
        work = [p for p in probes if p.check == CHECK]
        unique = sorted({(p.params["host"], p.params["resolver"], p.vantage, p.timeout)
                         for p in work})
        started = time.perf_counter()
        lookups: dict[tuple[str, str, str], naming.Lookup] = {}
        if unique:
            with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(unique)),
                                    thread_name_prefix="dns") as pool:
                futures = {
                    (host, resolver, vantage): pool.submit(
                        cached_lookup, ctx, host, resolver, vantage, timeout)
                    for host, resolver, vantage, timeout in unique
                }
                for key, future in futures.items():
                    lookups[key] = future.result()
        elapsed = (time.perf_counter() - started) * 1000
        for probe in work:
            found = lookups[(probe.params["host"], probe.params["resolver"], probe.vantage)]
            yield self._result(probe, found, ctx, elapsed)

    def _result(self, probe: Probe, found: naming.Lookup, ctx: RunContext,
                elapsed: float) -> Result:
        host, resolver = probe.params["host"], probe.params["resolver"]
        staff, sites = probe.params.get("staff", 0), probe.params.get("sites", [])
        owner = probe.params.get("owner", "")
        where = f"via {resolver} from {probe.vantage}"
        chain = f" (CNAME {' -> '.join(found.cnames)})" if found.cnames else ""
        common: dict[str, Any] = {
            "expected": "A/AAAA record(s)",
            "impact": impact_text(probe.subject, staff, sites),
            "duration_ms": found.elapsed_ms or elapsed,
            "details": {"host": host, "resolver": resolver, "outcome": found.outcome,
                        "addresses": list(found.addresses), "cnames": list(found.cnames),
                        "staff": staff, "sites": sites, "queries": found.queries},
        }
        if found.ok:
            return probe.result(Status.PASS, f"{host} resolves {where}: "
                                f"{', '.join(found.addresses)}{chain}",
                                observed=", ".join(found.addresses) + chain, **common)
        site_owner = self._site_owner(ctx, sites)
        if found.is_failure:
            missing = "does not exist (NXDOMAIN)" if found.outcome == "nxdomain" else \
                "has no A/AAAA record (NODATA)"
            return probe.result(
                Status.FAIL, f"{host} {missing} {where}{chain}",
                observed=found.describe(), root_cause=f"dns|{host.lower()}|{found.outcome}",
                owner=owner or site_owner,
                hint=(f"create the A/AAAA record for {found.cnames[-1] if found.cnames else host}"
                      f" in its zone, or fix the conditional forwarder that {resolver} uses for "
                      "that zone; the name may also be misspelt in the inventory"),
                **common)
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
                Status.ERROR, f"could not resolve {host} {where}: {found.describe()}",
                observed=found.describe(), root_cause=f"dns|{host.lower()}|{found.outcome}",
                owner=site_owner or owner, hint=hint, **common)
        if found.outcome == "vantage":
            return probe.result(
                Status.ERROR, f"could not ask {resolver} about {host} from {probe.vantage}: "
                f"{found.detail}", observed=found.describe(),
                root_cause=f"vantage|{probe.vantage}", owner=site_owner,
                hint="check the vantage point (jump host address, known_hosts, key)", **common)
        return probe.result(
            Status.ERROR, f"could not resolve {host} {where}: {found.describe()}",
            observed=found.describe(),
            root_cause=f"dns-resolver|{resolver}|{found.outcome}|{probe.vantage}",
            owner=site_owner,
            hint=f"the resolver {resolver} does not answer from {probe.vantage}: check that it "
                 "runs and that a firewall lets DNS (udp and tcp 53) through",
            **common)

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
