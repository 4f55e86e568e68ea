"""The identity family: can every staff member log in on Day 1, and why not?

Per directory and sweep: one connection with the read-only service account and a
fixed number of paged searches (people, groups, policies), each asking only for the
attributes needed; every person's results are computed from that snapshot (shared
between batches with ``ctx.shared``). Pilot accounts additionally get one real bind
under the lockout-safety rules (fresh headroom read, at least ``min_headroom``
attempts left, the core's attempt ledger, one attempt per sweep, no retry).
Reading is in :mod:`.snapshot`, the per-person checks in :mod:`.assertions`, the
pilot login in :mod:`.pilot`; this module plans and runs them.

Checks (result ``check`` ids, one result per assertion):

* ``identity.account-exists``  found by username / upn / mail / employee number (a
                               ``warn`` when the entry disagrees with the HR record;
                               plausible near misses, each with why, when missing)
* ``identity.account-usable``  not disabled, not locked at go-live, start/end times
* ``identity.password-valid``  not expired at go-live, grace logins, normal rotation
                               before go-live (warn), must-change (warn, code
                               ``must-change``; fail if the programme says it blocks)
* ``identity.mail-attribute``  new-domain address present, old addresses kept
* ``identity.extension``       telephone extension
* ``identity.attributes``      attributes the inventory requires
* ``identity.group-member``    one per group the role / applications need (nested)
* ``identity.pilot-login``     a real bind for pilot accounts, with the credential for
                               that directory
* ``identity.srv``, ``tls.*``, ``identity.kdc``  the directory service itself
                               (:mod:`.services`; subject ``directories:<id>``)
* ``identity.service-bind``, ``identity.lockout-policy``  the sweep's own access
                               (subject ``family:identity``)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from readiness.family import CheckFamily, CheckSpec, HostRef, PlanContext, Probe, RunContext
from readiness.inventory.inventory import Inventory
from readiness.inventory.needs import NeedEdge, NeedKind
from readiness.problems import Problem
from readiness.results import Result, Status

from .assertions import PersonAssertions
from .check_ids import (
    ATTRIBUTES,
    EXISTS,
    EXTENSION,
    FAMILY,
    GROUP,
    KDC,
    LOCKOUT_POLICY,
    MAIL,
    PASSWORD,
    PILOT,
    SERVICE_BIND,
    SRV,
    TLS_CHECKS,
    USABLE,
)
from .client import DirectoryError, Endpoint
from .config import Directory
from .evaluation import DirectoryEvaluation
from .pilot import PilotLogin
from .services import DirectoryServices, access_results, origin_of
from .snapshot import MATCH_FIELD, Snapshot, _is_secret_attribute, _key_of, _scope, fetch

SELF = f"family:{FAMILY}"
TLS_TITLES = {
    "tls.handshake": "offered (a TLS session)",
    "tls.certificate-chain": "the certificate chains to the CA bundle",
    "tls.certificate-name": "the certificate names the directory's host",
    "tls.certificate-valid": "the certificate is valid at go-live",
    "tls.protocol": "TLS 1.2 or later",
    "tls.key": "a strong enough key and signature",
}  # the subject of what concerns the sweep's own access


@dataclass(frozen=True)
class InDirectory:
    """The parameters of every identity probe: which directory; for the service checks,
    the resolvers of the sites the probe speaks for, in order."""

    directory: str
    resolvers: tuple[str, ...] = ()


def directories(inventory: Inventory) -> dict[str, Directory]:
    return inventory.section("directories", Directory)


class IdentityFamily(CheckFamily[InDirectory]):
    name = "identity"
    description = (
        "Every staff member's account exists, is usable at go-live, carries the "
        "attributes and groups the role needs; pilot accounts can really log in"
    )
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {"directories": Directory}
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(
            EXISTS,
            "the account exists (found by username, UPN, mail or employee number) and agrees "
            "with the HR record",
            NeedKind.ACCOUNT,
        ),
        CheckSpec(
            USABLE,
            "the account is usable at go-live (not disabled, locked, ended)",
            NeedKind.ACCOUNT,
        ),
        CheckSpec(PASSWORD, "the password is valid at go-live", NeedKind.ACCOUNT),
        CheckSpec(
            MAIL, "the directory carries the new address and keeps the old ones", NeedKind.MAILBOX
        ),
        CheckSpec(EXTENSION, "the directory carries the person's extension", NeedKind.PHONE),
        CheckSpec(
            ATTRIBUTES, "the attributes the inventory requires are present", NeedKind.ACCOUNT
        ),
        CheckSpec(
            GROUP, "a member of each group the role and its applications need", NeedKind.ACCOUNT
        ),
        CheckSpec(PILOT, "a pilot account really logs in (lockout-safe)", NeedKind.ACCOUNT),
        CheckSpec(SRV, "the directory's LDAP and Kerberos SRV records resolve"),
        CheckSpec(KDC, "the KDCs the Kerberos SRV record names accept connections"),
        *(CheckSpec(c, f"the directory's LDAPS and StartTLS: {TLS_TITLES[c]}") for c in TLS_CHECKS),
        CheckSpec(SERVICE_BIND, "the read-only service account binds and reads"),
        CheckSpec(LOCKOUT_POLICY, "the lockout policy is readable (or declared absent)"),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset(
        {NeedKind.ACCOUNT, NeedKind.MAILBOX, NeedKind.PHONE}
    )
    reads: ClassVar[Sequence[str]] = (
        "directories.*",
        "staff.*.username",
        "staff.*.upn",
        "staff.*.employee_number",
        "staff.*.name",
        "staff.*.new_mail",
        "staff.*.old_mail",
        "staff.*.extension",
        "staff.*.attributes",
        "staff.*.pilot",
        "staff.*.credential",
        "staff.*.credentials",
        "staff.*.tags",
        "roles.*.groups",
        "roles.*.applications",
        "roles.*.extension",
        "roles.*.mailbox",
        "organisations.*.mail_domains",
        "organisations.*.ca_bundle",
        "programme.passwords",
        "programme.resolvers",
        "sites.*.resolvers",
        "sites.*.vantage_points",
    )
    default_timeout = 10.0

    # -- inventory-level hooks ------------------------------------------------------
    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        for dir_id, d in directories(inventory).items():
            for org in d.organisations:
                if org not in inventory.organisations:
                    yield Problem(
                        inventory.where("directories", dir_id, "organisations"),
                        f"directory {dir_id} names unknown organisation {org!r}",
                        "known organisations: " + ", ".join(sorted(inventory.organisations)),
                    )
            if d.checked_from not in ("sites", "central") and (
                d.checked_from not in inventory.declared_ids("vantage_points")
            ):
                yield Problem(
                    inventory.where("directories", dir_id, "checked_from"),
                    f"directory {dir_id}: checked_from names unknown vantage point "
                    f"{d.checked_from!r}",
                    "use central, sites or a vantage point id",
                )
            try:
                endpoint = Endpoint.parse(d.url)
            except DirectoryError as exc:
                yield Problem(inventory.where("directories", dir_id, "url"), exc.message)
                continue
            if endpoint.scheme == "ldap" and not d.start_tls and not d.allow_cleartext_bind:
                yield Problem(
                    inventory.where("directories", dir_id, "url"),
                    f"directory {dir_id}: ldap:// without start_tls would send the "
                    "bind password in clear",
                    "use ldaps://, or start_tls: true (allow_cleartext_bind: true only for a lab)",
                )
            for app in d.application_groups:
                if app not in inventory.applications:
                    yield Problem(
                        inventory.where("directories", dir_id, "application_groups"),
                        f"directory {dir_id}: unknown application {app!r}",
                    )
            for n, name in enumerate(d.required_attributes):
                if _is_secret_attribute(name):
                    yield Problem(
                        inventory.where("directories", dir_id, "required_attributes", n),
                        f"directory {dir_id}: required_attributes names {name!r}, which holds "
                        "password material; its values would be copied into results",
                        "remove it: the identity family never reads password attributes",
                    )
        found = directories(inventory)
        for i, person in enumerate(inventory.staff):
            for name in person.attributes:
                if _is_secret_attribute(name):
                    yield Problem(
                        inventory.where_staff(i, "attributes", name),
                        f"{person.key}: attributes names {name!r}, which holds password "
                        "material; its value would be copied into results",
                        "remove it (a password never belongs in the inventory)",
                    )
            for dir_id, d in sorted(found.items()):
                if d.match != "username" and _scope(d, person) and not _key_of(d, person):
                    field_name = MATCH_FIELD[d.match]
                    yield Problem(
                        inventory.where_staff(i, field_name),
                        f"{person.key} has no {field_name}, which directory {dir_id} "
                        f"(match: {d.match}) needs to find the account",
                        f"add {field_name} to the person's record (or change the "
                        "directory's match)",
                    )

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        for dir_id, d in directories(inventory).items():
            try:
                host = Endpoint.parse(d.url).host
            except DirectoryError:
                continue
            yield HostRef(host, f"directories:{dir_id}", d.owner)

    def needs(self, inventory: Inventory) -> Iterable[NeedEdge]:
        found = directories(inventory)
        for person in inventory.staff:
            for dir_id, d in found.items():
                if _scope(d, person):
                    yield NeedEdge(person.key, NeedKind.ACCOUNT.value, f"directories:{dir_id}")

    # -- plan ------------------------------------------------------------------------
    def plan(self, ctx: PlanContext) -> Iterator[Probe[InDirectory]]:
        for dir_id, d in sorted(directories(ctx.inventory).items()):
            try:
                endpoint = Endpoint.parse(d.url)
            except DirectoryError:
                continue
            yield from self._plan_people(ctx, dir_id, d, endpoint)
            yield from self._plan_services(ctx, dir_id, d)

    def _plan_people(
        self, ctx: PlanContext, dir_id: str, d: Directory, endpoint: Endpoint
    ) -> Iterator[Probe[InDirectory]]:
        target = f"directories:{dir_id}"
        batch = f"identity:{dir_id}"
        params = InDirectory(dir_id)
        people = [person for person in ctx.staff if _scope(d, person)]
        if not people:
            return  # nobody selected has an account here: nothing to read
        yield Probe(
            FAMILY,
            SERVICE_BIND,
            SELF,
            target,
            params,
            also=(LOCKOUT_POLICY,),
            server=endpoint.server_key,
            batch=batch,
            timeout=d.timeout,
            summary=f"bind to {dir_id} as the service account; read its lockout policy",
        )
        for person in people:
            key = _key_of(d, person)
            yield Probe(
                FAMILY,
                EXISTS,
                person.key,
                target,
                params,
                also=(USABLE, PASSWORD, MAIL, EXTENSION, ATTRIBUTES, GROUP),
                server=endpoint.server_key,
                batch=batch,
                timeout=d.timeout,
                summary=f"look up {key or person.id} ({d.match}) in {dir_id} and check "
                "usability, password, mail, extension, attributes and groups",
            )
            if person.pilot:
                has_credential = person.credential_for(dir_id) is not None
                yield Probe(
                    FAMILY,
                    PILOT,
                    person.key,
                    target,
                    params,
                    server=endpoint.server_key,
                    batch=batch,
                    timeout=d.timeout,
                    lockout_cost=1 if has_credential else 0,
                    account=f"{dir_id}/{key or person.id}",
                    summary=(
                        f"one real bind as {key} on {d.url} "
                        f"({'StartTLS' if d.start_tls else endpoint.scheme}); lockout cost 1 "
                        f"attempt, only with >= {d.min_headroom} attempts of headroom"
                        if has_credential
                        else f"no bind: the pilot has no credential for {dir_id}"
                    ),
                )

    def _plan_services(
        self, ctx: PlanContext, dir_id: str, d: Directory
    ) -> Iterator[Probe[InDirectory]]:
        if not (d.srv_wanted or d.tls_services):
            return
        for vantage, sites in ctx.routes("directories", dir_id).items():
            resolvers = ctx.route_resolvers(vantage, sites)
            yield Probe(
                FAMILY,
                SRV,
                f"directories:{dir_id}",
                f"directories:{dir_id}",
                InDirectory(dir_id, resolvers),
                also=(KDC, *TLS_CHECKS),
                vantage=vantage,
                server=Endpoint.parse(d.url).server_key,
                batch=f"identity-services:{dir_id}@{vantage}",
                timeout=d.timeout,
                sites=sites,
                summary=f"{dir_id} from {vantage}: SRV records "
                f"{', '.join(d.srv_wanted) or 'none'}, TLS {', '.join(d.tls_services) or 'none'}"
                + (", the KDCs" if "kerberos" in d.srv_wanted else ""),
            )

    # -- run -------------------------------------------------------------------------
    def run(self, probes: Sequence[Probe[InDirectory]], ctx: RunContext) -> Iterator[Result]:
        by_dir: dict[str, list[Probe[InDirectory]]] = {}
        for probe in probes:
            if probe.check == SRV:
                directory = directories(ctx.inventory)[probe.params.directory]
                services = DirectoryServices(probe.params.directory, directory, ctx)
                yield from services.run(probe, list(probe.params.resolvers))
                continue
            by_dir.setdefault(probe.params.directory, []).append(probe)
        for dir_id, group in by_dir.items():
            yield from self._run_directory(dir_id, group, ctx)

    def _snapshot(self, dir_id: str, ctx: RunContext) -> Snapshot | BaseException:
        directory = directories(ctx.inventory)[dir_id]
        server = Endpoint.parse(directory.url).server_key

        def compute() -> Snapshot:
            with ctx.limit(server, directory.max_concurrency):
                return fetch(dir_id, directory, ctx)

        value = ctx.shared(("identity-snapshot", dir_id), compute)
        assert isinstance(value, (Snapshot, BaseException))
        return value

    def _run_directory(
        self, dir_id: str, probes: list[Probe[InDirectory]], ctx: RunContext
    ) -> Iterator[Result]:
        directory = directories(ctx.inventory)[dir_id]
        started = time.perf_counter()
        snap = self._snapshot(dir_id, ctx)
        for probe in probes:
            if probe.subject == SELF:
                yield from access_results(probe, dir_id, directory, snap)
        probes = [p for p in probes if p.subject != SELF]
        if isinstance(snap, BaseException):
            yield from self._directory_error(dir_id, directory, probes, snap, started)
            return
        ev = DirectoryEvaluation(
            dir_id, directory, snap, ctx, lambda other: self._snapshot(other, ctx)
        )
        # The directory was read once for the whole batch: share its time out.
        ev.duration_ms = snap.seconds * 1000 / max(1, len(probes))
        assertions, pilot = PersonAssertions(ev), PilotLogin(ev)
        for probe in probes:
            person = ctx.inventory.staff_by_key.get(probe.subject)
            if person is None:
                continue
            if probe.check == PILOT:
                yield from pilot.pilot(probe, person)
            else:
                yield from assertions.person(probe, person)

    def _directory_error(
        self,
        dir_id: str,
        directory: Directory,
        probes: list[Probe[InDirectory]],
        exc: BaseException,
        started: float,
    ) -> Iterator[Result]:
        if isinstance(exc, DirectoryError):
            code, message, hint = exc.code, exc.message, exc.hint
        elif isinstance(exc, ImportError):
            code, message, hint = (
                "module",
                f"the {directory.kind} evaluation module is not available: {exc}",
                "install the complete package",
            )
        else:
            code, message, hint = (
                "crash",
                f"{type(exc).__name__}: {exc}",
                "a defect in the identity family; report the message",
            )
        ms = (time.perf_counter() - started) * 1000
        for probe in probes:
            what = (
                "the pilot login was not attempted"
                if probe.check == PILOT
                else ("the account could not be checked")
            )
            yield probe.result(
                Status.ERROR,
                f"{what}: could not read directory {dir_id}: {message}",
                expected=f"directory {dir_id} answers the read-only service account",
                observed=message,
                impact="whether this person can log in on Day 1 is unknown",
                hint=hint,
                root_cause=f"identity.directory|{dir_id}|{code}",
                owner=directory.owner,
                duration_ms=ms,
                details={"directory": dir_id, "error": code},
                origin=origin_of(code),
            )
