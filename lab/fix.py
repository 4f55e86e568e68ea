"""Fix (and re-break) one injected fault of a running lab: what a team does between two
sweeps, so that history shows a trend and a diff (``readiness lab fix flow-blocked``).

Only faults a running lab can switch are here; each change is reversible (the fixed
flows are remembered in the state folder) so a test can restore the lab it shares.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from . import netns
from .faults import FLOW_BLOCKED
from .process import LabError, Supervisor

__all__ = ["FIXABLE", "set_flow_blocked"]

MEMO = "fixed-flows.json"


def set_flow_blocked(state: Path, blocked: bool) -> list[str]:
    """Remove (``blocked=False``) the lab's blocked cross-site flows, or put back the
    ones removed before; the flows changed, as ``src_net -> dst:port``."""
    sup = Supervisor(state)
    net = netns.load(sup)
    if net is None:
        raise LabError(f"no lab network in {state} (is the lab up?)")
    memo = state / MEMO
    if blocked:
        blocks = [netns.Block(**b) for b in json.loads(memo.read_text())] if memo.exists() else []
        for block in blocks:
            netns.block_flow(net, block)
        memo.unlink(missing_ok=True)
    else:
        blocks = list(net.blocks)
        for block in blocks:
            netns.unblock_flow(net, block)
        memo.write_text(json.dumps([asdict(b) for b in blocks]))
    netns.save(net, sup)
    return [f"{b.src_net} -> {b.dst}:{b.port}" for b in blocks]


FIXABLE = {FLOW_BLOCKED: set_flow_blocked}
