"""The shared shape of an evaluated account, for every directory kind.

``checks/identity/ppolicy.py`` (OpenLDAP ppolicy) and ``checks/identity/ad.py``
(Active Directory) both turn a directory entry plus its policy into an
:class:`AccountState`: a list of :class:`Finding` (what is wrong, why it matters on
Day 1 and how to fix it) and the lockout headroom a pilot bind may spend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["fail", "warn"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the account is (or may be) unusable on go-live day."""

    code: str  # stable key, e.g. "locked", "disabled", "password-expired", "must-change"
    severity: Severity  # "fail" | "warn"
    observed: str  # what the directory says, e.g. "pwdAccountLockedTime 000001010000Z"
    impact: str  # the Day-1 consequence
    hint: str  # remediation
    expected: str = ""  # optional: what a usable account would show
    # The condition holds already when the entry was read (not only at go-live): a
    # pilot bind now cannot succeed (or would spend a grace login), so none is tried.
    blocks_now: bool = False


@dataclass(frozen=True, slots=True)
class AccountState:
    """The usability verdict of one account at go-live."""

    findings: tuple[Finding, ...] | list[Finding] = ()
    # Bind attempts that may still fail before the directory locks the account;
    # None when the directory enforces no lockout (unlimited) -- unless
    # ``lockout_unknown`` says the policy could not be read (then it is UNKNOWN).
    lockout_headroom: int | None = None
    observed: str = ""  # optional one-line summary of the relevant attributes
    details: dict[str, str] = field(default_factory=dict)
    # Non-empty (the reason) when the applicable lockout policy could not be read: the
    # lock state and headroom are unknown, never "unlimited"; no pilot bind is tried.
    lockout_unknown: str = ""
    # Non-empty (the reason) when password expiry could not be judged (policy unknown).
    expiry_unknown: str = ""

    @property
    def usable(self) -> bool:
        return not any(f.severity == "fail" for f in self.findings)


def _fmt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def must_change_finding(blocks: bool, source: str = "pwdReset TRUE") -> Finding:
    """A password that must be changed at first login: listed apart whatever the
    programme says (code ``must-change``), blocking only when it says so."""
    return Finding(
        "must-change",
        "fail" if blocks else "warn",
        f"{source}: the password must be changed at next login",
        "ready once the person has changed the password: until then applications that only "
        "bind refuse the login, and the first login must be on a device or page that can "
        "change it",
        "ask the person to change the password before go-live, or make sure the Day-1 "
        "login path offers a password change",
        expected="a password that needs no change",
    )


def rotation_finding(how: str, expires: dt.datetime, go_live: dt.datetime) -> Finding:
    """A password valid now that expires before go-live by normal rotation."""
    return Finding(
        "password-rotates-before-go-live",
        "warn",
        f"{how}: the password expires {_fmt(expires)}, before go-live {_fmt(go_live)}; the "
        "person will be prompted to change it then",
        "none if the person changes the password when prompted; if not, logins fail from "
        f"{_fmt(expires)}",
        f"remind the person to change the password when prompted (by {_fmt(expires)}); "
        "programme.passwords.expiring_before_go_live: fail counts it as expired instead",
        expected=f"a password that can still be changed before go-live {_fmt(go_live)}",
    )
