"""Lockout safety that does not depend on how an inventory names a directory (issue 16),
against the real test slapd and Samba AD DC: inventories naming the same directory
differently share one attempt budget, even when twenty sweeps race; a server declared
to have no lockout policy; a batch whose bind hangs gives its slot and its in-flight
attempt back at the deadline."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from readiness.engine import _BatchRunner, make_plan, run_plan
from readiness.family import RunContext
from readiness.inventory import Selection, load
from readiness.registry import load_families
from readiness.results import Result, Status
from readiness.secrets import Secret
from readiness_checks.identity.client import LdapSession
from readiness_lab.slapd import SlapdInfo

from .conftest import PILOT_PASSWORD, POLICIES, IdentityLab, extra_slapd, person, run_context
from .samba_dc import DC, PASSWORD

pytestmark = pytest.mark.integration

READINESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "readiness"
WRONG = "Wrong-Password-9"
SWEEPS = 20


def _folder(root: Path, name: str, service: str, pilot_secret: str, text: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "service.secret").write_text(service)
    (folder / "pilot.secret").write_text(pilot_secret)
    for secret in folder.glob("*.secret"):
        secret.chmod(0o600)
    (folder / "inventory.yaml").write_text(text, encoding="utf-8")
    return folder


def _inventory(directory: str, username: str) -> str:
    go_live = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    return (
        f"programme: {{name: Lockout test, go_live: {go_live}}}\n"
        "organisations: {north: {name: Northvale}}\n"
        "sites: {north-hq: {organisation: north}}\n"
        "directories:\n" + textwrap.indent(textwrap.dedent(directory), "  ") + "staff:\n"
        f"  - {{id: P1, organisation: north, site: north-hq, username: {username}, "
        "pilot: true, credential: file:pilot.secret}\n"
    )


def _race(folders: list[Path], state: Path) -> list[int]:
    """SWEEPS `readiness sweep` processes at once, alternating between ``folders``."""
    procs = [
        subprocess.Popen(
            [
                str(READINESS),
                "sweep",
                str(folders[i % len(folders)]),
                "--family",
                "identity",
                "--no-progress",
                "--state-dir",
                str(state),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(SWEEPS)
    ]
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert "Traceback" not in err, err
        codes.append(proc.returncode)
    return codes


def _attempts(state: Path) -> list[tuple[str, str, str, str]]:
    db = sqlite3.connect(state / "ledger.sqlite")
    rows = db.execute("SELECT realm, account, outcome, label FROM attempts").fetchall()
    db.close()
    return [tuple(r) for r in rows]


def _one_budget(folders: list[Path], state: Path, labels: list[str]) -> None:
    """Every attempt of both inventories is charged to one key, at most the budget failed,
    and each inventory now finds that budget used up (by whichever spent it)."""
    rows = _attempts(state)
    assert len({(realm, account) for realm, account, _, _ in rows}) == 1, rows
    assert {label for *_, label in rows} <= set(labels)
    failed = sum(1 for _, _, outcome, _ in rows if outcome in ("failure", "pending"))
    assert 1 <= failed <= 2, rows
    for folder, label in zip(folders, labels, strict=True):
        login = _sweep(folder, state)["staff:north/P1|identity.pilot-login"]
        assert login.status == Status.ERROR, login
        assert f"attempt budget for {label} is used up: {failed} failed" in login.summary or (
            "attempt(s) left" in login.summary  # the server's own headroom said no first
        ), login.summary


# --------------------------------------------------------------------------- slapd


def _north(ilab: IdentityLab, dir_id: str, base: str) -> str:
    n = ilab.north
    return f"""\
    {dir_id}:
      kind: openldap
      organisations: [north]
      url: ldap://{ilab.hosts.north}:389
      start_tls: true
      base_dn: {base}
      people_base: {n.people_base}
      groups_base: {n.groups_base}
      policies_base: {n.policies_base}
      bind_dn: {n.service_dn}
      bind_password: file:service.secret
      ca_bundle: {ilab.ca.cert_path}
      tls_services: []
      check_groups: false
      attempt_budget: 2
