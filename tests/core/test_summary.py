"""What a team reads after a sweep, from results made here (pure logic, no servers): the
sweep's own problems ranked first, every blocker ranked by the people it stops whatever
its status, the warned people listed apart with their reason, the last line saying how
many people could not be judged, staff.csv naming each person with the fix and owner of
each problem, and the go-live the sweep judged against."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from readiness.family import CheckFamily, CheckSpec
from readiness.inventory import Inventory, NeedKind, load
from readiness.record import SweepMeta, SweepRecord
from readiness.record.rollup import build
from readiness.reports import RenderOptions, renderer
from readiness.results import Origin, Result, Status

MINIMAL = Path(__file__).parent.parent / "data" / "minimal"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
AOIFE, ZOE, BOB = "staff:north/N0001", "staff:south/S0001", "staff:south/S0002"


class Desk(CheckFamily[None]):
    """Only a catalogue: the results below are made by hand."""

    name = "desk"
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec("desk.account", "account", NeedKind.ACCOUNT),
        CheckSpec("desk.mailbox", "mailbox", NeedKind.MAILBOX),
        CheckSpec("desk.phone", "phone", NeedKind.PHONE),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset(NeedKind)


def result(subject: str, status: Status, cause: str, **fields: Any) -> Result:
    return Result(
        subject=subject,
        check=fields.pop("check", "desk.account"),
        target=fields.pop("target", "directory"),
        vantage="local",
        status=status,
        summary=fields.pop("summary", f"{subject} is {status}"),
        root_cause=cause,
        family="desk",
        **fields,
    )


def passes(*subjects: str) -> list[Result]:
    """Everything else about these people is fine (so that they can be ready)."""
    return [
        result(s, Status.PASS, "ok", check=f"desk.{need}", target=need)
        for s in subjects
        for need in ("account", "mailbox", "phone")
    ]


def swept(
    results: Iterable[Result], *, go_live: dt.datetime | None = None, source: str = "programme"
) -> SweepRecord:
    inventory: Inventory = load(MINIMAL, [Desk()])
    planned = inventory.go_live
    meta = SweepMeta(
        "s1",
        "0",
        inventory.programme.name,
        go_live or planned,
        source,
        "inv",
        "",
        {},
        ("desk",),
        NOW,
        NOW,
        programme_go_live=planned if go_live else None,
    )
    unique = {r.id: r for r in [*passes(AOIFE, ZOE, BOB), *results]}
    return build(inventory, inventory.staff, list(unique.values()), meta, [Desk()])


def console(record: SweepRecord) -> str:
    return renderer("console").render(record, RenderOptions(color=False))


def test_a_result_says_whose_problem_it_is() -> None:
    assert result(AOIFE, Status.FAIL, "x").origin == Origin.ESTATE
    assert result(AOIFE, Status.ERROR, "x").origin == Origin.ACCESS
    assert result(AOIFE, Status.PASS, "x").origin == ""
    told = result(AOIFE, Status.ERROR, "x", origin=Origin.CONFIG)
    assert told.origin == Origin.CONFIG
    assert Result.from_json(told.to_json()) == told


def test_the_sweeps_own_problems_come_first_whatever_their_size() -> None:
    record = swept(
        [
            # One disabled account: the estate's problem.
            result(AOIFE, Status.FAIL, "disabled"),
            # Both southern people could not be judged: the service account cannot bind.
            result(ZOE, Status.ERROR, "svc-bind", origin=Origin.CONFIG, owner="South IT"),
            result(BOB, Status.ERROR, "svc-bind", origin=Origin.CONFIG, owner="South IT"),
        ]
    )
    assert [(b.root_cause, b.sweep, b.people) for b in record.blockers] == [
        ("svc-bind", True, 2),
        ("disabled", False, 1),
    ]
    assert record.unjudged == 2
    text = console(record)
    own = text.index("The sweep's own problems come first")
    assert own < text.index("Blockers in the estate")
    assert "ERROR its configuration: the sweep could not judge 2 staff" in text
    last = text.splitlines()[-1]
    assert last == "Exit code 1: something failed; the sweep could not judge 2 of 3 staff"
    back = SweepRecord.from_json(record.to_json())
    assert [b.origin for b in back.blockers] == ["config", "estate"]


def test_a_small_own_problem_still_comes_before_a_large_fault() -> None:
    record = swept(
        [
            result(AOIFE, Status.ERROR, "ca-bundle", origin=Origin.CONFIG),
            result(ZOE, Status.FAIL, "dns", check="desk.mailbox", target="mailbox"),
            result(BOB, Status.FAIL, "dns", check="desk.mailbox", target="mailbox"),
        ]
    )
    assert [b.root_cause for b in record.blockers] == ["ca-bundle", "dns"]


def test_blockers_rank_by_people_whatever_their_status() -> None:
    """A fault the estate must fix that we could only see as an error (a zone that
    fails to load) and stops two people ranks above one person's failure."""
    record = swept(
        [
            result(AOIFE, Status.FAIL, "locked"),
            result(ZOE, Status.ERROR, "zone", origin=Origin.ESTATE),
            result(BOB, Status.ERROR, "zone", origin=Origin.ESTATE),
        ]
    )
    assert [(b.root_cause, b.status, b.people) for b in record.blockers] == [
        ("zone", Status.ERROR, 2),
        ("locked", Status.FAIL, 1),
    ]
    assert "The sweep's own problems: none" in console(record)


