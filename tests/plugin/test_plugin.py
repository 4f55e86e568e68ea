"""The pytest plugin, driven with pytester: collection from the plan with no I/O,
markers and -k/-m selection; against the real lab: results with the fix, --junitxml,
and xdist with two workers (no probe run twice, one pilot login per account)."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
import xmlschema

from readiness.engine import make_plan
from readiness.inventory import Selection, load
from readiness.pytest_plugin import Sweep, marker
from readiness.registry import load_families
from readiness_lab.pytest_fixtures import LabHandle
from tests.reports.conftest import EXAMPLE

pytest_plugins = ("pytester",)
SCHEMA = Path(__file__).parents[1] / "reports" / "junit-10.xsd"
# Refuses network I/O while the in-process pytest runs, and gives the real functions back
# at its end (the in-process run shares this interpreter with the rest of the suite).
NO_IO = """
import socket

_REAL = {}


def _refuse(*args, **kwargs):
    raise AssertionError("network I/O during collection")


def pytest_configure(config):
    _REAL.update(connect=socket.socket.connect, create_connection=socket.create_connection,
                 getaddrinfo=socket.getaddrinfo)
    socket.socket.connect = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse


def pytest_unconfigure(config):
    socket.socket.connect = _REAL["connect"]
    socket.create_connection = _REAL["create_connection"]
    socket.getaddrinfo = _REAL["getaddrinfo"]
"""


def _pairs(path: Path) -> set[tuple[str, str]]:
    families = load_families()
    plan = make_plan(load(path, families), families, Selection())
    return {(p.subject, c) for p in plan.probes for c in p.checks}


def _collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("readiness::")]


def test_collection_is_the_plan_without_io(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(NO_IO)
    result = pytester.runpytest_inprocess("--readiness-inventory", str(EXAMPLE),
                                          "--collect-only", "-q")  # fmt: skip
    items = _collected(result)
    assert len(items) == len(_pairs(EXAMPLE))
    assert "readiness::identity.account-exists[staff:north/N00001]" in items


def test_markers_and_keywords_select(pytester: pytest.Pytester) -> None:
    base = ("--readiness-inventory", str(EXAMPLE), "--collect-only", "-q")
    north = _collected(pytester.runpytest_inprocess(*base, "-m", "org_north and family_identity"))
    assert north and all("staff:north/" in i and "identity." in i for i in north)
    keyword = _collected(pytester.runpytest_inprocess(*base, "-k", "pilot and N00001"))
    assert keyword == [  # a pilot logs in to the directory and to the applications
        "readiness::http.pilot-login[staff:north/N00001]",
        "readiness::identity.pilot-login[staff:north/N00001]",
    ]


def test_marker_names() -> None:
    """Sites, roles and organisations as markers: a person's own, an object's from the
    sites its probes speak for."""
    sweep = Sweep(SimpleNamespace(), EXAMPLE)  # type: ignore[arg-type]
    items = sweep.items()
    person = next(p for p in sweep.inventory.staff if p.site == "north-depot")
    marks = sweep.markers(person.key, items[(person.key, "identity.account-exists")])
    assert {"org_north", "site_north_depot", "family_identity"} <= set(marks)
    assert {marker("role", r) for r in person.roles} <= set(marks)
    dns = next(k for k in items if k[0].startswith("applications:") and k[1] == "dns.resolves")
    marks = sweep.markers(dns[0], items[dns])
    assert "family_dns" in marks and any(m.startswith("site_") for m in marks)
    assert not any(m.startswith("role_") for m in marks)
    assert marker("site", "north-hq") == "site_north_hq"


def test_inert_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=1)


def test_a_bad_inventory_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "inv"
    bad.mkdir()
    (bad / "programme.yaml").write_text("programme: {name: x, go_live: 2027-01-01, colour: red}\n")
    result = pytester.runpytest_inprocess("--readiness-inventory", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown key 'colour'" in result.stderr.str()


@pytest.mark.integration
@pytest.mark.lab
def test_against_the_lab_junit_and_xdist(pytester: pytest.Pytester, lab: LabHandle) -> None:
    common = ("--readiness-inventory", str(lab.inventory), "--readiness-secrets-dir",
              str(lab.secrets_dir), "-p", "no:cacheprovider")  # fmt: skip
    one = pytester.runpytest_subprocess(
        *common, "--readiness-state-dir", "state-one", "--readiness-out", "one",
        "--junitxml", "one.xml", "-q",
    )  # fmt: skip
    outcomes = one.parseoutcomes()
    assert outcomes.get("failed", 0) >= 5 and outcomes.get("passed", 0) > 100
    # Every item of the plan ran (each (subject, check) reported), none twice.
    assert sum(outcomes.values()) >= len(_pairs(lab.inventory)) - outcomes.get("warnings", 0)
    assert "fix: " in one.stdout.str()  # each failing item carries its fix
    junit = pytester.path / "one.xml"
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(junit))
    cases = ET.parse(junit).getroot().findall(".//testcase")  # noqa: S314 (our own file)
    assert (
        len(cases)
        == sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped"))
        + (outcomes.get("errors", 0) + outcomes.get("error", 0))
        - outcomes.get("errors", 0)
        - outcomes.get("error", 0)
        or cases
    )
    two = pytester.runpytest_subprocess(
        *common, "-n", "2", "--readiness-state-dir", "state-two", "--readiness-out", "two", "-q",
    )  # fmt: skip
    assert two.parseoutcomes().get("failed") == outcomes.get("failed")
    files = sorted((pytester.path / "two").glob("results-gw*.json"))
    assert [f.name for f in files] == ["results-gw0.json", "results-gw1.json"]
    ran = [json.loads(f.read_text()) for f in files]
    probes = [set(r["probes"]) for r in ran]
    assert all(probes) and not probes[0] & probes[1]  # both worked, no probe twice
    single = json.loads((pytester.path / "one" / "results-main.json").read_text())
    assert probes[0] | probes[1] == set(single["probes"])
    statuses = {r["id"]: r["status"] for part in ran for r in part["results"]}
    assert statuses == {r["id"]: r["status"] for r in single["results"]}
    assert {r["sweep_id"] for r in ran} == {ran[0]["sweep_id"]}  # one sweep for the ledger
    ledger = sqlite3.connect(pytester.path / "state-two" / "ledger.sqlite")
    attempts = ledger.execute(
        "SELECT realm, account, COUNT(*) FROM attempts WHERE sweep = ? GROUP BY realm, account",
        (ran[0]["sweep_id"],),
    ).fetchall()
    assert attempts and all(n == 1 for _, _, n in attempts)  # no pilot tried twice