"""


def _slapd_state(ilab: IdentityLab, uid: str) -> tuple[bool, int]:
    env = {**os.environ, "LDAPTLS_CACERT": str(ilab.ca.cert_path)}
    out = subprocess.run(
        [
            *("ldapsearch", "-LLL", "-x", "-ZZ", "-H", f"ldap://{ilab.hosts.north}"),
            *("-D", ilab.north.admin_dn, "-y", str(ilab.north.admin_password_file)),
            *("-b", f"uid={uid},{ilab.north.people_base}", "-s", "base"),
            *("pwdAccountLockedTime", "pwdFailureTime"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return "pwdAccountLockedTime" in out, out.count("pwdFailureTime:")


def _slapd_binds(ilab: IdentityLab, dn: str, password: str) -> bool:
    env = {**os.environ, "LDAPTLS_CACERT": str(ilab.ca.cert_path)}
    done = subprocess.run(
        ["ldapwhoami", "-x", "-ZZ", "-H", f"ldap://{ilab.hosts.north}", "-D", dn, "-w", password],
        capture_output=True,
        env=env,
        check=False,
    )
    return done.returncode == 0


def test_twenty_racing_sweeps_of_two_inventories_share_one_slapd_budget(
    identity_lab: IdentityLab, tmp_path: Path
) -> None:
    service = identity_lab.north.service_password_file.read_text()
    folders = [
        # The integration team's inventory, and the CI pipeline's: another id, and a
        # subtree of the same naming context as its base.
        _folder(
            tmp_path,
            "team",
            service,
            WRONG,
            _inventory(_north(identity_lab, "north-ldap", "dc=northvale,dc=test"), "pilot.shared"),
        ),
        _folder(
            tmp_path,
            "ci",
            service,
            WRONG,
            _inventory(
                _north(identity_lab, "nv-people", "ou=people,dc=northvale,dc=test"), "pilot.shared"
            ),
        ),
    ]
    state = tmp_path / "state"
    started = time.monotonic()
    codes = _race(folders, state)
    print(f"{SWEEPS} sweeps in {time.monotonic() - started:.1f}s: exit codes {codes}")
    assert set(codes) <= {1, 3}, codes
    locked, failures = _slapd_state(identity_lab, "pilot.shared")
    assert not locked and failures <= 2, failures
    _one_budget(folders, state, ["north-ldap/pilot.shared", "nv-people/pilot.shared"])
    # The right password still binds (and clears the failure count).
    assert _slapd_binds(
        identity_lab, f"uid=pilot.shared,{identity_lab.north.people_base}", PILOT_PASSWORD
    )


# --------------------------------------------------------------------------- Samba AD DC


def _ad(dc: DC, dir_id: str, url: str, start_tls: bool) -> str:
    i = dc.info
    return f"""\
    {dir_id}:
      kind: ad
      organisations: [north]
      url: {url}
      start_tls: {str(start_tls).lower()}
      base_dn: {i.base_dn}
      people_base: {i.users_base}
      groups_base: {i.base_dn}
      bind_dn: {i.service_dn}
      bind_password: file:service.secret
      ca_bundle: {i.ca_file}
      tls_services: []
      srv_records: []
      check_groups: false
      attempt_budget: 2
