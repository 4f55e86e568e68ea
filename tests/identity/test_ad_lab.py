"""Active Directory semantics against a real Samba AD DC (lab/samba.py).

Every fault is produced for real on the DC (failed binds lock accounts; the DC
computes msDS-User-Account-Control-Computed and password expiry itself), read over
LDAPS with the lab CA by the read-only service account, and judged by
checks/identity/ad.py.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from pathlib import Path
from typing import Any

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError, LDAPStrongerAuthRequiredResult

from readiness_checks.identity.ad import (
    AD_ATTRIBUTES,
    DOMAIN_ATTRIBUTES,
    PSO_ATTRIBUTES,
    ADPolicy,
    evaluate_ad_account,
    in_chain_filter,
    map_bind_diagnostic,
    policy_from_entries,
)
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.process import LabError, Supervisor
from readiness_lab.samba import ADGroupSpec, SambaSpec, start_samba

from .samba_dc import DC, EXPECTED, PASSWORD, USERS, _user

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dc(ad_dc: DC) -> DC:
    """The session's Samba AD DC (tests/identity/samba_dc.py)."""
    return ad_dc


def _tls(dc: DC, name: str | None = None) -> ldap3.Tls:
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(dc.info.ca_file),
        valid_names=[name or dc.info.dns_name],
        version=ssl.PROTOCOL_TLS_CLIENT,
    )


def _service(dc: DC, get_info: str = ldap3.NONE) -> ldap3.Connection:
    server = ldap3.Server(
        dc.info.address, port=636, use_ssl=True, tls=_tls(dc), get_info=get_info, connect_timeout=5
    )
    return ldap3.Connection(
        server,
        user=dc.info.service_upn,
        password=dc.service_password,
        auto_bind=True,
        receive_timeout=10,
        read_only=True,
    )


def _bind(dc: DC, username: str, password: str) -> tuple[bool, str]:
    server = ldap3.Server(
        dc.info.address,
        port=636,
        use_ssl=True,
        tls=_tls(dc),
        get_info=ldap3.NONE,
        connect_timeout=5,
    )
    conn = ldap3.Connection(
        server, user=f"{username}@{dc.spec.dns_domain}", password=password, raise_exceptions=False
    )
    conn.open()
    ok = conn.bind()
    message = str(conn.result.get("message", ""))
    conn.unbind()
    return ok, message


def _single(value: Any) -> str:
    return str(value[0] if isinstance(value, list) else value)


def _read_people(conn: ldap3.Connection, dc: DC) -> dict[str, dict[str, Any]]:
    conn.search(
        dc.info.users_base,
        "(&(objectCategory=person)(objectClass=user))",
        attributes=list(AD_ATTRIBUTES),
        paged_size=500,
    )
    people: dict[str, dict[str, Any]] = {}
    for e in conn.response or []:
        if e.get("type") == "searchResEntry":
            attrs = dict(e["attributes"])
            people[_single(attrs["sAMAccountName"])] = attrs
    return people


def _read_policy(conn: ldap3.Connection, dc: DC) -> ADPolicy:
    conn.search(
        dc.info.base_dn,
        "(objectClass=domain)",
        search_scope=ldap3.BASE,
        attributes=list(DOMAIN_ATTRIBUTES),
    )
    domain = conn.response[0]["attributes"]
    conn.search(
        dc.info.pso_base,
        "(objectClass=msDS-PasswordSettings)",
        search_scope=ldap3.LEVEL,
        attributes=list(PSO_ATTRIBUTES),
    )
    psos = [
        {"dn": e["dn"], **e["attributes"]}
        for e in conn.response or []
        if e.get("type") == "searchResEntry"
    ]
    return policy_from_entries(domain, psos)


@pytest.fixture(scope="module")
def snapshot(dc: DC) -> tuple[dict[str, dict[str, Any]], ADPolicy, dt.datetime]:
    """What a sweep reads, once, before any test below makes binds of its own."""
    conn = _service(dc)
    try:
        people = _read_people(conn, dc)
        policy = _read_policy(conn, dc)
    finally:
        conn.unbind()
    return people, policy, dt.datetime.now(dt.UTC)


def test_policy_is_read_from_domain_and_pso(snapshot: Any) -> None:
    _, policy, _ = snapshot
    assert policy.lockout_threshold == 3
    assert policy.max_pwd_age == dt.timedelta(days=90)
    assert policy.lockout_duration == dt.timedelta(minutes=30)
    (pso,) = policy.psos.values()
    assert pso.max_pwd_age == dt.timedelta(days=20)
    assert pso.lockout_threshold == 5
    assert pso.lockout_duration is None  # 0: until an administrator unlocks


def test_missing_account_is_not_found(snapshot: Any) -> None:
    people, _, _ = snapshot
    assert "ghost" not in people
    assert {u.username for u in USERS if u.present} <= set(people)


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_account_state_matches_the_fault(snapshot: Any, dc: DC, username: str) -> None:
    people, policy, now = snapshot
    state = evaluate_ad_account(people[username], policy, go_live=dc.go_live, now=now)
    got = {f.code: f.severity for f in state.findings}
    assert got == EXPECTED[username], state.observed
    for f in state.findings:
        assert f.observed and f.impact and f.hint


