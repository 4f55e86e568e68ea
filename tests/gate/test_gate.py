"""The gate: every rule and waiver case, the policy's validation (file:line, JSON
Schema), exit codes of `readiness gate`, `sweep --gate` and the report's verdict."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.gate import CONDITIONAL, GO, NO_GO, Policy, evaluate, exit_code, load_policy
from readiness.history import History
from readiness.problems import ProblemError
from readiness.record import SweepRecord
from readiness.results import ExitCode, Verdict
from tests.reports.conftest import EXAMPLE, MINIMAL, at
from tests.reports.synthetic import make_record

TODAY = dt.date(2026, 11, 20)
USABLE = "identity.account-usable"


@pytest.fixture(scope="module")
def clean() -> SweepRecord:
    return make_record(EXAMPLE, fail_rate=0.0, sweep_id="clean")


def _ids(record: SweepRecord, n: int, check: str = "identity.account-exists") -> list[str]:
    """Result ids of ``check`` for the first ``n`` ready people (one each)."""
    ready = {p.key for p in record.people if p.verdict is Verdict.READY}
    ids: dict[str, str] = {}
    for r in record.results:
        if r.check == check and r.subject in ready:
            ids.setdefault(r.subject, r.id)
    return list(ids.values())[:n]


def _broken(clean: SweepRecord, ids: list[str], sweep_id: str = "broken") -> SweepRecord:
    return make_record(EXAMPLE, fail_rate=0.0, sweep_id=sweep_id, broken=frozenset(ids))


def _policy(**fields: object) -> Policy:
    return Policy.model_validate(fields)


def _judge(
    policy: Policy, record: SweepRecord, previous: object = None
) -> tuple[str, dict[str, str]]:
    outcome = evaluate(policy, record, policy_name="p.yaml", today=TODAY, previous=previous)  # type: ignore[arg-type]
    return outcome.verdict, {r.rule: r.outcome for r in outcome.reasons}


def test_critical_pass_fail_waived_and_unverified(clean: SweepRecord) -> None:
    exists = "identity.account-exists"
    assert _judge(_policy(critical=[exists]), clean)[0] == GO
    broken = _broken(clean, _ids(clean, 2))
    verdict, rules = _judge(_policy(critical=[exists]), broken)
    assert (verdict, rules[f"critical {exists}"]) == (NO_GO, "fail")
    waiver = {"check": exists, "owner": "Team", "reason": "known", "expires": "2027-01-31"}
    verdict, rules = _judge(_policy(critical=[exists], waivers=[waiver]), broken)
    assert (verdict, rules[f"critical {exists}"]) == (CONDITIONAL, "waived")
    # A critical check no result speaks about was not verified: never a pass.
    verdict, rules = _judge(_policy(critical=["printers.queue-accepts"]), clean)
    assert (verdict, rules["critical printers.queue-accepts"]) == (NO_GO, "fail")
    assert _judge(_policy(critical=["identity.*"]), broken)[0] == NO_GO  # globs


def test_waivers_expired_stale_and_partial_match(clean: SweepRecord) -> None:
    first, second = _ids(clean, 2)
    broken = _broken(clean, [first, second])
    subject = first.split("|")[0]
    only_first = {"match": f"{subject}|*", "owner": "Team", "reason": "r", "expires": "2027-01-31"}
    outcome = evaluate(
        _policy(critical=["identity.account-exists"], waivers=[only_first]),
        broken,
        policy_name="p",
        today=TODAY,
    )
    assert outcome.verdict == NO_GO  # partial match: the other failure is still open
    (use,) = outcome.waivers
    assert (use.state, use.results) == ("applied", (first,))
    expired = {**only_first, "expires": "2026-11-19"}
    outcome = evaluate(_policy(waivers=[expired]), broken, policy_name="p", today=TODAY)
    assert outcome.waivers[0].state == "expired"
    assert outcome.waivers[0].results == (first,)
    warning = next(r for r in outcome.reasons if r.outcome == "warning")
    assert "EXPIRED on 2026-11-19" in warning.message
    # Expiry is inclusive: a waiver expiring today still waives.
    today = {**only_first, "expires": TODAY.isoformat()}
    assert (
        evaluate(_policy(waivers=[today]), broken, policy_name="p", today=TODAY).waivers[0].state
        == "applied"
    )
    stale = {"subject": "staff:nobody/*", "owner": "X", "reason": "r", "expires": "2027-01-01"}
    outcome = evaluate(_policy(waivers=[stale]), clean, policy_name="p", today=TODAY)
    assert outcome.verdict == GO and outcome.waivers[0].state == "stale"
    assert any("stale" in r.message for r in outcome.reasons)


def test_thresholds_groups_and_unknowns(clean: SweepRecord) -> None:
    broken = _broken(clean, _ids(clean, 3))
    site = {"per": "site", "min_ready_pct": 100}
    verdict, rules = _judge(_policy(thresholds=[site]), broken)
    assert verdict == NO_GO and rules["threshold each site >= 100% ready"] == "fail"
    waiver = {
        "check": "identity.account-exists",
        "owner": "T",
        "reason": "r",
        "expires": "2027-01-31",
    }
    ready_only = _policy(
        thresholds=[{"per": "organisation", "min_ready_pct": 0.1, "role": "shared-service-account"}]
    )
    assert _judge(ready_only, clean)[1]["threshold role shared-service-account >= 0.1% ready"]
    people = {p.key: p for p in broken.people}
    subjects = {i.split("|")[0] for i in _ids(clean, 3)}
    assert all(people[s].verdict is Verdict.NOT_READY for s in subjects)
    low = _policy(thresholds=[{"per": "programme", "min_ready_pct": 0}], waivers=[waiver])
    assert _judge(low, broken)[0] == GO  # a threshold met without waivers: waiver unused here
    empty = _policy(thresholds=[{"name": "desk", "tag": "no-such-tag", "min_ready_pct": 50}])
    verdict, rules = _judge(empty, clean)
    assert (verdict, rules["threshold desk >= 50% ready"]) == (NO_GO, "fail")
    unknowns = clean.verdict_counts()["unknown"]
    assert _judge(_policy(max_unknown=unknowns), clean)[0] == GO
    if unknowns:
        assert _judge(_policy(max_unknown=unknowns - 1), clean)[0] == NO_GO


def test_threshold_met_only_with_waivers_is_conditional(clean: SweepRecord) -> None:
    ids = _ids(clean, 1)
    broken = _broken(clean, ids)
    ready = broken.verdict_counts()["ready"]
    needed = 100 * (ready + 1) / len(broken.people) - 0.001  # one more person than ready
    rule = {"name": "all", "min_ready_pct": needed}
    waiver = {"match": ids[0], "owner": "T", "reason": "r", "expires": "2027-01-31"}
    verdict, rules = _judge(_policy(thresholds=[rule], waivers=[waiver]), broken)
    assert (verdict, rules[f"threshold all >= {needed:g}% ready"]) == (CONDITIONAL, "waived")
    assert _judge(_policy(thresholds=[rule]), broken)[0] == NO_GO


def test_regressions_against_the_previous_sweep(clean: SweepRecord) -> None:
    ids = _ids(clean, 1)
    broken = _broken(clean, ids)
    before = {r.id: [r.status.value, r.root_cause] for r in clean.results}
    verdict, rules = _judge(_policy(), broken, before)
    assert (verdict, rules["no regressions"]) == (NO_GO, "fail")
    waiver = {"match": ids[0], "owner": "T", "reason": "r", "expires": "2027-01-31"}
    assert _judge(_policy(waivers=[waiver]), broken, before)[0] == CONDITIONAL
    assert _judge(_policy(regressions="allow"), broken, before)[0] == GO
    assert _judge(_policy(), broken, None)[1]["no regressions"] == "pass"


def test_a_partial_sweep_is_no_go(clean: SweepRecord) -> None:
    partial = dataclasses.replace(
        clean, meta=dataclasses.replace(clean.meta, partial="interrupted by SIGTERM")
    )
    assert _judge(_policy(), partial)[0] == NO_GO
    assert _judge(_policy(require_complete=False), partial)[0] == GO
    assert exit_code(evaluate(_policy(), partial, policy_name="p", today=TODAY)) == 6


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("critical: [a]\nthreshold:\n  - {min_ready_pct: 9}\n", ":2", "unknown key 'threshold'"),
        (
            "thresholds:\n  - {per: site, min_ready_pct: 120}\n",
            ":2",
            "thresholds[0]: min_ready_pct must be at most 100",
        ),
        (
            "thresholds:\n  - {per: room, min_ready_pct: 1}\n",
            ":2",
            "thresholds[0]: per must be one of 'programme', 'organisation' or 'site'",
        ),
        (
            "waivers:\n  - match: x\n    owner: o\n    expires: 2027-01-01\n",
            ":2",
            "missing required key 'reason'",
        ),
        (
            "waivers:\n  - {match: x, check: y, owner: o, reason: r, expires: 2027-01-01}\n",
            ":2",
            "either match or subject/check/target",
        ),
        ("waivers:\n  - {match: x, owner: o, reason: r, expires: someday}\n", ":2", "expires"),
        ("- just a list\n", "gate.yaml", "one YAML mapping"),
        ("critical: [a\n", ":2", "malformed YAML"),
    ],
)
def test_policy_problems_with_file_and_line(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ProblemError) as caught:
        load_policy(path)
    (problem,) = caught.value.problems
    assert problem.where.endswith(where) and str(path) in problem.where, problem
    assert message in problem.message, problem
    assert main(["gate", "--policy", str(path), "--state-dir", str(tmp_path)]) == 2


def test_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ProblemError) as caught:
        load_policy(_write(tmp_path, "critcal: [a]\n"))
    assert caught.value.problems[0].hint == "did you mean 'critical'?"


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"critical", "thresholds", "max_unknown", "regressions", "waivers"} <= set(
        schema["properties"]
    )


def test_gate_command_exit_codes_and_report(
    tmp_path: Path, clean: SweepRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _ids(clean, 1)
    state = tmp_path / "state"
    with History.of(state) as h:
        h.add(dataclasses.replace(clean, meta=dataclasses.replace(clean.meta, finished_at=at(0))))
        h.add(_broken(clean, ids, "second"))
    go = _write(tmp_path, "regressions: allow\n")
    assert main(["gate", "1", "--policy", str(go), "--state-dir", str(state)]) == 0
    assert "Gate: GO" in capsys.readouterr().out
    assert main(["gate", "--policy", str(go), "--state-dir", str(state)]) == 0
    strict = tmp_path / "strict.yaml"
    strict.write_text("critical: [identity.account-exists]\n", "utf-8")
    assert main(["gate", "--policy", str(strict), "--state-dir", str(state)]) == ExitCode.NO_GO
    out = capsys.readouterr().out
    assert "FAIL     critical identity.account-exists" in out
    assert "FAIL     no regressions" in out
    waived = tmp_path / "waived.yaml"
    waived.write_text(
        textwrap.dedent(f"""\
        critical: [identity.account-exists]
        waivers:
          - match: "{ids[0]}"
            owner: North identity team
            reason: joins in February
            expires: 2099-01-01
        """),
        "utf-8",
    )
    code = main(["gate", "--policy", str(waived), "--state-dir", str(state)])
    assert code == ExitCode.CONDITIONAL_GO and int(code) == 5
    out = capsys.readouterr().out
    assert "Waived failures (accepted exceptions, not hidden)" in out and ids[0] in out
    html = tmp_path / "r.html"
    assert (
        main(["report", "--policy", str(waived), "--out", str(html), "--state-dir", str(state)])
        == 0
    )
    text = html.read_text("utf-8")
    assert (
        "CONDITIONAL GO" in text and "joins in February" in text and "North identity team" in text
    )
    assert main(["gate", "--state-dir", str(state)]) == ExitCode.INVALID  # no policy


def test_sweep_then_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOT_N0001", "x")  # the minimal inventory's pilot credential
    policy = _write(tmp_path, "thresholds:\n  - {min_ready_pct: 50}\n")
    code = main(
        [
            "sweep",
            str(MINIMAL),
            "--family",
            "dns",
            "--state-dir",
            str(tmp_path / "s"),
            "--no-progress",
            "--gate",
            str(policy),
        ]
    )
    assert code == ExitCode.NO_GO  # no one is verified ready by the dns family alone