"""


def _ad_account(dc: DC, username: str) -> dict[str, Any]:
    server = ldap3.Server(dc.info.address, port=636, use_ssl=True, get_info=ldap3.NONE)
    conn = ldap3.Connection(
        server, user=dc.info.service_upn, password=dc.service_password, auto_bind=True
    )
    conn.search(
        dc.info.users_base,
        f"(sAMAccountName={username})",
        attributes=["badPwdCount", "lockoutTime", "msDS-User-Account-Control-Computed"],
    )
    attrs = {
        k: (v[0] if v else "0") if isinstance(v, list) else v
        for k, v in conn.response[0]["attributes"].items()
    }
    conn.unbind()
    return attrs


def _ad_binds(dc: DC, username: str, password: str) -> bool:
    server = ldap3.Server(dc.info.address, port=636, use_ssl=True, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=f"{username}@{dc.spec.dns_domain}", password=password)
    ok = bool(conn.bind())
    conn.unbind()
    return ok


def test_twenty_racing_sweeps_of_two_inventories_share_one_ad_budget(
    ad_dc: DC, tmp_path: Path
) -> None:
    address = ad_dc.info.address
    folders = [
        _folder(
            tmp_path,
            "team",
            ad_dc.service_password,
            WRONG,
            _inventory(_ad(ad_dc, "shared-ad", f"ldaps://{address}:636", False), "pilotad"),
        ),
        _folder(
            tmp_path,
            "ci",
            ad_dc.service_password,
            WRONG,
            _inventory(_ad(ad_dc, "vale-ad", f"ldap://{address}:389", True), "pilotad"),
        ),
    ]
    state = tmp_path / "state"
    started = time.monotonic()
    codes = _race(folders, state)
    print(f"{SWEEPS} sweeps in {time.monotonic() - started:.1f}s: exit codes {codes}")
    assert set(codes) <= {1, 3}, codes
    account = _ad_account(ad_dc, "pilotad")
    assert not int(account["msDS-User-Account-Control-Computed"]) & 0x10, account  # not locked
    assert int(account["badPwdCount"]) <= 2, account
    _one_budget(folders, state, ["shared-ad/pilotad", "vale-ad/pilotad"])
    assert _one_budget_realm(state).startswith("ad:dc=ad,dc=valeshared,dc=test")
    assert _ad_binds(ad_dc, "pilotad", PASSWORD)  # the right password still binds
    assert int(_ad_account(ad_dc, "pilotad")["badPwdCount"]) == 0


def _one_budget_realm(state: Path) -> str:
    return _attempts(state)[0][0]


def test_must_change_is_773_warned_and_costs_no_budget(ad_dc: DC, tmp_path: Path) -> None:
    """AD answers data 773 to the right password of a must-change account: listed apart
    (warn, code must-change), and no failed attempt is charged."""
    address = ad_dc.info.address
    folder = _folder(
        tmp_path,
        "inv",
        ad_dc.service_password,
        PASSWORD,
        _inventory(_ad(ad_dc, "shared-ad", f"ldaps://{address}:636", False), "mc"),
    )
    state = tmp_path / "state"
    results = _sweep(folder, state)
    login = results["staff:north/P1|identity.pilot-login"]
    assert login.status == Status.WARN and login.details["codes"] == ["must-change"], login
    assert "ready once the pilot has changed the password" in login.impact
    assert [outcome for _, _, outcome, _ in _attempts(state)] == ["success"]
    assert int(_ad_account(ad_dc, "mc")["badPwdCount"]) == 0  # AD counted no failure


def _sweep(folder: Path, state: Path, **kw: Any) -> dict[str, Result]:
    families = load_families()
    inventory = load(folder, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"identity"})))
    ctx = run_context(inventory, folder, state)
    try:
        results = run_plan(plan, ctx, **kw)
    finally:
        ctx.close()
    return {f"{r.subject}|{r.check}": r for r in results}


# --------------------------------------------------------------------------- no lockout policy


@pytest.fixture(scope="module")
def bare(identity_lab: IdentityLab) -> Iterator[SlapdInfo]:
    """A slapd whose ppolicy overlay has no default policy: no lockout, no expiry."""
    with extra_slapd(
        identity_lab,
        "eastwick",
        20,
        people=[person("pilot.east", "eastwick.test", password=PILOT_PASSWORD)],
        policies=POLICIES[1:],  # no entry cn=default either: nothing to mistake for one
        default_policy=None,
    ) as info:
        yield info


def _east(ilab: IdentityLab, info: SlapdInfo, extra: str = "", timeout: int = 5) -> str:
    return f"""\
    east-ldap:
      kind: openldap
      url: ldap://{info.host}:389
      start_tls: true
      base_dn: {info.base_dn}
      people_base: {info.people_base}
      policies_base: {info.policies_base}
      bind_dn: {info.service_dn}
      bind_password: file:service.secret
      ca_bundle: {ilab.ca.cert_path}
      owner: Eastwick identity team
      tls_services: []
      check_groups: false
      timeout: {timeout}
      max_concurrency: 1
{extra}"""


def test_a_server_declared_without_lockout_policy(
    identity_lab: IdentityLab, bare: SlapdInfo, tmp_path: Path
) -> None:
    service = bare.service_password_file.read_text()
    undeclared = _folder(
        tmp_path, "undeclared", service, WRONG, _inventory(_east(identity_lab, bare), "pilot.east")
    )
    r = _sweep(undeclared, tmp_path / "state-1")
    policy = r["family:identity|identity.lockout-policy"]
    assert policy.status == Status.ERROR and "pilot logins are refused" in policy.summary
    assert "lockout_policy: none" in policy.hint
    refused = r["staff:north/P1|identity.pilot-login"]
    assert refused.status == Status.ERROR and "headroom is unknown" in refused.summary
    assert r["staff:north/P1|identity.account-exists"].status == Status.PASS

    declared = _folder(
        tmp_path,
        "declared",
        service,
        WRONG,
        _inventory(_east(identity_lab, bare, "      lockout_policy: none\n"), "pilot.east"),
    )
    for attempt in range(3):  # another sweep each time: no lockout can ever follow
        r = _sweep(declared, tmp_path / f"state-2-{attempt}")
        login = r["staff:north/P1|identity.pilot-login"]
        assert login.status == Status.FAIL and "bad password" in login.summary, login
        # Every report listing pilot logins shows the declaration.
        assert "as the inventory declares (lockout_policy: none)" in login.summary
        assert login.details["lockout"].startswith("no lockout policy, as the inventory")
    policy = r["family:identity|identity.lockout-policy"]
    assert policy.status == Status.PASS and "as the inventory declares" in policy.summary
    assert r["staff:north/P1|identity.account-usable"].status == Status.PASS
    # The server indeed keeps no lock state, and the right password binds.
    session = LdapSession(
        "t",
        _endpoint(bare),
        bare.host,
        start_tls=True,
        ca_file=str(identity_lab.ca.cert_path),
        tls_verify=True,
        allow_cleartext=False,
        timeout=5,
    )
    session.open()
    try:
        assert (
            session.bind(f"uid=pilot.east,{bare.people_base}", Secret(PILOT_PASSWORD))["result"]
            == 0
        )
    finally:
        session.close()


def _endpoint(info: SlapdInfo) -> Any:
    from readiness_checks.identity.client import Endpoint

    return Endpoint.parse(info.ldap_url)


# --------------------------------------------------------------------------- hung binds


def _short_deadline(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(_BatchRunner, "budget_for", classmethod(lambda cls, p, n: seconds))


def _slot_free(ctx: RunContext, server: str, within: float) -> float | None:
    """Seconds until ``server``'s (single) slot could be taken, or None."""
    took = threading.Event()
    started = time.monotonic()

    def take() -> None:
        with ctx.limit(server, 1):
            took.set()

    threading.Thread(target=take, daemon=True).start()
    return time.monotonic() - started if took.wait(within) else None


