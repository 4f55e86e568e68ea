"""The shared shape of an evaluated account, for every directory kind.

``checks/identity/ppolicy.py`` (OpenLDAP ppolicy) and ``checks/identity/ad.py``
(Active Directory) both turn a directory entry plus its policy into an
:class:`AccountState`: a list of :class:`Finding` (what is wrong, why it matters on
Day 1 and how to fix it) and the lockout headroom a pilot bind may spend.
"""

from __future__ import annotations

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
