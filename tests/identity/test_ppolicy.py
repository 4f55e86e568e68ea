"""OpenLDAP ppolicy semantics (pure): the DOMAIN.md traps and headroom arithmetic."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from readiness_checks.identity.pilot import _decode_ppolicy, map_failed_bind
from readiness_checks.identity.ppolicy import (
    PERMANENT_LOCK,
    PPolicy,
    evaluate_ppolicy_account,
    parse_gentime,
    policy_for,
)
from tests.style import assert_sentence

NOW = dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.UTC)
GO_LIVE = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
POLICY = PPolicy(
    "cn=default",
    max_failure=3,
    lockout=True,
    lockout_duration=900,
    max_age=90 * 86400,
    grace_limit=2,
    must_change=True,
)


def gt(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M%SZ")


def codes(
    attrs: dict[str, list[str]],
    policy: PPolicy | None = POLICY,
    go_live: dt.datetime = GO_LIVE,
    **rules: Any,
) -> list[tuple[str, str]]:
    state = evaluate_ppolicy_account(attrs, policy, go_live=go_live, now=NOW, **rules)
    for finding in state.findings:  # every finding reads the same way
        assert_sentence(finding.impact)
        assert_sentence(finding.hint)
    return [(f.code, f.severity) for f in state.findings]


def test_parse_gentime_variants() -> None:
    assert parse_gentime("20270101090000Z") == NOW
    assert parse_gentime("20270101090000.123456Z") == NOW + dt.timedelta(microseconds=123456)
    assert parse_gentime("202701011000+0100") == NOW


def test_permanent_lock_is_disabled() -> None:
    assert codes({"pwdAccountLockedTime": [PERMANENT_LOCK]}) == [("disabled", "fail")]


def test_expired_lock_is_not_a_lock() -> None:
    old = gt(NOW - dt.timedelta(hours=1))  # duration 900 s: over
    assert codes({"pwdAccountLockedTime": [old]}) == []


def test_lock_only_counts_with_pwdlockout_true() -> None:
    no_lockout = PPolicy("cn=x", max_failure=3, lockout=False)
    assert codes({"pwdAccountLockedTime": [PERMANENT_LOCK]}, no_lockout) == []


def test_lock_ending_before_go_live_warns_after_go_live_fails() -> None:
    recent = gt(NOW - dt.timedelta(minutes=1))
    assert codes({"pwdAccountLockedTime": [recent]}) == [("locked-until-before-go-live", "warn")]
    forever = PPolicy("cn=p", max_failure=3, lockout=True, lockout_duration=0)
    assert codes({"pwdAccountLockedTime": [recent]}, forever) == [("locked", "fail")]


def test_expiry_judged_at_go_live_not_today() -> None:
    changed = {"pwdChangedTime": [gt(NOW - dt.timedelta(days=70))]}  # valid 20 more days
    assert codes(changed, go_live=NOW) == []
    # Normal rotation: the person is prompted before go-live and changes it (warn)...
    assert codes(changed) == [("password-rotates-before-go-live", "warn")]
    # ... unless the programme counts it as expired, or the policy forbids the change.
    assert codes(changed, expiring="fail") == [("password-expired", "fail")]
    fixed = dataclasses.replace(POLICY, allow_user_change=False)
    assert codes(changed, fixed) == [("password-expired", "fail")]


def test_what_if_six_months_ahead_does_not_fail_normal_rotation() -> None:
    """Issue 17: a what-if go-live six months ahead must not mark everyone whose password
    follows the normal 90-day rotation as not ready; the warning carries the date."""
    far = NOW + dt.timedelta(days=182)
    for age in (1, 45, 89):
        changed = NOW - dt.timedelta(days=age)
        state = evaluate_ppolicy_account(
            {"pwdChangedTime": [gt(changed)]}, POLICY, go_live=far, now=NOW
        )
        assert [(f.code, f.severity) for f in state.findings] == [
            ("password-rotates-before-go-live", "warn")
        ]
        assert (changed + dt.timedelta(days=90)).strftime("%Y-%m-%d") in state.findings[0].observed
    expired = {"pwdChangedTime": [gt(NOW - dt.timedelta(days=91))]}  # already expired now
    assert codes(expired, go_live=far) == [("password-expired", "fail")]


def test_must_change_blocks_when_the_programme_says_so() -> None:
    assert codes({"pwdReset": ["TRUE"]}) == [("must-change", "warn")]
    assert codes({"pwdReset": ["TRUE"]}, must_change_blocks=True) == [("must-change", "fail")]


def test_grace_logins_used_up() -> None:
    attrs = {
        "pwdChangedTime": [gt(NOW - dt.timedelta(days=100))],
        "pwdGraceUseTime": [gt(NOW - dt.timedelta(days=2)), gt(NOW - dt.timedelta(days=1))],
    }
    assert codes(attrs) == [("grace-exhausted", "fail")]


def test_must_change_only_when_the_policy_enforces_it() -> None:
    assert codes({"pwdReset": ["TRUE"]}) == [("must-change", "warn")]
    lax = PPolicy("cn=lax", must_change=False)
    assert codes({"pwdReset": ["TRUE"]}, lax) == []


def test_never_expiring_policy_and_missing_changed_time() -> None:
    never = PPolicy("cn=n", max_age=0)
    assert codes({"pwdChangedTime": [gt(NOW - dt.timedelta(days=900))]}, never) == []
    assert codes({}) == []  # no pwdChangedTime: slapd cannot age it


def test_start_and_end_times() -> None:
    assert codes({"pwdStartTime": [gt(GO_LIVE + dt.timedelta(days=1))]}) == [
        ("not-yet-valid", "fail")
    ]
    assert codes({"pwdEndTime": [gt(GO_LIVE - dt.timedelta(days=1))]}) == [
        ("account-ended", "fail")
    ]
    assert codes({"pwdStartTime": [gt(NOW)], "pwdEndTime": [gt(GO_LIVE + dt.timedelta(1))]}) == []


@pytest.mark.parametrize(
    ("failures", "interval", "headroom"), [(0, 0, 3), (1, 0, 2), (2, 0, 1), (2, 60, 3)]
)
def test_headroom(failures: int, interval: int, headroom: int) -> None:
    policy = PPolicy("cn=d", max_failure=3, lockout=True, failure_count_interval=interval)
    times = [gt(NOW - dt.timedelta(minutes=5 + i)) for i in range(failures)]
    state = evaluate_ppolicy_account({"pwdFailureTime": times}, policy, go_live=GO_LIVE, now=NOW)
    assert state.lockout_headroom == headroom


def test_no_lockout_policy_means_unlimited_headroom() -> None:
    state = evaluate_ppolicy_account({}, PPolicy("cn=x"), go_live=GO_LIVE, now=NOW)
    assert state.lockout_headroom is None


def test_policy_choice() -> None:
    policies = {"cn=default,ou=p": POLICY, "cn=other,ou=p": PPolicy("cn=other,ou=p")}
    chosen, why = policy_for({"pwdPolicySubentry": ["cn=Other, ou=P"]}, policies, "cn=default,ou=p")
    assert chosen is policies["cn=other,ou=p"] and "pwdPolicySubentry" in why
    assert policy_for({}, policies, "cn=default,ou=p")[0] is POLICY
    assert policy_for({}, policies, None)[0] is None


def test_ppolicy_response_control_decoding_and_bind_reasons() -> None:
    # SEQUENCE { error [1] accountLocked(1) }
    assert _decode_ppolicy(bytes([0x30, 0x03, 0x81, 0x01, 0x01])) == {"error": 1}
    # SEQUENCE { warning [0] { graceAuthNsRemaining [1] 2 } }
    assert _decode_ppolicy(bytes([0x30, 0x05, 0xA0, 0x03, 0x81, 0x01, 0x02])) == {"grace": 2}
    assert map_failed_bind("openldap", 49, "", {"error": 1})[0] == "account locked"
    assert map_failed_bind("openldap", 49, "", {})[0] == "bad password"
    assert (
        map_failed_bind("ad", 49, "AcceptSecurityContext error, data 775, v4563", {})[0] == "locked"
    )


def test_unknown_policy_is_not_no_lockout() -> None:
    # pwdPolicySubentry names a policy the service account cannot read (or the default
    # policy is not where default_policy says): lock, headroom and expiry are unknown.
    policies = {"cn=default,ou=p": POLICY}
    for attrs, default in (
        ({"pwdPolicySubentry": ["cn=hidden,ou=p"]}, "cn=default,ou=p"),
        ({}, "cn=missing,ou=p"),
    ):
        policy, why = policy_for(attrs, policies, default)
        assert policy is None
        state = evaluate_ppolicy_account(
            {
                **attrs,
                "pwdFailureTime": [gt(NOW - dt.timedelta(minutes=1))] * 2,
                "pwdChangedTime": [gt(NOW - dt.timedelta(days=200))],
            },
            policy,
            go_live=GO_LIVE,
            now=NOW,
            policy_note=why,
        )
        assert state.lockout_headroom is None  # ... but NOT unlimited:
        assert state.lockout_unknown and state.expiry_unknown
        # Without pwdChangedTime slapd cannot age the password: expiry is not in doubt.
        assert not evaluate_ppolicy_account(attrs, policy, go_live=GO_LIVE, now=NOW).expiry_unknown
        assert ("hidden" in state.lockout_unknown) or ("missing" in state.lockout_unknown)
    locked = evaluate_ppolicy_account(
        {"pwdAccountLockedTime": [PERMANENT_LOCK]}, None, go_live=GO_LIVE, now=NOW
    )
    assert PERMANENT_LOCK in locked.lockout_unknown
    # Only a readable policy with pwdLockout FALSE means unlimited.
    known = evaluate_ppolicy_account({}, PPolicy("cn=x", lockout=False), go_live=GO_LIVE, now=NOW)
    assert known.lockout_headroom is None and not known.lockout_unknown
    # One policy in the directory is not "the" policy of an entry naming another one.
    assert policy_for({}, {"cn=only,ou=p": POLICY}, None)[0] is None


def test_findings_judged_at_go_live_do_not_block_a_bind_now() -> None:
    def blocking(attrs: dict[str, list[str]]) -> dict[str, bool]:
        state = evaluate_ppolicy_account(attrs, POLICY, go_live=GO_LIVE, now=NOW)
        return {f.code: f.blocks_now for f in state.findings}

    assert blocking({"pwdChangedTime": [gt(NOW - dt.timedelta(days=70))]}) == {
        "password-rotates-before-go-live": False
    }  # valid now, expired at go-live
    assert blocking({"pwdChangedTime": [gt(NOW - dt.timedelta(days=100))]}) == {
        "password-expired": True
    }  # expired now: a bind would spend a grace login
    assert blocking({"pwdEndTime": [gt(NOW + dt.timedelta(days=3))]}) == {"account-ended": False}
    assert blocking({"pwdEndTime": [gt(NOW - dt.timedelta(days=3))]}) == {"account-ended": True}
    assert blocking({"pwdStartTime": [gt(GO_LIVE + dt.timedelta(days=1))]}) == {
        "not-yet-valid": True
    }
    assert blocking({"pwdAccountLockedTime": [PERMANENT_LOCK]}) == {"disabled": True}
    assert blocking({"pwdReset": ["TRUE"]}) == {"must-change": False}


def test_grace_logins_end_with_pwd_grace_expiry() -> None:
    """slapo-ppolicy: grace logins after expiry are allowed only for pwdGraceExpiry
    seconds; once that period has ended by go-live, the password cannot be used."""
    changed = {"pwdChangedTime": [gt(GO_LIVE - dt.timedelta(days=100))]}  # expired day 90
    # (the programme counts a password expiring before go-live as expired)
    assert codes(changed, expiring="fail") == [("password-expired", "fail")]  # grace left
    long_grace = dataclasses.replace(POLICY, grace_expiry=30 * 86400)
    assert codes(changed, long_grace, expiring="fail") == [("password-expired", "fail")]
    short_grace = dataclasses.replace(POLICY, grace_expiry=86400)
    state = evaluate_ppolicy_account(
        changed, short_grace, go_live=GO_LIVE, now=NOW, expiring="fail"
    )
    (finding,) = state.findings
    assert (finding.code, finding.severity) == ("grace-exhausted", "fail")
    assert "pwdGraceExpiry" in finding.observed
