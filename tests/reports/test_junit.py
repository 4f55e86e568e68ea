"""JUnit XML: valid against the schema CI servers read (tests/reports/junit-10.xsd),
one testcase per result, suites by family and organisation, failures apart from errors,
skips as skipped; `sweep --junit` writes it."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from readiness.cli import main
from readiness.record import SweepRecord
from readiness.reports import RenderOptions, renderer
from readiness.results import Status
from tests.reports.conftest import MINIMAL

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).with_name("junit-10.xsd")))


def _mixed(record: SweepRecord) -> SweepRecord:
    """Each status at least once (and text a parser could choke on)."""
    statuses = [Status.FAIL, Status.ERROR, Status.SKIP, Status.WARN]
    results = list(record.results)
    for i, status in enumerate(statuses):
        results[i] = dataclasses.replace(
            results[i], status=status, summary=f'<&> "quoted" {status.value} \x1b ok',
            hint="fix it", expected="a", observed="b",
        )  # fmt: skip
    return dataclasses.replace(record, results=tuple(results))


def test_junit_valid_and_complete(example_record: SweepRecord) -> None:
    record = _mixed(example_record)
    text = renderer("junit").render(record, RenderOptions())
    SCHEMA.validate(text)
    root = ET.fromstring(text)  # noqa: S314 - the renderer's own output, in a test
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(record.results)
    assert int(root.get("tests", "0")) == len(record.results)
    counts = record.counts()
    assert len(root.findall("testsuite/testcase/failure")) == counts["fail"]
    assert len(root.findall("testsuite/testcase/error")) == counts["error"]
    assert len(root.findall("testsuite/testcase/skipped")) == counts["skip"]
    names = {s.get("name") for s in root.findall("testsuite")}
    assert {"identity.north", "identity.south"} <= names
    assert any(n and n.startswith("dns.") for n in names)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "fix: fix it" in (failure.text or "")
    assert "expected: a" in (failure.text or "") and "observed: b" in (failure.text or "")
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests", "0")) == len(suite.findall("testcase"))


def test_sweep_writes_junit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOT_N0001", "x")  # the minimal inventory's pilot credential
    out = tmp_path / "junit.xml"
    code = main(["sweep", str(MINIMAL), "--family", "dns", "--state-dir", str(tmp_path),
                 "--no-progress", "--junit", str(out)])  # fmt: skip
    assert code in (0, 1, 3)
    SCHEMA.validate(str(out))
