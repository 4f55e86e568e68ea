"""The human summary of a sweep, in the order a team acts on it: against which go-live
it judged, verdicts per organisation, the sweep's own problems (people it could not
judge), the estate's blockers (each with its fix, owner and, when few, the people it
stops), the people who are ready but must do something first, and how many people
could not be judged. Plain text when not on a terminal or when NO_COLOR is set."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from readiness.record.model import Blocker, PersonRecord, SweepMeta, SweepRecord
from readiness.reports import RenderOptions
from readiness.results import Origin, Result, Status

STATUS_STYLE = {
    "pass": "green",
    "warn": "yellow",
    "skip": "dim",
    "error": "magenta",
    "fail": "bold red",
}
ORIGIN_WORDS = {
    Origin.CONFIG: "its configuration",
    Origin.ACCESS: "a server it could not ask",
    Origin.DEFECT: "a defect in a check family",
    Origin.ESTATE: "the estate",
}
NAMED_UP_TO = 3  # a blocker stopping this many people or fewer names them


class ConsoleRenderer:
    name = "console"
    description = (
        "the terminal summary: the sweep's own problems first, blockers with their fix, "
        "warned people apart"
    )
    filename = ""

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        return render(record, color=options.color, limit=options.limit)


renderer = ConsoleRenderer()


def render(record: SweepRecord, *, color: bool, limit: int = 15) -> str:
    """The summary as text; with ``color`` it carries rich markup."""
    from rich.markup import escape as rich_escape
    from rich.text import Text

    def escape(text: str) -> str:
        return rich_escape(text) if color else text

    def width(cell: str) -> int:
        """What a cell takes on the terminal: its markup is not printed."""
        return Text.from_markup(cell).cell_len if color else len(cell)

    def st(status: str, text: str | None = None) -> str:
        body = escape(text if text is not None else status.upper())
        return f"[{STATUS_STYLE[status]}]{body}[/]" if color else body

    lines = _heading(record.meta, escape)
    if record.meta.opt_outs:
        lines.append(
            "Safety checks turned off by the inventory: " + escape(", ".join(record.meta.opt_outs))
        )
    total = record.verdict_counts()
    warned = record.warned
    ready = f"{total['ready']} ready" + (
        f" ({len(warned)} with something to do first)" if warned else ""
    )
    lines.append(
        f"Staff in scope: {len(record.people)}: "
        + st("pass", ready)
        + ", "
        + st("fail", f"{total['not ready']} not ready")
        + ", "
        + st("error", f"{total['unknown']} unknown")
    )
    lines += [
        "",
        _table(
            ["organisation", "staff", "ready", "not ready", "unknown", "% ready"],
            [
                [
                    org,
                    str(sum(c.values())),
                    str(c["ready"]),
                    str(c["not ready"]),
                    str(c["unknown"]),
                    _pct(c["ready"], sum(c.values())),
                ]
                for org in sorted(record.organisations)
                for c in [record.verdict_counts(org)]
                if sum(c.values())
            ],
            escape,
        ),
    ]
    gaps = [
        f"{kind} {c.needed - c.verified} of {c.needed}"
        for kind, c in record.coverage.items()
        if c.verified < c.needed
    ]
    if gaps:
        lines += ["", "Not verified by any check in this sweep: " + ", ".join(gaps)]
    lines += ["", _family_table(record.results, escape)]
    matrix = record.matrix
    if matrix:
        sites = sorted(matrix)
        objects = sorted({obj for row in matrix.values() for obj in row})
        lines += [
            "",
            "Site x service object (worst result seen from each site):",
            _table(
                ["object", *sites],
                [
                    [
                        obj,
                        *(
                            st(cell["status"], _MARK[cell["status"]]) if cell else "-"
                            for site in sites
                            for cell in [matrix[site].get(obj)]
                        ),
                    ]
                    for obj in objects
                ],
                escape,
                width,
            ),
        ]

    stopped = _people_of_blockers(record)
    own = [b for b in record.blockers if b.sweep]
    estate = [b for b in record.blockers if not b.sweep]
    lines.append("")
    if own:
        lines.append(
            f"The sweep's own problems come first: until they are fixed it cannot judge the "
            f"people they concern ({len(own)}):"
        )
        for b in own[:limit]:
            where = f", owner: {escape(b.owner)}" if b.owner else ""
            lines.append(
                f"  {st(b.status.value)} {escape(ORIGIN_WORDS[Origin(b.origin)])}: the sweep "
                f"could not judge {_staff(b.people)} ({escape(b.check)}, "
                f"{b.results} result(s)){where}"
            )
            lines += _blocker_body(b, stopped, escape)
        if len(own) > limit:
            lines.append(f"  ... and {len(own) - limit} more in results.json")
    else:
        lines.append("The sweep's own problems: none (no secret, server or check stopped it)")
    if estate:
        lines += ["", f"Blockers in the estate, ranked by people affected ({len(estate)}):"]
        for b in estate[:limit]:
            where = f", owner: {escape(b.owner)}" if b.owner else ""
            lines.append(
                f"  {st(b.status.value)} {escape(b.check)}: {_staff(b.people)}, "
                f"{b.results} result(s){where}"
            )
            lines += _blocker_body(b, stopped, escape)
        if len(estate) > limit:
            lines.append(f"  ... and {len(estate) - limit} more in results.json")
    listed: set[str] = set()
    if warned:
        lines += [
            "",
            f"Ready, with something to do first ({len(warned)}): the first callers on Day 1",
        ]
        for person in warned[:limit]:
            listed.update(person.warnings)
            for i, result in enumerate(record.results_of(person.warnings)):
                head = f"  {st('warn')} {escape(person.label)}:" if i == 0 else "        and:"
                lines.append(f"{head} {escape(result.plain)}")
                lines += _fix(result.hint, result.owner, escape)
        if len(warned) > limit:
            lines.append(f"  ... and {len(warned) - limit} more in staff.csv")
    other = Counter(
        r.check for r in record.results if r.status is Status.WARN and r.id not in listed
    )
    if other:
        lines += [
            "",
            "Other warnings: " + ", ".join(f"{escape(c)} x{n}" for c, n in sorted(other.items())),
        ]
    code = record.exit_code
    lines += [
        "",
        f"Exit code {int(code)}: {code.meaning}; the sweep could not judge "
        f"{record.unjudged} of {len(record.people)} staff",
    ]
    return "\n".join(lines)


def _heading(meta: SweepMeta, escape: Callable[[str], str]) -> list[str]:
    """Against which go-live the sweep judged, and how that differs from the programme's."""
    days = (meta.go_live.date() - meta.finished_at.date()).days
    when = f"in {days} days" if days > 0 else ("today" if days == 0 else f"{-days} days ago")
    if meta.go_live_source == "programme":
        return [
            f"Day-1 readiness: {escape(meta.programme)}, go-live {_moment(meta.go_live)} ({when})"
        ]
    lines = [
        f"Day-1 readiness: {escape(meta.programme)}, judged as of {_moment(meta.go_live)} "
        f"({when}, {escape(meta.go_live_source)})"
    ]
    planned = meta.programme_go_live
    if planned is not None and planned != meta.go_live:
        apart = (meta.go_live.date() - planned.date()).days
        relation = (
            f"{apart} days after" if apart > 0 else f"{-apart} days before" if apart < 0 else "on"
        )
        lines.append(
            f"  not the programme's go-live: {_moment(meta.go_live)} is {relation} "
            f"{_moment(planned)}; expiry (passwords, accounts, certificates) is judged as of "
            f"{_moment(meta.go_live)}"
        )
    return lines


