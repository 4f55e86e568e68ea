"""JUnit XML for CI servers' test views: one testcase per result, suites by family and
organisation; ``fail`` as <failure> (summary, expected/observed, impact, fix, owner),
``error`` as <error> (we could not find out: never a test failure), ``skip`` as
<skipped>, warnings as passes that say so. Valid against the Jenkins JUnit schema
(``tests/reports/junit-10.xsd``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions
from readiness.results import Result, Status

SHARED = "shared"  # suite of results about objects that no one organisation holds
# Characters XML 1.0 cannot carry at all (a server's banner may contain any of them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def organisation_of(result: Result, record: SweepRecord) -> str:
    if result.subject.startswith("staff:"):
        return result.subject[len("staff:") :].partition("/")[0]
    orgs = {record.sites[s].organisation for s in result.sites if s in record.sites}
    return orgs.pop() if len(orgs) == 1 else SHARED


def _body(result: Result) -> str:
    lines = [result.summary]
    for label, value in (("expected", result.expected), ("observed", result.observed),
                         ("impact", result.impact), ("fix", result.hint),
                         ("owner", result.owner), ("root cause", result.root_cause)):  # fmt: skip
        if value:
            lines.append(f"{label}: {value}")
    return _x("\n".join(lines))


class JunitRenderer:
    name = "junit"
    description = "JUnit XML: one testcase per result, suites by family and organisation"
    filename = "junit.xml"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        suites: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for result in record.results:
            family = result.family or result.check.partition(".")[0]
            suites[(family, organisation_of(result, record))].append(result)
        stamp = record.meta.finished_at.replace(tzinfo=None).isoformat(timespec="seconds")
        root = ET.Element("testsuites", name=_x(f"Day-1 readiness: {record.meta.programme}"))
        totals = {"tests": 0, "failures": 0, "errors": 0}
        for (family, org), results in sorted(suites.items()):
            counts = {s: sum(r.status is s for r in results) for s in Status}
            suite = ET.SubElement(
                root, "testsuite", name=f"{family}.{org}", tests=str(len(results)),
                failures=str(counts[Status.FAIL]), errors=str(counts[Status.ERROR]),
                skipped=str(counts[Status.SKIP]), timestamp=stamp,
                time=f"{sum(r.duration_ms for r in results) / 1000:.3f}",
            )  # fmt: skip
            if record.meta.opt_outs:  # a safety check the inventory turned off
                props = ET.SubElement(suite, "properties")
                for opt_out in record.meta.opt_outs:
                    ET.SubElement(props, "property", name="opt_out", value=_x(opt_out))
            for r in results:
                case = ET.SubElement(
                    suite, "testcase", name=_x(r.id), classname=f"{family}.{org}",
                    time=f"{r.duration_ms / 1000:.3f}",
                )  # fmt: skip
                if r.status is Status.FAIL:
                    ET.SubElement(
                        case, "failure", message=_x(r.summary), type=r.check
                    ).text = _body(r)
                elif r.status is Status.ERROR:
                    ET.SubElement(case, "error", message=_x(r.summary), type=r.check).text = _body(
                        r
                    )
                elif r.status is Status.SKIP:
                    ET.SubElement(case, "skipped", message=_x(r.summary))
                elif r.status is Status.WARN:
                    ET.SubElement(case, "system-out").text = "warning: " + _body(r)
            totals["tests"] += len(results)
            totals["failures"] += counts[Status.FAIL]
            totals["errors"] += counts[Status.ERROR]
        root.attrib.update({k: str(v) for k, v in totals.items()})
        root.set("time", f"{sum(record.meta.timings.values()):.3f}")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


renderer = JunitRenderer()
