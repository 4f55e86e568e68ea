"""Findings in the words a service desk uses with the person (``Result.reason``): what
is wrong, without DNs or raw attribute values, which stay in the result's summary,
``observed`` and ``details``."""

from __future__ import annotations

from collections.abc import Sequence

from .state import Finding

__all__ = ["account_reason"]

WORDS = {
    "disabled": "the account is disabled",
    "locked": "the account is locked",
    "locked-until-before-go-live": "the account is locked for now (the lock ends before go-live)",
    "delayed": "logins are delayed for a while after failed attempts",
    "not-yet-valid": "the password cannot be used yet on go-live day",
    "account-ended": "the account's end date is on or before go-live",
    "account-expired": "the account has expired",
    "account-expires-before-go-live": "the account expires before go-live",
    "account-expires-soon-after-go-live": "the account expires soon after go-live",
    "must-change": "the password must be changed at the next login",
    "password-expired": "the password has expired, or will have by go-live",
    "password-expired-grace": "the password has expired; only a few grace logins are left",
    "grace-exhausted": "the password has expired and no grace login is left",
    "password-expiring": "the password expires soon",
    "password-expires-before-go-live": "the password expires before go-live",
    "password-expires-soon-after-go-live": "the password expires soon after go-live",
    "password-not-required": "the account may have an empty password",
}


def account_reason(findings: Sequence[Finding], directory: str) -> str:
    """``the account is locked in north-ldap``; several findings joined."""
    words = [WORDS.get(f.code, f.code.replace("-", " ")) for f in findings]
    return f"{'; '.join(dict.fromkeys(words))} (in {directory})"
