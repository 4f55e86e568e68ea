"""Running the applications family's probes: one connection, one TLS look, the
requests over it; and the pilots' real logins (see family.py for what is checked)."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from readiness.family import Probe, RunContext, subject_impact
from readiness.inventory.needs import NeedKind, need_key
from readiness.ledger import BudgetExceeded, Outcome
from readiness.net.certificates import judge, observe
from readiness.net.reach import Reach, reach
from readiness.net.streams import Stream
from readiness.net.tls import TlsError, client_context, start_tls
from readiness.net.trust import TrustError
from readiness.results import Result, Status
from readiness.secrets import SecretError

from .check_ids import CONNECT, CONTENT, FAMILY, PILOT, REDIRECT, STATUS, TIME, TLS_CHECKS
from .config import Http, Target
from .http import Client, Counter, HttpError, Response

REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTTP_CHECKS = (STATUS, CONTENT, REDIRECT, TIME)


HANDSHAKES = Counter()  # TLS handshakes started by this family (benchmarks read it)
Make = Callable[..., Result]


def _host_header(t: Target) -> str:
    default = 443 if t.https else 80
    return t.host if t.port == default else f"{t.host}:{t.port}"


def _reach(probe: Probe[Target], ctx: RunContext) -> Reach:
    t = probe.params
    return reach(
        t.host,
        t.port,
        vantage_name=probe.vantage,
        vantage=lambda: ctx.vantage(probe.vantage),
        lookup=ctx.dns.lookup,
        resolvers=t.resolvers,
        timeout=probe.timeout,
    )


def _ca(ctx: RunContext, t: Target, http: Http) -> str | None:
    app = ctx.inventory.applications[t.app]
    found = ctx.trust.bundle(
        [app.organisation] if app.organisation else [],
        override=http.ca_bundle,
        where=("applications", t.app, "http", "ca_bundle"),
    )
    return str(found) if found is not None else None


def check_application(probe: Probe[Target], ctx: RunContext, http: Http) -> list[Result]:
    t = probe.params
    started = time.perf_counter()
    impact = subject_impact(probe.subject, t.asking)

    def make(check: str, status: Status, summary: str, **fields: Any) -> Result:
        if status is Status.FAIL:
            fields.setdefault("owner", t.owner)
        return probe.result(
            status,
            summary,
            check=check,
            impact=impact,
            duration_ms=(time.perf_counter() - started) * 1000,
            **fields,
        )

    out: list[Result] = []
    rest = probe.checks[1:]

    def skip(checks: tuple[str, ...], why: str) -> None:
        out.extend(make(c, Status.SKIP, f"not checked: {why}") for c in checks if c in rest)

    found = _reach(probe, ctx)
    out.append(
        make(
            CONNECT,
            found.status,
            found.summary,
            expected="the connection is accepted",
            observed=found.observed,
            root_cause=found.root_cause,
            hint=found.hint,
            details=found.details,
        )
    )
    if found.stream is None:
        skip((*TLS_CHECKS, *HTTP_CHECKS), "no connection (see http.connect)")
        return out
    stream: Stream | None = found.stream
    reopen: Callable[[], Stream]
    if t.https:
        stream, reopen, tls_results = _tls(probe, ctx, http, found, make)
        out += tls_results
        if stream is None:
            skip(HTTP_CHECKS, "no TLS session (see tls.handshake)")
            return out
    else:

        def reopen() -> Stream:
            return ctx.vantage(probe.vantage).connect(found.address, t.port, probe.timeout)

    assert stream is not None
    client = Client(stream, _host_header(t), reopen)
    try:
        out += _http(probe, http, client, make)
    finally:
        client.close()
    return out


def _tls(
    probe: Probe[Target], ctx: RunContext, http: Http, found: Reach, make: Make
) -> tuple[Stream | None, Callable[[], Stream], list[Result]]:
    t = probe.params
    try:
        ca = _ca(ctx, t, http)
    except TrustError as exc:
        found.close()
        results = [
            make(
                c,
                Status.ERROR,
                f"TLS of {t.host}:{t.port} not judged: {exc}",
                root_cause=f"trust|{t.app}",
                hint="fix the CA bundle path in the inventory",
            )
            for c in TLS_CHECKS
        ]
        return None, _no_reopen, results
    first = [found.stream] if found.stream is not None else []

    def connect() -> Stream:
        HANDSHAKES.add()
        if first:
            return first.pop()
        return ctx.vantage(probe.vantage).connect(found.address, t.port, probe.timeout)

    kept: list[Stream] = []
    seen = observe(
        connect,
        server_name=t.host,
        ca_file=ca,
        verify=http.verify_tls,
        timeout=probe.timeout,
        keep=kept.append,
    )
    findings = judge(
        seen,
        host=t.host,
        go_live=ctx.go_live,
        now=ctx.now(),
        min_days=http.min_cert_days,
        warn_days=max(http.warn_cert_days, http.min_cert_days),
        verify=http.verify_tls,
    )
    results = [
        make(
            f.check,
            f.status,
            f.summary,
            expected=f.expected,
            observed=f.observed,
            hint=f.hint,
            details=f.details,
            root_cause=f"{f.check}|{t.host}:{t.port}|{f.details.get('reason', f.status.value)}",
        )
        for f in findings
    ]
    verified = seen.verified is True

    def reopen() -> Stream:
        HANDSHAKES.add()
        raw = ctx.vantage(probe.vantage).connect(found.address, t.port, probe.timeout)
        context = client_context(ca, verify=verified)
        return start_tls(raw, server_name=t.host, context=context, timeout=probe.timeout)

    return (kept[0] if kept else None), reopen, results


def _no_reopen() -> Stream:
    raise HttpError("closed", "the connection cannot be reopened")


def _same_origin(t: Target, location: str, base: str) -> tuple[bool, str, str]:
    """(same host and port, the absolute URL, its path and query)."""
    url = urllib.parse.urljoin(base, location)
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    same = (parts.hostname or "").lower() == t.host.lower() and port == t.port
    return same, url, path


def _url(t: Target, path: str) -> str:
    return f"{'https' if t.https else 'http'}://{_host_header(t)}{path}"


def _no_answer(check: str, exc: HttpError, url: str, make: Make, app: str) -> Result:
    why = {
        "timeout": "accepts the connection but does not answer",
        "closed": "closes the connection without answering",
        "protocol": "does not answer in HTTP",
    }.get(exc.code, "fails")
    return make(
        check,
        Status.FAIL,
        f"{url} {why}: {exc}",
        expected="an HTTP answer",
        observed=str(exc),
        root_cause=f"{check}|{app}|{exc.code}",
        hint="check that the application (not only its port) is up: its logs, its "
        "worker pool, the proxy in front of it",
    )


def _http(probe: Probe[Target], http: Http, client: Client, make: Make) -> list[Result]:
    t = probe.params
    out: list[Result] = []
    rest = probe.checks
    path, url = t.path, _url(t, t.path)
    chain = [url]
    response: Response | None = None
    problem: Result | None = None
    for _ in range(http.follow_redirects + 1):
        try:
            response = client.request("GET", path, timeout=probe.timeout, max_body=http.max_body)
        except HttpError as exc:
            problem = _no_answer(STATUS, exc, url, make, t.app)
            break
        location = response.headers.get("location")
        if response.status not in REDIRECTS or not location:
            break
        same, next_url, next_path = _same_origin(t, location, url)
        if not same or response.status in http.expect_status:
            break
        if next_url in chain:
            problem = make(
                STATUS,
                Status.FAIL,
                f"{t.url} redirects in a loop: {' -> '.join([*chain, next_url])}",
                expected=f"status {_statuses(http)}",
                observed=f"redirect loop after {len(chain)} requests",
                root_cause=f"{STATUS}|{t.app}|redirect-loop",
                hint="fix the application's redirect rules (often a scheme or host "
                "mismatch behind a proxy)",
                details={"redirects": [*chain, next_url]},
            )
            break
        chain.append(next_url)
        path, url = next_path, next_url
    else:
        problem = make(
            STATUS,
            Status.FAIL,
            f"{t.url} redirects more than {http.follow_redirects} times",
            expected=f"status {_statuses(http)}",
            observed=" -> ".join(chain),
            root_cause=f"{STATUS}|{t.app}|redirects",
            hint="fix the application's redirect rules",
            details={"redirects": chain},
        )
    if problem is not None:
        out.append(problem)
        out += [
            make(c, Status.SKIP, "not checked: no final answer (see http.status)")
            for c in (CONTENT, TIME)
            if c in rest
        ]
    else:
        assert response is not None
        out += _judge_answer(t, http, url, chain, response, make, rest)
    if http.login_redirect is not None:
        out.append(_login_redirect(probe, http, client, make))
    return out


def _statuses(http: Http) -> str:
    return " or ".join(str(s) for s in http.expect_status)


def _judge_answer(
    t: Target,
    http: Http,
    url: str,
    chain: list[str],
    response: Response,
    make: Make,
    rest: tuple[str, ...],
) -> list[Result]:
    out: list[Result] = []
    details = {"url": url, "status": response.status, "redirects": chain[1:]}
    observed = f"{response.status} {response.reason}".strip()
    location = response.headers.get("location")
    if location:
        observed += f" -> {location}"
    if response.status in http.expect_status:
        out.append(
            make(
                STATUS,
                Status.PASS,
                f"{url} answers {observed}",
                expected=f"status {_statuses(http)}",
                observed=observed,
                details=details,
            )
        )
    else:
        if response.status >= 500:
            hint = "the application is failing or down behind its web server: see its logs"
        elif response.status in (401, 403):
            hint = "the path needs a login: point http.path at a page anyone may read"
        elif response.status in REDIRECTS:
            hint = "the application redirects elsewhere: check its configured base URL"
        else:
            hint = "check the application's URL and http.path in the inventory"
        out.append(
            make(
                STATUS,
                Status.FAIL,
                f"{url} answers {observed}, expected {_statuses(http)}",
                expected=f"status {_statuses(http)}",
                observed=observed,
                hint=hint,
                root_cause=f"{STATUS}|{t.app}|{response.status}",
                details=details,
            )
        )
    if CONTENT in rest and http.expect_content is not None:
        if response.status in http.expect_status:
            out.append(_content(t, http, url, response, make))
        else:  # an error page's text is not the content check's business: one fault
            out.append(
                make(CONTENT, Status.SKIP, "not checked: unexpected status (see http.status)")
            )
    out.append(_time(t, http, url, response, make))
    return out


def _content(t: Target, http: Http, url: str, response: Response, make: Make) -> Result:
    want = http.expect_content or ""
    text = response.text()
    seen = f"{len(response.body)} bytes" + (
        f" (cut at {http.max_body})"
        if response.truncated
        else " (incomplete: the body did not finish in time)"
        if not response.complete
        else ""
    )
    if want in text:
        return make(
            CONTENT,
            Status.PASS,
            f"{url} contains {want!r}",
            expected=f"the body contains {want!r}",
            observed=seen,
        )
    return make(
        CONTENT,
        Status.FAIL,
        f"{url} does not contain {want!r}",
        expected=f"the body contains {want!r}",
        observed=f"{seen}: {text[:120]!r}",
        root_cause=f"{CONTENT}|{t.app}",
        hint="check what the application serves at that path (an error page, a "
        "maintenance page, another application behind the name)",
    )


def _time(t: Target, http: Http, url: str, response: Response, make: Make) -> Result:
    took = response.elapsed_ms
    budget = http.response_time_ms
    expected = f"a complete answer within {budget:g} ms"
    details = {"elapsed_ms": round(took, 1), "budget_ms": budget}
    if not response.complete:
        return make(
            TIME,
            Status.FAIL,
            f"{url} did not finish its answer within {took / 1000:.1f} s",
            expected=expected,
            observed=f"head received, body unfinished after {took:.0f} ms",
            root_cause=f"{TIME}|{t.app}|unfinished",
            hint="the application (or a proxy) stalls while sending: see its logs",
            details=details,
        )
    if took > budget:
        return make(
            TIME,
            Status.WARN,
            f"{url} answered in {took:.0f} ms, over the {budget:g} ms budget",
            expected=expected,
            observed=f"{took:.0f} ms",
            hint="find what slows the application from this site (network path, load)",
            details=details,
        )
    return make(
        TIME,
        Status.PASS,
        f"{url} answered in {took:.0f} ms",
        expected=expected,
        observed=f"{took:.0f} ms",
        details=details,
    )


def _login_redirect(probe: Probe[Target], http: Http, client: Client, make: Make) -> Result:
    t = probe.params
    lr = http.login_redirect
    assert lr is not None
    url = _url(t, lr.path)
    expected = f"a redirect to https://{lr.host}/..."
    try:
        response = client.request("GET", lr.path, timeout=probe.timeout, max_body=4096)
    except HttpError as exc:
        return _no_answer(REDIRECT, exc, url, make, t.app)
    location = response.headers.get("location", "")
    target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location)) if location else None
    observed = f"{response.status} {response.reason}".strip() + (
        f" -> {location}" if location else ""
    )
    details = {"url": url, "status": response.status, "location": location}
    if response.status in REDIRECTS and target is not None:
        host = (target.hostname or "").lower()
        if host == lr.host.lower():
            status = Status.PASS if target.scheme == "https" else Status.FAIL
            return make(
                REDIRECT,
                status,
                f"{url} redirects to the identity provider {lr.host}"
                + ("" if status is Status.PASS else " over plain http"),
                expected=expected,
                observed=observed,
                details=details,
                **(
                    {}
                    if status is Status.PASS
                    else {
                        "root_cause": f"{REDIRECT}|{t.app}|http",
                        "hint": "redirect to the identity provider's https:// URL",
                    }
                ),
            )
        return make(
            REDIRECT,
            Status.FAIL,
            f"{url} redirects to {host}, not to the identity provider {lr.host}",
            expected=expected,
            observed=observed,
            root_cause=f"{REDIRECT}|{t.app}|{host}",
            hint=f"point the application's SSO configuration at {lr.host}",
            details=details,
        )
    return make(
        REDIRECT,
        Status.FAIL,
        f"{url} does not redirect to the identity provider {lr.host}",
        expected=expected,
        observed=observed,
        root_cause=f"{REDIRECT}|{t.app}|none",
        hint=f"enable single sign-on with {lr.host} for the application",
        details=details,
    )


# --------------------------------------------------------------------------- pilots


def pilot_login(probe: Probe[Target], ctx: RunContext, http: Http) -> list[Result]:
    """One real login of one pilot account, lockout-safe, over a verified session."""
    t = probe.params
    pilot = http.pilot
    assert pilot is not None
    started = time.perf_counter()
    need = need_key(NeedKind.APPLICATION, t.app)
    realm, _, account = probe.account.rpartition("/")

    def make(status: Status, summary: str, **fields: Any) -> Result:
        return probe.result(
            status,
            summary,
            need=need,
            impact=f"the pilot's real login to {t.app} is what staff will do on Day 1",
            duration_ms=(time.perf_counter() - started) * 1000,
            **fields,
        )

    try:
        password = ctx.secret(t.credential).reveal()
        ca = _ca(ctx, t, http)
    except (SecretError, TrustError) as exc:
        return [
            make(
                Status.ERROR,
                f"pilot login not attempted: {exc}",
                root_cause=f"{PILOT}|{t.app}|setup",
                hint="fix the pilot's credential reference or the CA bundle",
            )
        ]
    try:
        reservation = ctx.ledger.reserve(
            realm,
            account,
            now=ctx.now(),
            sweep=ctx.sweep_id,
            family=FAMILY,
            max_failures=pilot.attempt_budget,
            window=dt.timedelta(hours=pilot.attempt_window_hours),
        )
    except BudgetExceeded as exc:
        return [
            make(
                Status.ERROR,
                f"pilot login not attempted: {exc}",
                expected="attempt budget available",
                observed=str(exc),
                root_cause=f"{PILOT}|{t.app}|budget",
                hint="fix the pilot's password and wait for the budget window, "
                "or raise attempt_budget deliberately",
            )
        ]
    found = _reach(probe, ctx)
    if found.stream is None:
        ctx.ledger.record(reservation, Outcome.NOT_SENT, "not sent")
        return [
            make(
                Status.ERROR,
                f"pilot login not attempted: {found.summary}",
                observed=found.observed,
                root_cause=found.root_cause,
                hint=found.hint,
            )
        ]
    stream: Stream = found.stream
    if t.https:
        try:
            context = client_context(ca, verify=http.verify_tls)
            context.check_hostname = http.verify_tls  # a password goes only to the right name
            HANDSHAKES.add()
            stream = start_tls(stream, server_name=t.host, context=context, timeout=probe.timeout)
        except (TlsError, ValueError) as exc:
            ctx.ledger.record(reservation, Outcome.NOT_SENT, "tls refused")
            return [
                make(
                    Status.ERROR,
                    f"pilot login not attempted: the TLS session is not trusted ({exc}); a "
                    "password is never sent over it",
                    observed=str(exc),
                    root_cause=f"{PILOT}|{t.app}|tls",
                    hint="see the application's tls.* results; fix the certificate",
                )
            ]
    client = Client(stream, _host_header(t))
    try:
        response = _send(client, pilot.method, t, pilot, password, probe.timeout)
    except HttpError as exc:
        # The credentials may have reached the server: counted, never retried.
        ctx.ledger.record(reservation, Outcome.FAILURE, exc.code)
        return [
            make(
                Status.ERROR,
                f"pilot login to {t.url} got no answer about the credential: {exc} (not retried)",
                observed=str(exc),
                root_cause=f"{PILOT}|{t.app}|{exc.code}",
                hint="see the application's http.status result",
            )
        ]
    finally:
        client.close()
    return [_pilot_verdict(probe, ctx, reservation, response, pilot, make)]


def _send(
    client: Client, method: str, t: Target, pilot: Any, password: str, timeout: float
) -> Response:
    if method == "basic":
        import base64

        token = base64.b64encode(f"{t.username}:{password}".encode()).decode("ascii")
        return client.request(
            "GET",
            pilot.path,
            headers={"Authorization": f"Basic {token}"},
            timeout=timeout,
            max_body=16384,
        )
    body = urllib.parse.urlencode(
        {pilot.username_field: t.username, pilot.password_field: password}
    ).encode()
    return client.request(
        "POST",
        pilot.path,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=body,
        timeout=timeout,
        max_body=16384,
    )


def _pilot_verdict(
    probe: Probe[Target],
    ctx: RunContext,
    reservation: Any,
    response: Response,
    pilot: Any,
    make: Callable[..., Result],
) -> Result:
    t = probe.params
    observed = f"{response.status} {response.reason}".strip()
    expected = f"status {' or '.join(map(str, pilot.success))}" + (
        f" and {pilot.success_content!r}" if pilot.success_content else ""
    )
    ok = response.status in pilot.success and (
        not pilot.success_content or pilot.success_content in response.text()
    )
    if ok:
        ctx.ledger.record(reservation, Outcome.SUCCESS, str(response.status))
        return make(
            Status.PASS,
            f"pilot {t.username} logs in to {t.app} ({pilot.method})",
            expected=expected,
            observed=observed,
        )
    ctx.ledger.record(reservation, Outcome.FAILURE, str(response.status))
    if response.status >= 500:
        return make(
            Status.ERROR,
            f"pilot login of {t.username} to {t.app}: the application answered {observed}, "
            "so the credential was not judged (not retried)",
            expected=expected,
            observed=observed,
            root_cause=f"{STATUS}|{t.app}|{response.status}",
            hint="see the application's http.status result",
        )
    return make(
        Status.FAIL,
        f"pilot {t.username} cannot log in to {t.app}: {observed} (not retried)",
        expected=expected,
        observed=observed,
        owner=t.owner,
        root_cause=f"{PILOT}|{t.app}|{t.username}",
        hint=f"check the pilot's password and account (remaining failed attempts before "
        f"the sweep stops trying: {reservation.remaining})",
    )