def test_a_hung_bind_gives_back_its_slot_and_attempt_at_the_deadline(
    identity_lab: IdentityLab, bare: SlapdInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pilot's bind reaches a slapd paused with SIGSTOP (and a library timeout of 60
    seconds): at the batch's deadline (4 s) the engine abandons it, and at that moment
    the directory's only slot and the attempt in flight are released."""
    service = bare.service_password_file.read_text()
    folder = _folder(
        tmp_path,
        "hung",
        service,
        PILOT_PASSWORD,
        _inventory(
            _east(identity_lab, bare, "      lockout_policy: none\n", timeout=60), "pilot.east"
        ),
    )

    pilot_dn = f"uid=pilot.east,{bare.people_base}"
    bind = LdapSession.bind

    def paused_bind(self: LdapSession, dn: str, password: Secret) -> dict[str, Any]:
        if dn == pilot_dn:
            os.kill(bare.pid, signal.SIGSTOP)  # the server stops answering, now
        return bind(self, dn, password)

    monkeypatch.setattr(LdapSession, "bind", paused_bind)
    _short_deadline(monkeypatch, 4.0)
    families = load_families()
    inventory = load(folder, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"identity"})))
    plan.probes = [p for p in plan.probes if p.check == "identity.pilot-login"]
    ctx = run_context(inventory, folder, tmp_path / "state")
    try:
        started = time.monotonic()
        (result,) = run_plan(plan, ctx)
        abandoned_after = time.monotonic() - started
        assert result.status == Status.ERROR and "did not finish" in result.summary
        assert abandoned_after < 10, abandoned_after
        # At once: the slot is free and the attempt no longer in flight (charged).
        waited = _slot_free(ctx, f"ldap:{bare.host}:389", within=2)
        assert waited is not None and waited < 1, waited
        ((_, _, outcome, _),) = _attempts(tmp_path / "state")
        assert outcome == "failure"
    finally:
        os.kill(bare.pid, signal.SIGCONT)
        ctx.close()


def test_a_listener_that_never_answers_gives_back_its_slot_at_the_deadline(
    identity_lab: IdentityLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = identity_lab.hosts.silent
    service = identity_lab.north.service_password_file.read_text()
    directory = _north(identity_lab, "silent-ldap", "dc=northvale,dc=test").replace(
        f"ldap://{identity_lab.hosts.north}:389", f"ldap://{silent}:389"
    )
    folder = _folder(
        tmp_path,
        "silent",
        service,
        PILOT_PASSWORD,
        _inventory(directory + "      timeout: 60\n      max_concurrency: 1\n", "pilot.shared"),
    )

    _short_deadline(monkeypatch, 3.0)
    families = load_families()
    inventory = load(folder, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"identity"})))
    ctx = run_context(inventory, folder, tmp_path / "state")
    try:
        started = time.monotonic()
        results = run_plan(plan, ctx)
        assert time.monotonic() - started < 10
        assert {r.status for r in results} == {Status.ERROR}
        waited = _slot_free(ctx, f"ldap:{silent}:389", within=2)
        assert waited is not None and waited < 1, waited  # not after the 60-s timeout
    finally:
        ctx.close()