def test_faults_are_held_as_ad_holds_them(snapshot: Any) -> None:
    people, _, _ = snapshot

    def one(user: str, attr: str) -> Any:
        value = people[user].get(attr)
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    computed = "msDS-User-Account-Control-Computed"
    assert int(one("locky", computed)) & 0x10  # locked by the DC after real failed binds
    assert int(one("locky", "userAccountControl")) & 0x10 == 0  # not in the stored flags
    assert int(one("locky", "lockoutTime")) > 0
    assert int(one("oldlock", "lockoutTime")) > 0 and int(one("oldlock", computed)) == 0
    assert int(one("oldpw", computed)) & 0x800000
    assert int(one("soonpw", computed)) & 0x800000 == 0
    assert int(one("mc", "pwdLastSet")) == 0
    assert int(one("dis", "userAccountControl")) & 0x2
    assert "privileged-pso" in str(one("priv", "msDS-ResultantPSO"))
    assert not people["nomail"].get("mail")
    assert one("wrongmail", "mail") == "wrongmail@southmere.test"
    assert not people["noproxy"].get("proxyAddresses")
    assert one("alice", "proxyAddresses") == "smtp:alice@northvale.test"
    assert one("alice", "telephoneNumber") == "4100"
    assert one("Zoë", "givenName") == "Zoë"


def test_lockout_headroom(snapshot: Any, dc: DC) -> None:
    people, policy, now = snapshot

    def headroom(user: str) -> int | None:
        return evaluate_ad_account(
            people[user], policy, go_live=dc.go_live, now=now
        ).lockout_headroom

    assert headroom("alice") == 3
    assert headroom("locky") == 0
    assert headroom("priv") == 5  # the PSO's threshold
    assert headroom("oldlock") == 3  # old failures are outside the observation window


def test_nested_group_membership_in_chain(dc: DC, snapshot: Any) -> None:
    people, _, _ = snapshot
    housing = f"CN=housing,{dc.info.groups_base}"
    all_staff = f"CN=all-staff,{dc.info.groups_base}"
    nested_member_of = people["nested"].get("memberOf") or []
    assert housing not in nested_member_of  # memberOf lists direct groups only
    conn = _service(dc)
    try:
        found = {}
        for group in (housing, all_staff):
            conn.search(dc.info.users_base, in_chain_filter(group), attributes=["sAMAccountName"])
            found[group] = {
                _single(e["attributes"]["sAMAccountName"])
                for e in conn.response
                if e.get("type") == "searchResEntry"
            }
    finally:
        conn.unbind()
    assert {"alice", "nested"} <= found[housing]
    assert "nogroup" not in found[housing]
    assert {"alice", "nested"} <= found[all_staff]  # two levels of nesting


def test_ldap3_schema_formatted_values_give_the_same_verdicts(dc: DC, snapshot: Any) -> None:
    _, _, now = snapshot
    conn = _service(dc, get_info=ldap3.SCHEMA)
    try:
        formatted = _read_people(conn, dc)
        policy = _read_policy(conn, dc)
    finally:
        conn.unbind()
    for username in (
        "alice",
        "dis",
        "mc",
        "mcne",
        "oldpw",
        "soonpw",
        "gone",
        "leaver",
        "locky",
        "oldlock",
        "priv",
    ):
        state = evaluate_ad_account(formatted[username], policy, go_live=dc.go_live, now=now)
        assert {f.code: f.severity for f in state.findings} == EXPECTED[username], username


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        ("locky", "locked"),
        ("privlock", "locked"),
        ("dis", "disabled"),
        ("oldpw", "password-expired"),
        ("gone", "account-expired"),
        ("mc", "must-change"),
    ],
)
def test_real_bind_diagnostic(dc: DC, snapshot: Any, username: str, reason: str) -> None:
    ok, message = _bind(dc, username, PASSWORD)  # the right password
    assert not ok
    assert map_bind_diagnostic(message)[0] == reason, message


def test_wrong_password_is_52e_and_costs_headroom(dc: DC, snapshot: Any) -> None:
    ok, message = _bind(dc, "binder", "not-the-password")
    assert not ok and map_bind_diagnostic(message)[0] == "bad-password", message
    conn = _service(dc)
    try:
        people = _read_people(conn, dc)
        policy = _read_policy(conn, dc)
    finally:
        conn.unbind()
    state = evaluate_ad_account(
        people["binder"], policy, go_live=dc.go_live, now=dt.datetime.now(dt.UTC)
    )
    assert state.lockout_headroom == 2  # the DC counted the failure