def test_warned_people_are_listed_apart_with_their_reason() -> None:
    record = swept(
        [
            result(
                AOIFE,
                Status.WARN,
                "must-change",
                summary="uid=anibhriain,ou=people: must-change: pwdReset TRUE",
                reason="the password must be changed at the next login (in north-ldap)",
                hint="ask the person to change the password before go-live",
                owner="Northvale identity team",
            )
        ]
    )
    assert [p.id for p in record.warned] == ["N0001"]
    text = console(record)
    assert "Staff in scope: 3: 3 ready (1 with something to do first)" in text
    block = text[text.index("Ready, with something to do first (1)") :]
    assert (
        "WARN Aoife Ní Bhriain (anibhriain, north/N0001, north-hq): the password must be "
        "changed at the next login (in north-ldap)"
    ) in block
    assert (
        "fix: ask the person to change the password before go-live, owner: Northvale identity team"
    ) in block
    assert "pwdReset" not in block  # the raw evidence stays in results.json
    row = next(r for r in _csv(record) if r["id"] == "N0001")
    assert row["verdict"] == "ready" and row["warnings"] == "1"
    assert row["why"] == "warn: the password must be changed at the next login (in north-ldap)"
    assert row["owner"] == "Northvale identity team"


def test_staff_csv_names_each_person_with_fix_and_owner() -> None:
    record = swept(
        [
            result(
                ZOE,
                Status.FAIL,
                "locked",
                reason="the account is locked (in south-ldap)",
                hint="an administrator clears the lock",
                owner="Southmere identity team",
            )
        ]
    )
    text = renderer("csv").render(record, RenderOptions())
    assert text.startswith("\ufeffsubject,")  # spreadsheets open Zoë Łukasz correctly
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbfsubject,")
    row = next(r for r in _csv(record) if r["id"] == "S0001")
    assert row == {
        "subject": ZOE,
        "organisation": "south",
        "site": "south-hq",
        "id": "S0001",
        "name": "Zoë Łukasz",
        "username": "zlukasz",
        "mail": "",
        "verdict": "not ready",
        "problems": "1",
        "warnings": "0",
        "why": "fail: the account is locked (in south-ldap)",
        "fix": "an administrator clears the lock",
        "owner": "Southmere identity team",
        "checks": "desk.account",
    }


def test_a_blocker_of_few_people_names_them() -> None:
    text = console(swept([result(ZOE, Status.FAIL, "locked")]))
    assert "who: Zoë Łukasz (zlukasz, south/S0001, south-hq)" in text


def test_the_summary_says_which_go_live_it_judged_against() -> None:
    planned = console(swept([]))
    assert planned.splitlines()[0].endswith("go-live 2027-01-04 (in 34 days)")
    assert "not the programme's go-live" not in planned
    what_if = swept([], go_live=dt.datetime(2027, 7, 5, tzinfo=dt.UTC), source="--go-live")
    lines = console(what_if).splitlines()
    assert lines[0].endswith("judged as of 2027-07-05 (in 216 days, --go-live)")
    assert lines[1] == (
        "  not the programme's go-live: 2027-07-05 is 182 days after 2027-01-04; expiry "
        "(passwords, accounts, certificates) is judged as of 2027-07-05"
    )
    back = SweepRecord.from_json(what_if.to_json())
    assert back.meta.programme_go_live == dt.datetime(2027, 1, 4, tzinfo=dt.UTC)


def _csv(record: SweepRecord) -> list[dict[str, str]]:
    text = renderer("csv").render(record, RenderOptions())
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
