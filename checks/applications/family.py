"""The ``applications`` check family: each application answers, as expected, from
each site whose staff need it, with a certificate that lasts past go-live.

Per application and vantage point (:meth:`PlanContext.reach_routes`: each site that
needs it, or where ``checked_from`` says: a remote-access entry point is checked from
an outside vantage point), ONE connection (resolved and opened as the site does,
:mod:`readiness.net.reach`), one TLS handshake (:func:`readiness.net.certificates.observe`
keeps the session) and the requests over it (h11, keep-alive):

    http.connect        the host:port accepts a connection (refused, no answer and no
                        route are ``fail``: the reachability test, done here once)
    tls.*               the certificate module's six findings (https only)
    http.status         the answer to ``path`` (same-host redirects followed; a loop or
                        a redirect elsewhere is ``fail``)
    http.content        the body holds ``expect_content``
    http.redirect       ``login_redirect.path`` redirects to the SSO host
    http.response-time  within ``response_time_ms`` (slower: ``warn``)

Per pilot account that needs the application (``pilot`` block, a credential): one real
login from their site (HTTP basic or an HTML form), through the lockout-safe attempt
ledger (one attempt per sweep, never retried, refused when the budget is spent), over
a verified TLS session only: ``http.pilot-login`` about the person.

Entitlement (role -> application -> directory group) is the identity family's: a
directory's ``application_groups`` makes its ``identity.group-member`` results speak
about the ``application:<id>`` need, so the roll-up combines account, entitlement and
these results in each person's application need, read from one search per directory.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from pydantic import BaseModel

from readiness.family import CheckFamily, CheckSpec, PlanContext, Probe, RunContext, subject_impact
from readiness.inventory.extension import block
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Application
from readiness.inventory.needs import NeedKind, need_key
from readiness.problems import Problem
from readiness.results import Result, Status

from .check_ids import CONNECT, CONTENT, FAMILY, PILOT, REDIRECT, STATUS, TIME, TLS_CHECKS
from .config import Http, Target

MAX_WORKERS = 16
# Results that must pass before a pilot's real login is tried from the same place.
GATES = frozenset({CONNECT, *TLS_CHECKS[:4], STATUS})


def settings(app: Application) -> Http:
    return block(app, "http", Http) or Http()


class ApplicationsFamily(CheckFamily[Target]):
    name = FAMILY
    description = (
        "Applications answer over HTTP(S) as expected from each site that needs them, "
        "redirect to the SSO front, with certificates valid past go-live; pilots log in"
    )
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {("applications", "http"): Http}
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(CONNECT, "the application's host:port accepts a connection"),
        *(CheckSpec(c, f"the application's TLS: {c.split('.', 1)[1]}") for c in TLS_CHECKS),
        CheckSpec(STATUS, "the application answers with the expected status"),
        CheckSpec(CONTENT, "the answer contains the expected content"),
        CheckSpec(REDIRECT, "the login path redirects to the expected identity provider"),
        CheckSpec(TIME, "the answer comes within the response-time budget"),
        CheckSpec(PILOT, "a pilot account logs in for real", NeedKind.APPLICATION),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.APPLICATION})
    reads: ClassVar[Sequence[str]] = (
        "applications.*.url",
        "applications.*.http",
        "applications.*.checked_from",
        "organisations.*.ca_bundle",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "vantage_points.*.resolvers",
        "staff.*.pilot",
        "staff.*.credential",
    )
    default_timeout = 10.0

    def validate(self, inventory: Inventory) -> Iterator[Problem]:
        for app_id, app in inventory.applications.items():
            http = block(app, "http", Http)
            if http is not None and app.url.startswith("http://") and http.pilot is not None:
                yield Problem(
                    inventory.where("applications", app_id, "http", "pilot"),
                    f"application {app_id}: a pilot login over http:// would send a "
                    "password in clear",
                    "use the application's https:// URL",
                )

    def plan(self, ctx: PlanContext) -> Iterator[Probe[Target]]:
        inventory = ctx.inventory
        for app_id, app in sorted(inventory.applications.items()):
            http = settings(app)
            parts = urllib.parse.urlsplit(app.url)
            path = http.path or parts.path or "/"
            subject = f"applications:{app_id}"
            base = Target(
                app_id,
                app.url,
                app.host,
                app.port,
                parts.scheme == "https",
                path,
                (),
                app.owner,
            )
            checks = (*(TLS_CHECKS if base.https else ()), STATUS, TIME)
            checks += (CONTENT,) if http.expect_content is not None else ()
            checks += (REDIRECT,) if http.login_redirect is not None else ()
            routes = ctx.reach_routes("applications", app_id)
            for vantage, (resolvers, sites) in sorted(routes.items()):
                yield Probe(
                    self.name,
                    CONNECT,
                    subject,
                    f"{app.host}:{app.port}",
                    dataclasses.replace(base, resolvers=resolvers, asking=sites),
                    also=checks,
                    vantage=vantage,
                    server=f"{app.host}:{app.port}",
                    batch=FAMILY,
                    sites=sites,
                    timeout=http.timeout,
                    summary=f"{app.url} from {vantage}",
                )
            if http.pilot is not None:
                yield from self._pilots(ctx, app_id, base, http, routes)

    def _pilots(
        self,
        ctx: PlanContext,
        app_id: str,
        base: Target,
        http: Http,
        routes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    ) -> Iterator[Probe[Target]]:
        pilot = http.pilot
        assert pilot is not None
        realm = pilot.realm or app_id
        for person in ctx.staff:
            if not (person.pilot and person.credential and person.username):
                continue
            if app_id not in ctx.inventory.needs(person).applications:
                continue
            vantage, resolvers = next(
                ((v, r) for v, (r, s) in sorted(routes.items()) if person.site in s),
                next(((v, r) for v, (r, _) in sorted(routes.items())), ("local", ())),
            )
            yield Probe(
                self.name,
                PILOT,
                person.key,
                f"{base.url.rstrip('/')}{pilot.path}",
                dataclasses.replace(
                    base,
                    path=pilot.path,
                    resolvers=resolvers,
                    asking=(person.site,),
                    username=person.username,
                    credential=person.credential,
                ),
                vantage=vantage,
                server=f"{base.host}:{base.port}",
                batch=FAMILY,
                timeout=http.timeout,
                lockout_cost=1,
                account=f"{realm}/{person.username}",
                summary=f"pilot login of {person.username} to {app_id} ({pilot.method})",
            )

    def run(self, probes: Sequence[Probe[Target]], ctx: RunContext) -> Iterator[Result]:
        from .probe import check_application, pilot_login

        def one(probe: Probe[Target]) -> list[Result]:
            started = time.perf_counter()
            try:
                if probe.check == PILOT:
                    return pilot_login(probe, ctx, settings(self._app(ctx, probe)))
                return check_application(probe, ctx, settings(self._app(ctx, probe)))
            except Exception as exc:  # one broken probe must not take its batch down
                return [
                    probe.result(
                        Status.ERROR,
                        f"the check of {probe.params.url} from {probe.vantage} failed "
                        f"unexpectedly: {type(exc).__name__}: {exc}",
                        impact=subject_impact(probe.subject, probe.params.asking),
                        root_cause=f"crash|{self.name}",
                        hint="a defect or an environment problem; report the message",
                        duration_ms=(time.perf_counter() - started) * 1000,
                    )
                ]

        if not probes:
            return
        apps = [p for p in probes if p.check != PILOT]
        pilots = [p for p in probes if p.check == PILOT]
        broken: dict[tuple[str, str], Result] = {}  # (app, vantage) -> its first fault
        with ThreadPoolExecutor(min(MAX_WORKERS, len(probes)), "applications") as pool:
            for probe, results in zip(apps, pool.map(one, apps), strict=True):
                bad = [r for r in results if r.status.bad and r.check in GATES]
                if bad:
                    broken[(probe.params.app, probe.vantage)] = bad[0]
                yield from results
            # A login is tried only where the application answers correctly: an attempt
            # is never spent (nor a password sent) on a broken or untrusted server.
            ready = [p for p in pilots if (p.params.app, p.vantage) not in broken]
            for probe in pilots:
                fault = broken.get((probe.params.app, probe.vantage))
                if fault is not None:
                    yield probe.result(
                        Status.SKIP,
                        f"pilot login not attempted: the application fails from "
                        f"{probe.vantage} (see {fault.check})",
                        need=need_key(NeedKind.APPLICATION, probe.params.app),
                        observed=fault.summary,
                    )
            for results in pool.map(one, ready):
                yield from results

    @staticmethod
    def _app(ctx: RunContext, probe: Probe[Target]) -> Application:
        return ctx.inventory.applications[probe.params.app]


family = ApplicationsFamily()