@pytest.mark.parametrize("username", ["alice", "mcne", "soonpw", "oldlock", "nopw"])
def test_usable_today_accounts_bind(dc: DC, snapshot: Any, username: str) -> None:
    # mcne: AD ignores must-change on a never-expiring password; soonpw is valid
    # today (it is go-live that it fails); oldlock's lock has run out.
    ok, message = _bind(dc, username, PASSWORD)
    assert ok, message


def test_tls_is_verified_against_the_lab_ca(dc: DC, tmp_path: Path) -> None:
    # StartTLS on 389 verifies the certificate for dc1.ad.valeshared.test.
    server = ldap3.Server(dc.info.address, port=389, tls=_tls(dc), get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=dc.info.service_upn, password=dc.service_password)
    conn.open()
    assert conn.start_tls()
    assert conn.bind()
    conn.unbind()
    # The certificate names dc1.ad.valeshared.test: another name fails verification.
    ctx = ssl.create_default_context(cafile=str(dc.info.ca_file))
    with (
        socket.create_connection((dc.info.address, 636), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname=dc.info.dns_name) as tls,
    ):
        assert tls.version()
    with (
        socket.create_connection((dc.info.address, 636), timeout=5) as sock,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ctx.wrap_socket(sock, server_hostname="wrong.valeshared.test")
    # A certificate from another CA is refused by the client.
    other = LabCA(tmp_path / "other-ca")
    bad = ldap3.Server(
        dc.info.address,
        port=636,
        use_ssl=True,
        get_info=ldap3.NONE,
        connect_timeout=5,
        tls=ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(other.cert_path),
            version=ssl.PROTOCOL_TLS_CLIENT,
        ),
    )
    with pytest.raises(LDAPSocketOpenError):
        ldap3.Connection(
            bad, user=dc.info.service_upn, password=dc.service_password, auto_bind=True
        )
    # A cleartext simple bind is refused, as on a default AD DC.
    plain = ldap3.Server(dc.info.address, port=389, get_info=ldap3.NONE)
    with pytest.raises(LDAPStrongerAuthRequiredResult):
        ldap3.Connection(
            plain,
            user=dc.info.service_upn,
            password=dc.service_password,
            auto_bind=True,
            raise_exceptions=True,
        )


def test_service_account_is_read_only(dc: DC) -> None:
    conn = _service(dc)
    server = conn.server
    conn.unbind()
    writer = ldap3.Connection(
        server,
        user=dc.info.service_upn,
        password=dc.service_password,
        auto_bind=True,
        raise_exceptions=False,
    )
    ok = writer.modify(
        f"CN=Alice Tester,{dc.info.users_base}",
        {"telephoneNumber": [(ldap3.MODIFY_REPLACE, ["9999"])]},
    )
    assert not ok and writer.result["result"] == 50  # insufficientAccessRights
    writer.unbind()


def test_service_account_binds_by_dn_over_starttls(dc: DC) -> None:
    # The inventory's bind_dn form (a DN, not a UPN) works too.
    server = ldap3.Server(dc.info.address, port=389, tls=_tls(dc), get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=dc.info.service_dn, password=dc.service_password)
    conn.open()
    assert conn.start_tls() and conn.bind(), conn.result
    assert conn.search(
        dc.info.service_dn,
        "(objectClass=user)",
        search_scope=ldap3.BASE,
        attributes=["sAMAccountName"],
    )
    conn.unbind()


def test_spec_errors_are_caught_before_provisioning(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    ca = LabCA(tmp_path / "ca")
    with claimed(tmp_path) as slot:  # the address is never used: the specs are refused first
        bad_specs = [
            (SambaSpec(address=slot.ad, users=[_user("a", groups=["nope"])]), "unknown group"),
            (
                SambaSpec(
                    address=slot.ad, users=[_user("a"), _user("A")], groups=[ADGroupSpec("housing")]
                ),
                "duplicate",
            ),
            (
                SambaSpec(
                    address=slot.ad,
                    groups=[ADGroupSpec("x", member_of=["y"]), ADGroupSpec("y", member_of=["x"])],
                ),
                "cycle",
            ),
            # Under the default policy a lock lasts until unlocked: it cannot have run out.
            (
                SambaSpec(
                    address=slot.ad,
                    users=[_user("a", expired_lock_age=dt.timedelta(hours=2))],
                    groups=[ADGroupSpec("housing")],
                ),
                "has not run out",
            ),
        ]
        for spec, message in bad_specs:
            with pytest.raises(LabError, match=message):
                start_samba(spec, sup, ca, tmp_path)
    assert not sup.processes()


def test_timings(dc: DC) -> None:
    t = dc.info.timings
    assert dc.info.accounts == sum(1 for u in USERS if u.present) + 1
    assert t["provision"] < 60 and t["start"] < 60
    assert dc.seconds < 90


def test_secrets_are_private(dc: DC) -> None:
    for path in (dc.info.service_password_file, dc.info.admin_password_file):
        assert Path(path).stat().st_mode & 0o077 == 0
    assert not list(dc.info.target_dir.parent.glob("*.ldif"))
