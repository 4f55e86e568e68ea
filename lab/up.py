"""Bring the whole lab up and down: the glue between the estate and the servers.

Public API::

    report = up(UpOptions(staff=150, seed=1, state=Path(".lab")))   # -> LabReport
    report.ok, report.components, report.seconds, report.slot
    down(Path(".lab"))            # -> list of stopped process names
    status(Path(".lab"))          # -> list of (name, pid, alive, where)
    render(Path("out"), staff=150, seed=1)   # the inventory only, no servers

Every address comes from the lab's slot (lab/slot.py): ``UpOptions.slot`` 77 by
default, another number, or None for a free one. :func:`up` claims it first
(lab/claim.py; refused while another live lab holds it) and records it in
``<state>/lab.json`` before anything starts, so :func:`down` and :func:`status` find
it; :func:`down` releases the claim.

Order of :func:`up`: ground truth -> CA -> secrets -> network namespaces (site
resources, the blocked flow, the internet and its perimeter) -> SSH jump hosts ->
BIND -> slapd x2 -> Samba AD DC -> nginx -> postfix -> SIP -> the inventory and lab
facts. A component that fails is reported with its error and the rest still comes up
(what depends on it is skipped); ``report.ok`` is then False and ``lab up`` exits
non-zero. Everything started is recorded in ``<state>/pids.json`` (lab/process.py) and in
``<state>/lab.json``; :func:`down` stops it all by PID and removes the namespaces
and addresses the lab added (only while its slot is still its own).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import claim, dns, gateway, internet, writer
from .ca import LabCA
from .estate import DEFAULT_SEED, DEFAULT_STAFF, INTERNET, SHARED_DOMAIN, Estate, Person, generate
from .faults import (
    ACCOUNT_DISABLED,
    ACCOUNT_LOCKED,
    ACCOUNT_MISSING,
    APP_503,
    CERT_EXPIRED,
    CERT_EXPIRING,
    CERT_UNKNOWN_CA,
    CERT_WRONG_HOST,
    DIRECTORY_NUMBER_MISMATCH,
    EXTENSION_UNREGISTERED,
    FLOW_BLOCKED,
    GROUP_MISSING,
    HR_MISMATCH,
    MAIL_MISSING,
    MAIL_WRONG_DOMAIN,
    MAILBOX_GREYLISTED,
    MAILBOX_REJECTED,
    PASSWORD_EXPIRED,
    PASSWORD_MUST_CHANGE,
    SIP_CERT_WRONG_HOST,
    SIP_ENDPOINT_503,
    SIP_ENDPOINT_DOWN,
    WRONG_HOST,
    FaultPlan,
    choose,
    with_faults,
)
from .process import LabError, Supervisor, alive, recorded
from .slot import DEFAULT, DEFAULT_SLOT, Slot

if TYPE_CHECKING:
    from . import web
    from .slapd import PersonSpec

__all__ = [
    "COMPONENTS",
    "Component",
    "LabReport",
    "UpOptions",
    "components",
    "down",
    "render",
    "restart_note",
    "slot_of",
    "status",
    "up",
    "web_apps",
]

COMPONENTS = ("net", "ssh", "dns", "slapd", "samba", "web", "mail", "sip")
REQUIRES = {"ssh": "net"}


@dataclass
class UpOptions:
    staff: int = DEFAULT_STAFF
    seed: int = DEFAULT_SEED
    state: Path = Path(".lab")
    samba: bool = True
    only: frozenset[str] | None = None  # None: every component
    faults: bool = True
    force_loopback: bool = False  # skip namespaces even where they work
    slot: int | None = DEFAULT  # None: a free one (``--slot auto``)

    def wanted(self, component: str) -> bool:
        if component == "samba" and not self.samba:
            return False
        if self.only is None:
            return True
        return component in self.only or any(REQUIRES.get(c) == component for c in self.only)


@dataclass
class Component:
    name: str
    status: str  # up | failed | skipped
    where: str = ""
    seconds: float = 0.0
    error: str = ""


@dataclass
class LabReport:
    state: Path
    staff: int
    seed: int
    slot: int
    namespaces: bool
    components: list[Component] = field(default_factory=list)
    seconds: float = 0.0
    faults: int = 0

    @property
    def ok(self) -> bool:
        return not any(c.status == "failed" for c in self.components)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["ok"] = self.ok
        return data


Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------- render


def render(
    out: Path,
    staff: int = DEFAULT_STAFF,
    seed: int = DEFAULT_SEED,
    *,
    namespaces: bool = True,
    state: Path = Path(writer.DEFAULT_STATE),
    slot: Slot = DEFAULT_SLOT,
) -> list[Path]:
    """Write the inventory of the estate (no servers, no secrets): what ``lab up
    --state STATE --slot N`` writes (only the state folder's name matters: see
    :func:`readiness_lab.writer.state_paths`)."""
    estate = generate(staff, seed, slot)
    return writer.write_inventory(
        with_faults(estate, choose(estate)),
        out,
        namespaces=namespaces,
        state_name=state.resolve().name,
    )


# --------------------------------------------------------------------------- up


class _Run:
    """One ``lab up``: the shared context of the component steps."""

    def __init__(self, opts: UpOptions, slot: Slot, say: Say) -> None:
        self.opts = opts
        self.say = say
        self.slot = slot
        self.state = opts.state.resolve()
        self.sup = Supervisor(self.state)
        estate = generate(opts.staff, opts.seed, slot)
        self.plan: FaultPlan = choose(estate, enabled=opts.faults)
        # The faults that change the estate's data (an extension handed to two people).
        self.estate: Estate = with_faults(estate, self.plan)
        self.ca = LabCA(self.state / "ca")
        self.now = dt.datetime.now(dt.UTC)
        self.namespaces = False
        self.hosts: dict[str, str] = self.estate.hosts(namespaces=False)
        self.secrets: dict[str, str] = {}
        self.report = LabReport(
            self.state, opts.staff, opts.seed, slot.number, False, faults=len(self.plan.faults)
        )

    def step(self, name: str, action: Callable[[], str], *, needs: Iterable[str] = ()) -> None:
        if not self.opts.wanted(name):
            self.report.components.append(Component(name, "skipped", "not asked for"))
            self.say(f"  {name:<6} skipped (not asked for)")
            return
        missing = [n for n in needs if not self.is_up(n)]
        if missing:
            self.report.components.append(
                Component(name, "failed", error=f"needs {', '.join(missing)}, which is not up")
            )
            self.say(f"  {name:<6} FAILED  needs {', '.join(missing)}")
            return
        t0 = time.perf_counter()
        try:
            where = action()
        except (LabError, OSError, ValueError) as exc:
            seconds = time.perf_counter() - t0
            self.report.components.append(
                Component(name, "failed", seconds=seconds, error=str(exc))
            )
            self.say(f"  {name:<6} FAILED  ({seconds:.1f}s)\n" + _indent(str(exc)))
            return
        seconds = time.perf_counter() - t0
        self.report.components.append(Component(name, "up", where, seconds))
        self.say(f"  {name:<6} up      {where}  ({seconds:.1f}s)")

    def is_up(self, name: str) -> bool:
        return any(c.name == name and c.status == "up" for c in self.report.components)

    def write_report(self) -> None:
        (self.state / "lab.json").write_text(json.dumps(self.report.to_json(), indent=1) + "\n")

    # ------------------------------------------------------------------ components

    def net(self) -> str:
        from . import netns

        fallback = self.opts.force_loopback or not netns.namespaces_available()
        blocks = []
        for f in self.plan.of_kind(FLOW_BLOCKED):
            dst = f.detail("fallback_dst") if fallback else f.detail("dst")
            blocks.append(netns.Block(f.detail("src_net"), dst, int(f.detail("port"))))
        spec = netns.NetSpec(
            resources=[netns.Resource(r.id, r.site, (r.port,)) for r in self.estate.resources],
            blocks=blocks,
            force_loopback=fallback,
            slot=self.slot,
        )
        net = netns.start(spec, self.sup)
        self.namespaces = not net.fallback
        self.report.namespaces = self.namespaces
        self.hosts = self.estate.hosts(namespaces=self.namespaces)
        for r in self.estate.resources:
            self.hosts[r.host] = net.resources[r.id][0]
        for site_id, s in net.sites.items():
            site = self.estate.site(site_id)
            self.hosts[site.jump_host(self.estate.org(site.organisation).domain)] = s.jump_address
        outside = ""
        if not net.fallback:
            gateway.start(self.slot, self.hosts.values())
            perimeter = internet.perimeter(self.estate, self.plan)
            outside = "; internet " + internet.start(self.slot, perimeter)
        if net.fallback:
            return "FELL BACK to loopback (no network namespaces here): resources on " + ", ".join(
                f"{k} {v[0]}" for k, v in sorted(net.resources.items())
            )
        return (
            f"namespaces {self.slot.router_ns}, "
            + ", ".join(f"{s.netns} {s.subnet}" for s in net.sites.values())
            + "; resources "
            + ", ".join(f"{k} {v[0]}:{v[1][0]}" for k, v in sorted(net.resources.items()))
            + outside
        )

    def ssh(self) -> str:
        from . import netns, ssh

        net = netns.load(self.sup)
        if net is None:
            raise LabError("the site network is not up (no net.json)")
        jumps = []
        for site_id, s in sorted(net.sites.items()):
            site = self.estate.site(site_id)
            name = site.jump_host(self.estate.org(site.organisation).domain)
            jumps.append(ssh.JumpHost(site_id, s.jump_address, s.jump_port, s.netns, (name,)))
        if self.namespaces:  # the internet's vantage point (lab/internet.py)
            address = internet.jump_address(self.slot)
            jumps.append(ssh.JumpHost(INTERNET, address, 22, self.slot.internet_ns))
        lab = ssh.start(ssh.SshSpec(jumps), self.sup)
        # A vantage point handed over without its host keys: `readiness vantage trust`.
        untrusted = self.state / writer.UNTRUSTED_KNOWN_HOSTS
        untrusted.write_text(writer.UNTRUSTED_NOTE)
        key = lab.private_key.read_text()
        extra = {f"{s.vantage_point}.key": key for s in self.estate.sites if s.vantage_point}
        if self.namespaces:
            extra[f"{INTERNET}.key"] = key
        self.secrets |= writer.write_secrets(self.estate, self.state / "secrets", extra)
        return ", ".join(f"{s}-jump {a}:{p}" for s, (a, p) in sorted(lab.hosts.items()))

    def dns(self) -> str:
        from . import sip

        site_hosts = gateway.site_hosts(self.hosts, self.slot) if self.namespaces else None
        info = dns.start(
            self.estate,
            self.plan,
            self.sup,
            self.state,
            hosts=self.hosts,
            site_hosts=site_hosts,
            site_listen=self.slot.dns_site if site_hosts else "",
            sip_tls=sip.tls_available(),
        )
        return f"named pid {info.pid} on " + ", ".join(f"{a}:53" for a in info.listen)

    def slapd(self) -> str:
        from . import slapd

        where = []
        for org in self.estate.organisations:
            directory = self.estate.directory(org.directory_id)
            people = self.estate.people_of(org.id)
            specs = [self._ldap_person(p, directory.id) for p in people]
            uid = {p.key: spec.uid for p, spec in zip(people, specs, strict=True)}
            members: dict[str, list[str]] = {g: [] for g in self.estate.groups}
            for p in people:
                fault = self.plan.for_subject(p.key)
                dropped = {
                    f.detail("group")
                    for f in fault
                    if f.kind == GROUP_MISSING and f.target == directory.id
                }
                for g in p.groups:
                    if g not in dropped:
                        members[g].append(uid[p.key])
            spec = slapd.DirectorySpec(
                org=org.id,
                base_dn=org.base_dn,
                host=org.ldap_ip,
                dns_name=org.ldap_host,
                people=specs,
                groups=[slapd.GroupSpec(g, sorted(set(m))) for g, m in members.items()],
                # Locks last until an administrator resets them (pwdLockoutDuration 0),
                # so a lockout injected today still blocks the person on go-live day.
                policies=(slapd.PolicySpec("default", lockout_duration=0),),
                service_password=self.secrets[directory.bind_secret],
                admin_password=writer.new_password(),
                organisation_name=org.name,
            )
            info = slapd.start_slapd(spec, self.sup, self.ca, self.state, now=self.now)
            where.append(
                f"{org.id} {info.ldap_url} + {info.ldaps_url} "
                f"({info.entries} entries, pid {info.pid})"
            )
        return "; ".join(where)

    def _ldap_person(self, p: Person, directory: str) -> PersonSpec:
        from . import slapd as m

        kind = self.plan.person_fault(directory, p)
        mail = [p.new_mail, *p.old_mail] if p.new_mail else list(p.old_mail)
        spec = m.PersonSpec(
            uid=p.username,
            given_name=p.given,
            sn=p.surname,
            password=self.secrets[p.credential_secret] if p.pilot else writer.new_password(),
            mail=mail,
            telephone_number=p.extension,
            employee_number=p.id,
            title=", ".join(self.estate.role(r).description for r in p.roles),
            ou=p.site,
        )
        if p.kind == "leaver":
            spec.locked_time = m.PERMANENT_LOCK
        if kind == ACCOUNT_MISSING:
            spec.present = False
        elif kind == ACCOUNT_DISABLED:
            spec.locked_time = m.PERMANENT_LOCK
        elif kind == ACCOUNT_LOCKED:
            spec.locked_time = self.now
            spec.failure_times = [self.now - dt.timedelta(seconds=i) for i in range(3)]
        elif kind == PASSWORD_EXPIRED:
            spec.pwd_changed_time = self.now - dt.timedelta(days=120)
        elif kind == PASSWORD_MUST_CHANGE:
            spec.pwd_reset = True
        elif kind == MAIL_MISSING:
            spec.mail = []
        elif kind == MAIL_WRONG_DOMAIN:
            spec.mail = list(p.old_mail)
        elif kind == DIRECTORY_NUMBER_MISMATCH:
            fault = next(f for f in self.plan.for_subject(p.key) if f.target == directory)
            spec.telephone_number = fault.detail("directory")
        elif kind == HR_MISMATCH:
            (fault,) = [f for f in self.plan.for_subject(p.key) if f.kind == HR_MISMATCH]
            spec.uid, spec.sn = fault.detail("username"), fault.detail("surname")
        return spec

    def samba(self) -> str:
        from . import samba

        ad = next(d for d in self.estate.directories if d.kind == "ad")
        users = []
        for p in self.estate.migrated:
            kind = self.plan.person_fault(ad.id, p)
            dropped = {
                f.detail("group")
                for f in self.plan.for_subject(p.key)
                if f.kind == GROUP_MISSING and f.target == ad.id
            }
            users.append(
                samba.ADUserSpec(
                    username=p.ad_username,
                    given_name=p.given,
                    surname=p.surname,
                    # A pilot's AD password is not its council one (credentials per directory).
                    password=self.secrets[p.ad_credential_secret]
                    if p.pilot
                    else writer.new_password(),
                    mail=p.new_mail or None,
                    proxy_addresses=[f"smtp:{a}" for a in p.old_mail],
                    telephone=p.extension or None,
                    groups=[g for g in p.groups if g not in dropped],
                    organisation=p.organisation,
                    employee_id=p.id,
                    present=kind != ACCOUNT_MISSING,
                    disabled=kind == ACCOUNT_DISABLED,
                    lock=kind == ACCOUNT_LOCKED,
                    must_change=kind == PASSWORD_MUST_CHANGE,
                    # Older than the domain's maximum password age (90 days): expired.
                    password_age=dt.timedelta(days=120) if kind == PASSWORD_EXPIRED else None,
                )
            )
        spec = samba.SambaSpec(
            address=self.slot.ad,
            users=users,
            groups=[samba.ADGroupSpec(g) for g in self.estate.groups],
            service_password=self.secrets[ad.bind_secret],
            admin_password=writer.new_password(),
            # As in the directories: a lock lasts until an administrator unlocks it.
            policy=samba.DomainPolicySpec(
                lockout_duration_minutes=0, reset_lockout_after_minutes=30
            ),
        )
        info = samba.start_samba(spec, self.sup, self.ca, self.state, now=self.now)
        return (
            f"{info.realm} {info.ldaps_url} ({info.accounts} accounts, "
            f"{len(info.locked)} locked, pid {info.pid})"
        )

    def web(self) -> str:
        from . import web

        apps = web_apps(self.estate, self.plan)
        pilots = {p.username: self.secrets[p.credential_secret] for p in self.estate.pilots}
        spec = web.WebSpec(apps, pilots, address=self.slot.web, go_live=self.estate.go_live)
        lab = web.start(spec, self.sup, self.ca)
        return f"nginx https://{self.slot.web}:443 for " + ", ".join(sorted(lab.url))

    def mail(self) -> str:
        from . import mail

        needs_box = {r.id for r in self.estate.roles if r.mailbox}
        boxes = sorted(
            {p.new_mail for p in self.estate.staff if p.new_mail and needs_box & set(p.roles)}
            | {a for p in self.estate.staff for a in p.old_mail}
        )
        rejected = sorted(f.detail("address") for f in self.plan.of_kind(MAILBOX_REJECTED))
        domains = [SHARED_DOMAIN, *(o.domain for o in self.estate.organisations)]
        deferred = sorted(f.detail("address") for f in self.plan.of_kind(MAILBOX_GREYLISTED))
        spec = mail.MailSpec(boxes, domains, rejected, address=self.slot.mail, deferred=deferred)
        mail.start(spec, self.sup, self.ca)
        return f"postfix smtp://{self.slot.mail}:25 (STARTTLS), {len(boxes)} addresses"

    def sip(self) -> str:
        from . import sip

        down = {f.subject for f in self.plan.of_kind(SIP_ENDPOINT_DOWN)}
        unregistered = {f.subject for f in self.plan.of_kind(EXTENSION_UNREGISTERED)}
        numbers = {p.extension: p.key for p in self.estate.staff if p.extension}
        extensions = [
            sip.Extension(number, registered=key not in unregistered)
            for number, key in sorted(numbers.items())
        ]
        endpoints = [
            sip.Endpoint(e.id, e.ip, e.port, up=f"telephony_endpoints:{e.id}" not in down)
            for e in self.estate.sip_endpoints
        ]
        answering_503 = {f.subject for f in self.plan.of_kind(SIP_ENDPOINT_503)}
        wrong_name = {f.subject for f in self.plan.of_kind(SIP_CERT_WRONG_HOST)}
        sbcs = [
            sip.TlsEndpoint(
                e.id,
                e.ip,
                e.port,
                names=(WRONG_HOST,) if f"telephony_endpoints:{e.id}" in wrong_name else (e.host,),
                code=503 if f"telephony_endpoints:{e.id}" in answering_503 else 200,
            )
            for e in self.estate.sbcs
        ]
        spec = sip.SipSpec(
            extensions,
            endpoints,
            address=self.slot.sip,
            phones_address=self.slot.sip_phones,
            tls=True if sbcs else None,
            tls_endpoints=sbcs,
        )
        lab = sip.start(spec, self.sup, self.ca)
        host, port = lab.registrar
        tls = f", sips:{lab.tls[0]}:{lab.tls[1]}" if lab.tls else " (no TLS module)"
        return (
            f"kamailio sip:{host}:{port} (udp+tcp){tls}, {len(lab.registered)} of "
            f"{len(extensions)} extensions registered; endpoints up: "
            + ", ".join(f"{n} {a}:{p}" for n, (a, p) in sorted(lab.endpoints.items()))
            + "; TLS endpoints: "
            + ", ".join(f"{n} {a}:{p}" for n, (a, p) in sorted(lab.tls_endpoints.items()))
        )


def web_apps(estate: Estate, plan: FaultPlan) -> list[web.App]:
    """The applications nginx serves (lab/web.py), each with its fault of ``plan``, and
    the SSO login front."""
    from . import web

    faults: dict[str, web.Fault] = {
        CERT_EXPIRED: "expired",
        CERT_WRONG_HOST: "wrong-name",
        APP_503: "503",
        CERT_UNKNOWN_CA: "unknown-ca",
        CERT_EXPIRING: "expiring",
    }
    by_app = {
        f.subject.removeprefix("applications:"): fault
        for kind, fault in faults.items()
        for f in plan.of_kind(kind)
    }
    login = f"login.{SHARED_DOMAIN}"
    apps = [
        web.App(
            a.id,
            a.host,
            a.name,
            by_app.get(a.id),
            pilot_auth=True,
            sso_redirect=f"https://{login}/sso?app={a.id}" if a.sso else None,
            form_login=a.form_login,
            address=estate.slot.remote_access if a.remote_access else None,
        )
        for a in estate.applications
    ]
    return [*apps, web.App("login", login, "Vale Shared sign-in")]


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-15:])


def up(opts: UpOptions, say: Say = _quiet) -> LabReport:
    """Bring the lab up in ``opts.state``; see the module docstring."""
    t0 = time.perf_counter()
    if opts.only is not None:
        unknown = sorted(opts.only - set(COMPONENTS))
        if unknown:
            raise ValueError(
                f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}"
            )
    state = opts.state.resolve()
    note = restart_note(state)
    if note:
        say(note)
        down(state)
    run = _Run(opts, Slot(claim.claim(state, opts.slot)), say)
    say(
        f"lab up: {opts.staff} staff per organisation, seed {opts.seed}, slot {run.slot.number}, "
        f"state {run.state}"
    )
    run.write_report()  # the slot is on record before anything starts
    run.plan.write(run.state)
    run.secrets = writer.write_secrets(run.estate, run.state / "secrets")
    say(f"  {'ca':<6} up      {run.ca.cert_path}")
    run.step("net", run.net)
    run.step("ssh", run.ssh, needs=["net"])
    run.step("dns", run.dns)
    run.step("slapd", run.slapd)
    run.step("samba", run.samba)
    run.step("web", run.web)
    run.step("mail", run.mail)
    run.step("sip", run.sip)
    inventory = run.state / "inventory"
    writer.write_inventory(
        run.estate, inventory, namespaces=run.namespaces, state_name=run.state.name
    )
    writer.write_facts(run.estate, run.state, namespaces=run.namespaces)
    run.report.seconds = time.perf_counter() - t0
    run.write_report()
    say(f"inventory:    {inventory}  (readiness validate {inventory})")
    say(f"secrets:      {run.state / 'secrets'}  (--secrets-dir)")
    say(f"ground truth: {run.state / 'ground-truth.json'}  ({len(run.plan.faults)} faults)")
    say(f"lab facts:    {run.state / 'lab-facts.json'}")
    failed = [c.name for c in run.report.components if c.status == "failed"]
    say(
        f"lab up {'FAILED for ' + ', '.join(failed) if failed else 'done'} "
        f"in {run.report.seconds:.1f}s"
    )
    return run.report


def restart_note(state: Path) -> str:
    """What ``lab up`` says before it stops a lab still running from ``state`` and
    starts it again ("" when nothing of it runs): when only some component is gone, that
    it restarts the whole lab, and why."""
    processes = recorded(state)
    gone = [m for m in processes if not alive(m.pid)]
    if len(gone) == len(processes):  # nothing recorded, or nothing left to stop
        return ""
    if not gone:
        return "lab up: a lab is already running from this state folder: stopping it first"
    names = ", ".join(f"{m.name} ({_component_of(m.name)})" for m in gone)
    return (
        f"lab up: {names} is gone while the rest runs: restarting the whole lab, not only "
        f"that component, because every component is built in one pass from the same seed, "
        f"fault plan, CA and secrets, and the inventory describes them together; a full "
        f"restart takes about 20 s and gives exactly that estate again"
    )


# --------------------------------------------------------------------------- down, status


def down(state: Path, say: Say = _quiet) -> list[str]:
    """Stop everything the lab started in ``state`` (by PID), remove its network and
    release its slot.

    If the slot has meanwhile gone to another lab (this one died and its claim was
    taken over), the namespaces, routes and addresses of that slot are the other
    lab's: only this folder's own processes are stopped.
    """
    state = state.resolve()
    if not state.exists():
        say(f"lab down: nothing at {state}")
        return []
    sup = Supervisor(state)
    names = [m.name for m in sup.processes()]
    slot = slot_of(state)
    held = claim.holder(slot.number)
    if held is not None and held.state != str(state):
        sup.stop()
        say(
            f"lab down: stopped {len(names)} process(es); slot {slot.number} belongs to the "
            f"lab in {held.state} now, so its network was left alone"
        )
        return names
    errors: list[str] = []

    def attempt(name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # keep going: everything else must still stop
            errors.append(f"{name}: {exc}")

    if any(m.name.startswith(("kamailio", "sipp")) for m in sup.processes()):
        from . import sip

        attempt("sip", lambda: sip.stop(sup))
    if (state / "postfix").exists():
        from . import mail

        attempt("mail", lambda: mail.stop(sup))
    if (state / "nginx").exists():
        from . import web

        attempt("web", lambda: web.stop(sup))
    if (state / "samba").exists():
        from . import samba

        attempt("samba", lambda: samba.stop_samba_state(state, sup, slot.ad))
    attempt("slapd", lambda: [sup.stop(n) for n in ("slapd-north", "slapd-south")])
    attempt("dns", lambda: dns.stop(sup, state))
    from . import netns, ssh

    attempt("ssh", lambda: ssh.stop(sup))
    attempt("internet", lambda: internet.stop(slot))
    if (state / "net.json").exists():
        attempt("gateway", lambda: gateway.stop(slot))
    attempt("net", lambda: netns.stop(sup))
    sup.stop()  # anything else recorded
    left = [f"{m.name} (pid {m.pid})" for m, running in sup.status() if running]
    if left:
        errors.append("still running: " + ", ".join(left))
    else:  # a slot with processes of ours still on it must not go to another lab
        claim.release(slot.number, state)
    for e in errors:
        say(f"lab down: {e}")
    say(f"lab down: stopped {len(names)} process(es)" + (", with errors" if errors else ""))
    if errors:
        raise LabError("; ".join(errors))
    return names


def slot_of(state: Path) -> Slot:
    """The slot the lab in ``state`` was brought up on (77 for labs older than slots)."""
    lab_json = state.resolve() / "lab.json"
    if not lab_json.exists():
        return DEFAULT_SLOT
    return Slot(int(json.loads(lab_json.read_text()).get("slot", DEFAULT)))


def status(state: Path) -> list[tuple[str, int, bool, str]]:
    """(process name, pid, alive, component) of everything recorded in ``state``."""
    state = state.resolve()
    if not (state / "pids.json").exists():
        return []
    return [
        (m.name, m.pid, running and alive(m.pid), _component_of(m.name))
        for m, running in Supervisor(state).status()
    ]


def components(state: Path) -> list[Component]:
    """The components the last ``lab up`` in ``state`` reported (from ``lab.json``)."""
    lab_json = state.resolve() / "lab.json"
    if not lab_json.exists():
        return []
    return [Component(**c) for c in json.loads(lab_json.read_text()).get("components", [])]


def _component_of(process: str) -> str:
    for prefix, component in (
        ("sshd-", "ssh"),
        ("slapd-", "slapd"),
        ("samba", "samba"),
        ("named", "dns"),
        ("nginx", "web"),
        ("postfix", "mail"),
        ("kamailio", "sip"),
        ("sipp", "sip"),
    ):
        if process.startswith(prefix):
            return component
    return "net"
