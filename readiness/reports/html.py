"""The leadership report: one self-contained HTML file (inline CSS, JS and SVG; nothing
fetched from anywhere), rendered by Jinja2 with autoescaping on.

Exceptions first (the gate's verdict, what changed since the previous sweep), then %
ready per organisation side by side, the red/amber/green grid, blockers with their
age, per-owner KPIs, the trend towards go-live, coverage, and a per-person drill-down
whose rows are drawn by a small script from embedded JSON (a table of 20,000 rows
drawn up front would make the page slow to open). The sign-off block carries the
SHA-256 of the document itself, computed with the hash's own place holding zeros
(:func:`verify` checks a file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from readiness.record.context import ReportContext, TrendPoint
from readiness.record.model import SweepRecord
from readiness.record.nogc import paused_gc
from readiness.reports import RenderOptions
from readiness.reports import summary as s

__all__ = ["HtmlRenderer", "renderer", "trend_svg", "verify"]

PLACEHOLDER = "0" * 64
MARK = 'data-report-sha256="'
COLOURS = ("#1f5fa8", "#b5531c", "#2e7d32", "#6a3d9a", "#8c6d1f")  # org lines, by id order
DASHES = ("", "6 4", "2 3", "10 3 2 3", "1 4")  # told apart without colour too


class HtmlRenderer:
    name = "html"
    description = "the leadership report: one self-contained HTML file"
    filename = "report.html"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        from jinja2 import Environment, PackageLoader, select_autoescape

        env = Environment(
            loader=PackageLoader("readiness.reports", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        with paused_gc():
            text = env.get_template("report.html.j2").render(view(record, options.context))
        digest = hashlib.sha256(text.encode()).hexdigest()
        return text.replace(MARK + PLACEHOLDER, MARK + digest, 1)


renderer = HtmlRenderer()


def verify(text: str) -> bool:
    """Whether an HTML report is unaltered: its SHA-256, with the hash's place holding
    zeros, is the hash it carries."""
    at = text.find(MARK)
    if at < 0:
        return False
    start = at + len(MARK)
    claimed = text[start : start + 64]
    blank = text[:start] + PLACEHOLDER + text[start + 64 :]
    return hashlib.sha256(blank.encode()).hexdigest() == claimed


def view(record: SweepRecord, context: ReportContext) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    meta = record.meta
    now = meta.finished_at
    owners = s.person_owners(record)
    owner_names = sorted({o for names in owners.values() for o in names})
    owner_index = {o: i for i, o in enumerate(owner_names)}
    people = [
        [
            p.name, p.id, p.organisation, p.site, p.verdict.value, p.username, p.mail,
            [owner_index[o] for o in owners.get(p.key, ())],
            [
                [r.status.value, r.check, r.summary, r.hint, r.owner, r.expected, r.observed]
                for r in record.results_of(p.reasons)
            ],
            list(p.unverified),
            [[n.need, n.verdict] for n in p.needs],
        ]
        for p in record.people
    ]  # fmt: skip
    blockers = []
    for b in record.blockers:
        age = context.ages.get(b.root_cause)
        blockers.append(
            {
                "b": b,
                "first": f"#{age.first_seq}" if age else "this sweep",
                "days": age.days_open(now) if age else 0,
                "sweeps": age.sweeps if age else 1,
            }
        )
    changes = context.changes
    change_view = None
    if changes is not None:
        blocker_by_cause = {b.root_cause: b for b in record.blockers}
        change_view = {
            "c": changes,
            "new_blockers": [blocker_by_cause[c] for c in changes.new_blockers
                             if c in blocker_by_cause],
            "regressions": record.results_of(changes.regressions[:50]),
        }  # fmt: skip
    return {
        "record": record,
        "meta": meta,
        "days": s.days_to_go_live(record),
        "headlines": s.headlines(record),
        "totals": record.verdict_counts(),
        "grid": s.grid(record),
        "services": s.SERVICES,
        "columns": [
            (org, [(org, "all")] + [(f"{org}/{site}", site_name(record, site)) for site in sites])
            for org, sites in s.places(record)
        ],
        "green": s.GREEN,
        "amber": s.AMBER,
        "blockers": blockers,
        "owners": s.owners(record, context.ages, now),
        "coverage": sorted(record.coverage.items()),
        "changes": change_view,
        "gate": context.gate,
        "seq": context.seq,
        "trend": trend_svg(context.trend, record.organisations, meta.go_live),
        "people": people,
        "owner_names": owner_names,
        "sites": sorted(record.sites),
        "results": len(record.results),
        "counts": record.counts(),
        "placeholder": PLACEHOLDER,
        "generated": now.strftime("%Y-%m-%d %H:%M UTC"),
    }


def site_name(record: SweepRecord, site: str) -> str:
    info = record.sites.get(site)
    return info.name if info and info.name else site


def trend_svg(
    points: Sequence[TrendPoint], organisations: Mapping[str, str], go_live: dt.datetime
) -> dict[str, Any]:
    """Coordinates of the trend chart (% ready per organisation over time), drawn as an
    inline SVG by the template: time on x (up to go-live), 0-100% on y."""
    width, height, left, right, top, bottom = 720, 260, 48, 96, 16, 36
    if not points:
        return {"lines": [], "width": width, "height": height, "empty": True}
    start = points[0].finished_at
    end = max(go_live, points[-1].finished_at)
    span = max((end - start).total_seconds(), 1.0)

    def x(moment: dt.datetime) -> float:
        return round(left + (width - left - right) * (moment - start).total_seconds() / span, 1)

    def y(pct: float) -> float:
        return round(top + (height - top - bottom) * (1 - pct / 100), 1)

    lines = []
    for i, org in enumerate(sorted(organisations)):
        coords = [(x(p.finished_at), y(p.ready_pct[org]), p) for p in points if org in p.ready_pct]
        if not coords:
            continue
        lines.append(
            {
                "org": org,
                "name": organisations[org],
                "colour": COLOURS[i % len(COLOURS)],
                "dash": DASHES[i % len(DASHES)],
                "path": " ".join(f"{cx},{cy}" for cx, cy, _ in coords),
                "dots": [
                    {"x": cx, "y": cy, "title": f"#{p.seq} {p.finished_at:%Y-%m-%d %H:%M}: "
                     f"{organisations[org]} {p.ready_pct[org]:.1f}% ready"}
                    for cx, cy, p in coords
                ],
                "last": coords[-1],
                "label": f"{p.ready_pct[org]:.1f}%" if (p := points[-1]).ready_pct.get(org)
                is not None else "",
            }
        )  # fmt: skip
    return {
        "empty": False,
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "grid": [{"y": y(v), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)],
        "go_live_x": x(go_live),
        "go_live": go_live.date().isoformat(),
        "first": start.date().isoformat(),
        "lines": lines,
        "sweeps": len(points),
    }
