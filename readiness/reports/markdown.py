"""The leadership summary in Markdown, for email and chat: the same headline, grid and
top blockers as the HTML report, plus what changed and the gate's verdict when known."""

from __future__ import annotations

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions
from readiness.reports import summary as s

MARKS = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}


def _cell(text: str) -> str:
    """A table cell: pipes and line breaks would break the table."""
    return text.replace("|", "\\|").replace("\n", " ")


class MarkdownRenderer:
    name = "md"
    description = "the leadership summary in Markdown (headline, grid, top blockers)"
    filename = "report.md"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        meta, ctx = record.meta, options.context
        days = s.days_to_go_live(record)
        when = f"{days} days to go" if days > 0 else "today" if days == 0 else f"{-days} days ago"
        out = [
            f"# Day-1 readiness: {_cell(meta.programme)}",
            "",
            f"Sweep {'#' + str(ctx.seq) + ' ' if ctx.seq else ''}`{meta.sweep_id[:12]}`, "
            f"{meta.finished_at:%Y-%m-%d %H:%M} UTC; go-live "
            f"{meta.go_live.date().isoformat()} ({when})."
            + (f" **Partial: {meta.partial}.**" if meta.partial else ""),
            "",
        ]
        if meta.opt_outs:
            out += ["**Safety checks turned off by the inventory:** "
                    + ", ".join(f"`{o}`" for o in meta.opt_outs), ""]  # fmt: skip
        if ctx.gate:
            out += [f"**Gate: {ctx.gate.verdict}** (policy `{ctx.gate.policy}`)", ""]
            out += [f"- {r.outcome}: **{r.rule}**: {r.message}"
                    for r in ctx.gate.reasons if r.outcome != "pass"]  # fmt: skip
            out += [f"- waiver `{w.pattern}` ({w.state}, owner {w.owner}, expires "
                    f"{w.expires.isoformat()}): {w.reason}" for w in ctx.gate.waivers]  # fmt: skip
            out.append("")
        if ctx.changes:
            c = ctx.changes
            out += [
                f"Since sweep #{c.before_seq}: {len(c.new_blockers)} new blocker(s), "
                f"{len(c.fixed_blockers)} fixed, {len(c.regressions)} regression(s); "
                f"{len(c.became_ready)} people became ready, {len(c.became_not_ready)} "
                "became not ready.",
                "",
            ]
        heads = s.headlines(record)
        out += [
            "| | " + " | ".join(_cell(h.name) for h in heads) + " |",
            "|---|" + "---:|" * len(heads),
            "| % ready | " + " | ".join(f"**{h.pct:.1f}%**" for h in heads) + " |",
            "| ready | " + " | ".join(str(h.ready) for h in heads) + " |",
            "| not ready | " + " | ".join(str(h.not_ready) for h in heads) + " |",
            "| unknown | " + " | ".join(str(h.unknown) for h in heads) + " |",
            "",
        ]
        grid = s.grid(record)
        places = s.places(record)
        columns = [
            col
            for org, sites in places
            for col in [(org, f"{org} (all)")] + [(f"{org}/{site}", site) for site in sites]
        ]
        out += [
            "| service | " + " | ".join(_cell(label) for _, label in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for service, _ in s.SERVICES:
            cells = [grid[service].get(key) for key, _ in columns]
            out.append(
                f"| {service} | "
                + " | ".join(f"{MARKS[c.rag]} {c.label}" if c else "-" for c in cells)
                + " |"
            )
        gaps = [f"{k} {c.needed - c.verified} of {c.needed}"
                for k, c in sorted(record.coverage.items()) if c.verified < c.needed]  # fmt: skip
        if gaps:
            out += ["", "Not verified by any check in this sweep: " + ", ".join(gaps) + "."]
        out += ["", f"## Top blockers ({len(record.blockers)} in all)", ""]
        if record.blockers:
            out += ["| # | people | what is wrong | owner | fix | days open |",
                    "|---:|---:|---|---|---|---:|"]  # fmt: skip
            for i, b in enumerate(record.blockers[: options.limit], 1):
                age = ctx.ages.get(b.root_cause)
                days_open = age.days_open(meta.finished_at) if age else 0
                out.append(
                    f"| {i} | {b.people} | {b.status.value}: {_cell(b.summary)} | "
                    f"{_cell(b.owner or '(no owner)')} | {_cell(b.hint)} | {days_open} |"
                )
        else:
            out.append("No blockers.")
        return "\n".join(out) + "\n"


renderer = MarkdownRenderer()
