"""What the per-person assertions and the pilot login share for one directory: its
snapshot, each account's state computed once, and one way to build a result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from readiness.family import Probe, RunContext
from readiness.inventory.models import Staff
from readiness.results import Result, Status

from . import ppolicy
from .check_ids import FAMILY
from .config import Directory
from .snapshot import Snapshot, _ad, _key_of
from .state import AccountState

_POLICY_HINT = {
    "openldap": "grant the read-only service account read access to the password policy "
    "entries (pwdPolicy under policies_base) and check the directory's "
    "default_policy names the ppolicy overlay's default policy",
    "ad": "grant the read-only service account read access to the Password Settings "
    "Container (msDS-PasswordSettings objects) so the PSO named by msDS-ResultantPSO "
    "can be read",
}


DECLARED_NONE = "no lockout policy, as the inventory declares (lockout_policy: none)"
# What an account without a readable policy is judged under when the inventory declares
# the server has none: no lockout, no expiry.
NO_POLICY = ppolicy.PPolicy(dn="(none: declared by the inventory)")


class DirectoryEvaluation:
    """One directory's snapshot, evaluated for the probes of one batch: what the
    per-person assertions and the pilot login share (each holds one of these)."""

    def __init__(
        self,
        dir_id: str,
        directory: Directory,
        snap: Snapshot,
        ctx: RunContext,
        snapshot_of: Callable[[str], Snapshot | BaseException],
    ) -> None:
        self.snapshot_of = snapshot_of  # another directory's snapshot (near misses)
        self.dir_id = dir_id
        self.d = directory
        self.snap = snap
        self.ctx = ctx
        self.owner = directory.owner
        self.now = ctx.now()
        self.go_live = ctx.go_live
        self.passwords = ctx.inventory.programme.passwords
        self._states: dict[str, AccountState] = {}
        self.duration_ms = 0.0

    @property
    def declared_no_lockout(self) -> bool:
        return self.d.lockout_policy == "none"

    def entry(self, person: Staff) -> tuple[str, Mapping[str, Any]] | None:
        rows = self.snap.find(_key_of(self.d, person))
        if len(rows) != 1:
            return None
        return self.snap.people[rows[0]]

    def state(self, dn: str, attrs: Mapping[str, Any]) -> AccountState:
        found = self._states.get(dn)
        if found is not None:
            return found
        blocks = self.passwords.must_change_blocks
        expiring = self.passwords.expiring_before_go_live
        if self.d.kind == "ad":
            state: AccountState = _ad().evaluate_ad_account(
                attrs,
                self.snap.ad_policy,
                go_live=self.go_live,
                now=self.now,
                must_change_blocks=blocks,
                expiring=expiring,
            )
            if state.lockout_unknown and self.declared_no_lockout:
                state = replace(state, lockout_unknown="", lockout_headroom=None)
        else:
            policy, note = ppolicy.policy_for(attrs, self.snap.policies, self.snap.default_policy)
            # The declaration covers the server's default only: an entry naming its own
            # policy (pwdPolicySubentry) that cannot be read stays unknown.
            if policy is None and self.declared_no_lockout and not ppolicy.own_policy(attrs):
                policy, note = NO_POLICY, f"{note}; {DECLARED_NONE}"
            state = ppolicy.evaluate_ppolicy_account(
                attrs,
                policy,
                go_live=self.go_live,
                now=self.now,
                policy_note=note,
                must_change_blocks=blocks,
                expiring=expiring,
            )
        self._states[dn] = state
        return state

    def result(
        self,
        probe: Probe[Any],
        check: str,
        status: Status,
        summary: str,
        *,
        target: str | None = None,
        **fields: Any,
    ) -> Result:
        fields.setdefault("owner", self.owner)
        fields.setdefault("root_cause", f"{check}|{self.dir_id}")
        fields.setdefault("duration_ms", self.duration_ms)
        # Built directly (not through probe.result) as a sweep makes ~6 per person.
        return Result(
            subject=probe.subject,
            check=check,
            target=target or probe.target,
            vantage=probe.vantage,
            status=status,
            summary=summary,
            family=FAMILY,
            probe=probe.id,
            **fields,
        )
