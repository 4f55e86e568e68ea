"""The human summary of a sweep: per organisation, per family, blockers first, each
with its fix. Plain text when not on a terminal or when NO_COLOR is set."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from readiness.results import Status
from readiness.sweep import SweepReport

STATUS_STYLE = {"pass": "green", "warn": "yellow", "skip": "dim", "error": "magenta",
                "fail": "bold red"}
EXIT_MEANING = {0: "nothing failed or errored", 1: "something failed",
                3: "nothing failed, but something could not be determined"}


def render(report: SweepReport, *, color: bool, limit: int = 15) -> str:
    """The summary as text; with ``color`` it carries rich markup."""
    from rich.markup import escape as rich_escape

    def escape(text: str) -> str:
        return rich_escape(text) if color else text

    def st(status: str, text: str | None = None) -> str:
        body = escape(text if text is not None else status.upper())
        return f"[{STATUS_STYLE[status]}]{body}[/]" if color else body

    programme = report.inventory.programme
    days = (report.go_live.date() - report.finished_at.date()).days
    when = f"in {days} days" if days > 0 else ("today" if days == 0 else f"{-days} days ago")
    lines = [f"Day-1 readiness: {escape(programme.name)}, go-live "
             f"{report.go_live.date().isoformat()} ({when})"]
    total = report.verdict_counts()
    in_scope = len(report.verdicts)
    lines.append(
        f"Staff in scope: {in_scope}: " + st("pass", f"{total['ready']} ready") + ", "
        + st("fail", f"{total['not ready']} not ready") + ", "
        + st("error", f"{total['unknown']} unknown")
    )
    lines += ["", _table(
        ["organisation", "staff", "ready", "not ready", "unknown", "% ready"],
        [[org, str(sum(c.values())), str(c["ready"]), str(c["not ready"]), str(c["unknown"]),
          _pct(c["ready"], sum(c.values()))]
         for org in sorted(report.inventory.organisations)
         for c in [report.verdict_counts(org)] if sum(c.values())],
        escape,
    )]
    per_family: dict[str, Counter[str]] = defaultdict(Counter)
    for r in report.results:
        per_family[r.family or r.check.split(".")[0]][r.status.value] += 1
    order = [s.value for s in sorted(Status, key=lambda s: -s.severity)]
    lines += ["", _table(["check family", *order],
                         [[fam, *(str(c[s]) for s in order)]
                          for fam, c in sorted(per_family.items(),
                                               key=lambda kv: (-kv[1]["fail"], -kv[1]["error"],
                                                               kv[0]))],
                         escape)]
    blockers = report.blockers()
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
    warnings = Counter(r.check for r in report.results if r.status is Status.WARN)
    if warnings:
        lines += ["", "Warnings: " + ", ".join(f"{escape(c)} x{n}"
                                               for c, n in sorted(warnings.items()))]
    code = report.exit_code
    lines += ["", f"Exit code {code}: {EXIT_MEANING[code]}"]
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(header: list[str], rows: list[list[str]], escape: Callable[[str], str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    out = ["  " + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                            for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    for row in rows:
        out.append("  " + "  ".join(escape(c).ljust(w) if i == 0 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)
