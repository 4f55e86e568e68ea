"""The CI gate before cutover: a policy (critical checks, thresholds, unknowns,
regressions, waivers with expiry) judged against one sweep record -> GO, CONDITIONAL
GO or NO-GO. Above history (regressions compare with the previous stored sweep);
renderers never import it: they receive :class:`readiness.record.context.GateOutcome`."""

from __future__ import annotations

from readiness.gate.evaluate import CONDITIONAL, GO, NO_GO, evaluate, exit_code
from readiness.gate.policy import Policy, Threshold, Waiver, load_policy, policy_schema

__all__ = [
    "CONDITIONAL",
    "GO",
    "NO_GO",
    "Policy",
    "Threshold",
    "Waiver",
    "evaluate",
    "exit_code",
    "load_policy",
    "policy_schema",
]
