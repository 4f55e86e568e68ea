"""What changed between two sweeps, from their stored status maps and verdicts.

Pure: works on result ids, so two sweeps of different inventories compare too (a
result only one of them has is new, or no longer checked). A *regression* passed (or
warned) before and fails now; a *new failure* is any fail or error that was not one
before (regressions included); *fixed* was a fail or error and passes now; *gone*
was a fail or error and was not checked this time (another filter, a removed object).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from readiness.record.context import Changes

__all__ = ["BAD", "GOOD", "compare"]

BAD = frozenset({"fail", "error"})
GOOD = frozenset({"pass", "warn"})


def compare(
    before: Mapping[str, Sequence[str]],
    after: Mapping[str, Sequence[str]],
    verdicts_before: Mapping[str, str],
    verdicts_after: Mapping[str, str],
    *,
    ids: tuple[str, str] = ("", ""),
    seqs: tuple[int, int] = (0, 0),
    same_inventory: bool = True,
) -> Changes:
    """``before``/``after``: result id -> (status, root cause, ...); verdicts: person ->
    verdict."""
    new, regressions, fixed, still, gone = [], [], [], [], []
    for rid, entry in after.items():
        status = entry[0]
        if status not in BAD:
            continue
        was = before.get(rid, ("", ""))[0]
        if was in BAD:
            still.append(rid)
        else:
            new.append(rid)
            if was in GOOD and status == "fail":
                regressions.append(rid)
    for rid, entry in before.items():
        if entry[0] in BAD:
            now = after.get(rid)
            if now is None:
                gone.append(rid)
            elif now[0] not in BAD:
                fixed.append(rid)
    causes_before: dict[str, list[str]] = defaultdict(list)
    for rid, entry in before.items():
        if entry[0] in BAD:
            causes_before[entry[1]].append(rid)
    causes_after = {entry[1] for entry in after.values() if entry[0] in BAD}
    fixed_causes = [
        cause
        for cause, members in causes_before.items()
        if cause not in causes_after and any(rid in after for rid in members)
    ]
    both = verdicts_before.keys() & verdicts_after.keys()
    return Changes(
        before=ids[0],
        after=ids[1],
        before_seq=seqs[0],
        after_seq=seqs[1],
        new_failures=tuple(sorted(new)),
        regressions=tuple(sorted(regressions)),
        fixed=tuple(sorted(fixed)),
        still_failing=tuple(sorted(still)),
        gone=tuple(sorted(gone)),
        new_blockers=tuple(sorted(causes_after - causes_before.keys())),
        fixed_blockers=tuple(sorted(fixed_causes)),
        became_ready=tuple(
            sorted(
                p for p in both if verdicts_after[p] == "ready" and verdicts_before[p] != "ready"
            )
        ),
        became_not_ready=tuple(
            sorted(
                p
                for p in both
                if verdicts_after[p] == "not ready" and verdicts_before[p] != "not ready"
            )
        ),
        same_inventory=same_inventory,
    )
