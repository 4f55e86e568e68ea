"""The human summary of a sweep: per organisation, per family, blockers first, each
with its fix. Plain text when not on a terminal or when NO_COLOR is set."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from readiness.record.model import SweepMeta, SweepRecord
from readiness.reports import RenderOptions
from readiness.results import Status

STATUS_STYLE = {"pass": "green", "warn": "yellow", "skip": "dim", "error": "magenta",
                "fail": "bold red"}


class ConsoleRenderer:
    name = "console"
    description = "the terminal summary: verdicts per organisation, blockers with their fix"
    filename = ""

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        return render(record, color=options.color, limit=options.limit)


renderer = ConsoleRenderer()


def render(record: SweepRecord, *, color: bool, limit: int = 15) -> str:
    """The summary as text; with ``color`` it carries rich markup."""
    from rich.markup import escape as rich_escape

    def escape(text: str) -> str:
        return rich_escape(text) if color else text

    def st(status: str, text: str | None = None) -> str:
        body = escape(text if text is not None else status.upper())
        return f"[{STATUS_STYLE[status]}]{body}[/]" if color else body

    meta = record.meta
    days = (meta.go_live.date() - meta.finished_at.date()).days
    when = f"in {days} days" if days > 0 else ("today" if days == 0 else f"{-days} days ago")
    lines = [f"Day-1 readiness: {escape(meta.programme)}, go-live "
             f"{meta.go_live.date().isoformat()} ({when})"]
    lines += _what_if(meta)
    total = record.verdict_counts()
    lines.append(
        f"Staff in scope: {len(record.people)}: " + st("pass", f"{total['ready']} ready") + ", "
        + st("fail", f"{total['not ready']} not ready") + ", "
        + st("error", f"{total['unknown']} unknown")
    )
    lines += ["", _table(
        ["organisation", "staff", "ready", "not ready", "unknown", "% ready"],
        [[org, str(sum(c.values())), str(c["ready"]), str(c["not ready"]), str(c["unknown"]),
          _pct(c["ready"], sum(c.values()))]
         for org in sorted(record.organisations)
         for c in [record.verdict_counts(org)] if sum(c.values())],
        escape,
    )]
    gaps = [f"{kind} {c.needed - c.verified} of {c.needed}"
            for kind, c in record.coverage.items() if c.verified < c.needed]
    if gaps:
        lines += ["", "Not verified by any check in this sweep: " + ", ".join(gaps)]
    per_family: dict[str, Counter[str]] = defaultdict(Counter)
    for r in record.results:
        per_family[r.family or r.check.split(".")[0]][r.status.value] += 1
    order = [s.value for s in sorted(Status, key=lambda s: -s.severity)]
    lines += ["", _table(["check family", *order],
                         [[fam, *(str(c[s]) for s in order)]
                          for fam, c in sorted(per_family.items(),
                                               key=lambda kv: (-kv[1]["fail"], -kv[1]["error"],
                                                               kv[0]))],
                         escape)]
    blockers = record.blockers
    if blockers:
        lines += ["", f"Blockers, ranked by people affected ({len(blockers)}):"]
        for b in blockers[:limit]:
            who = f"{b.people} staff" if b.people else "no staff in scope"
            owner = f", owner: {escape(b.owner)}" if b.owner else ""
            lines.append(f"  {st(b.status.value)} {escape(b.check)}: {who}, "
                         f"{b.results} result(s){owner}")
            lines.append(f"       seen: {escape(b.summary)}")
            if b.impact:
                lines.append(f"     impact: {escape(b.impact)}")
            if b.hint:
                lines.append(f"        fix: {escape(b.hint)}")
        if len(blockers) > limit:
            lines.append(f"  ... and {len(blockers) - limit} more in results.json")
    warnings = Counter(r.check for r in record.results if r.status is Status.WARN)
    if warnings:
        lines += ["", "Warnings: " + ", ".join(f"{escape(c)} x{n}"
                                               for c, n in sorted(warnings.items()))]
    code = record.exit_code
    lines += ["", f"Exit code {int(code)}: {code.meaning}"]
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _what_if(meta: SweepMeta) -> list[str]:
    """Which moment a --go-live sweep judged against, and how far from the programme's."""
    own = meta.programme_go_live
    if own is None or own == meta.go_live:
        return []
    days = (meta.go_live - own).days
    gap = f"{abs(days)} days {'later' if days > 0 else 'earlier'}" if days else "the same day"
    return [
        f"Judged as of --go-live {meta.go_live.isoformat()}, not the programme's go-live "
        f"{own.isoformat()} ({gap})"
    ]


def _table(header: list[str], rows: list[list[str]], escape: Callable[[str], str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    out = ["  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                            for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    for row in rows:
        out.append("  " + "  ".join(escape(c).ljust(w) if i == 0 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)