def _moment(moment: dt.datetime) -> str:
    """A date, with the time and zone when it is not the start of a day in UTC."""
    if moment.timetz() == dt.time(0, 0, tzinfo=dt.UTC):
        return moment.date().isoformat()
    return moment.isoformat(timespec="minutes")


def _staff(n: int) -> str:
    return f"{n} staff" if n else "no staff in scope"


def _blocker_body(
    b: Blocker, stopped: dict[str, list[PersonRecord]], escape: Callable[[str], str]
) -> list[str]:
    lines = [f"       seen: {escape(b.summary)}"]
    if b.impact:
        lines.append(f"     impact: {escape(b.impact)}")
    if b.hint:
        lines.append(f"        fix: {escape(b.hint)}")
    people = stopped.get(b.root_cause, [])
    if people and len(people) <= NAMED_UP_TO:
        lines.append(f"        who: {escape('; '.join(p.label for p in people))}")
    return lines


def _fix(hint: str, owner: str, escape: Callable[[str], str]) -> list[str]:
    parts = [f"fix: {hint}" if hint else "", f"owner: {owner}" if owner else ""]
    text = ", ".join(p for p in parts if p)
    return [f"       {escape(text)}"] if text else []


def _people_of_blockers(record: SweepRecord) -> dict[str, list[PersonRecord]]:
    """root cause -> the people it stops (their verdict's reasons name it)."""
    by_id = record.by_id
    found: dict[str, list[PersonRecord]] = defaultdict(list)
    for person in record.people:
        causes = {by_id[r].root_cause for r in person.reasons if r in by_id}
        for cause in sorted(causes):
            found[cause].append(person)
    return found


def _family_table(results: Sequence[Result], escape: Callable[[str], str]) -> str:
    per_family: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        per_family[r.family or r.check.split(".")[0]][r.status.value] += 1
    order = [s.value for s in sorted(Status, key=lambda s: -s.severity)]
    rows = [
        [fam, *(str(c[s]) for s in order)]
        for fam, c in sorted(
            per_family.items(), key=lambda kv: (-kv[1]["fail"], -kv[1]["error"], kv[0])
        )
    ]
    return _table(["check family", *order], rows, escape)


_MARK = {"pass": "ok", "warn": "warn", "skip": "skip", "error": "ERROR", "fail": "FAIL"}


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(
    header: list[str],
    rows: list[list[str]],
    escape: Callable[[str], str],
    width: Callable[[str], int] = len,
) -> str:
    """Columns aligned as the terminal shows them: the first column is plain text (escaped
    here), the others may carry markup, which ``width`` does not count."""

    def seen(i: int, cell: str) -> int:
        return len(cell) if i == 0 else width(cell)

    widths = [
        max(seen(i, x) for x in col) for i, col in enumerate(zip(header, *rows, strict=False))
    ]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [
            (escape(c) if n else c) + " " * (w - len(c)) if i == 0 else " " * (w - seen(i, c)) + c
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)
