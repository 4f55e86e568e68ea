"""Benchmark: the whole lab sweep, every family on, at several sizes.

    sudo .venv/bin/python bench/whole_sweep.py [--staff 150 1000 10000] [--runs 3] [--no-samba]

For each size: ``readiness lab up --slot auto --staff N`` (its own state folder and a
free slot, so it runs next to other labs), then ``--runs`` full sweeps of the inventory
the lab wrote, each with a fresh state folder, through ``bench/counted_sweep.py`` (the
real command line, with the operations it sent counted), then ``readiness lab down``.
Also times ``readiness --help``, ``readiness validate`` and ``readiness report`` (the
HTML report of the stored sweep) on the same inventory.

Where each figure comes from:
  * wall time: the sweep command, start to exit (imports, plan, run, roll-up,
    results.json and staff.csv, history); results/s = results in results.json / wall;
  * peak RSS and CPU: ``getrusage`` of the sweep process itself;
  * LDAP searches and pages: the identity family's operation counter;
  * SMTP sessions and RCPTs: Postfix's own log (the ``disconnect from ... rcpt=n/m``
    line of every session the sweep opened, its STARTTLS look included), with the mail
    family's counter (its RCPT sessions only) beside it;
  * DNS queries: the core's resolver counter (``readiness.net.dns.QUERIES``);
  * TLS handshakes: every ``ssl`` handshake in the sweep process (bench/counted_sweep.py);
  * HTTP requests: nginx's access log (lines the sweep added), with the applications
    family's counter beside it;
  * SIP transactions: the telephony family's counter;
  * SSH: logins from the site jump hosts' sshd logs ("Accepted publickey"), channels
    from paramiko (bench/counted_sweep.py).
The load average is printed before each sweep: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
READINESS = str(Path(sys.executable).with_name("readiness"))
# Postfix's summary of a session: "rcpt=1000" (all accepted) or "rcpt=525/533" (accepted/sent).
_DISCONNECT = re.compile(r"postfix/smtpd\[\d+\]: disconnect from ")
_RCPT = re.compile(r" rcpt=(\d+)(?:/(\d+))?")


def run(argv: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Run ``argv``; its wall time (seconds). Exits with its output when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return elapsed


class ServerLogs:
    """What the lab's servers logged since the last :meth:`mark` (their own counts)."""

    def __init__(self, state: Path) -> None:
        self.files = {
            "maillog": state / "postfix" / "maillog",
            "access": state / "nginx" / "logs" / "access.log",
            **{f"sshd:{p.name}": p for p in sorted((state / "logs").glob("sshd-*.log"))},
        }
        self.offsets: dict[str, int] = {}

    def mark(self) -> None:
        self.offsets = {k: p.stat().st_size if p.exists() else 0 for k, p in self.files.items()}

    def _new(self, key: str) -> list[str]:
        path = self.files[key]
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(self.offsets.get(key, 0))
            return f.read().decode("utf-8", "replace").splitlines()

    def counts(self) -> dict[str, int]:
        sessions = rcpts = 0
        for line in self._new("maillog"):
            if _DISCONNECT.search(line):
                sessions += 1
                m = _RCPT.search(line)
                rcpts += int(m.group(2) or m.group(1)) if m else 0
        logins = sum(
            1
            for k in self.files
            if k.startswith("sshd:")
            for line in self._new(k)
            if "Accepted publickey" in line
        )
        return {
            "postfix_sessions": sessions,
            "postfix_rcpts": rcpts,
            "nginx_requests": len(self._new("access")),
            "sshd_logins": logins,
        }


@dataclass
class Sweep:
    """One measured sweep."""

    load: float
    wall_s: float
    results: int
    people: int
    plan_s: float
    run_s: float
    counts: dict[str, Any] = field(default_factory=dict)


def sweep_once(state: Path, tmp: Path, n: str, logs: ServerLogs | None = None) -> Sweep:
    """One full sweep of the lab at ``state`` through bench/counted_sweep.py; its output
    in ``tmp``/out-``n``."""
    out, counted = tmp / f"out-{n}", tmp / f"counts-{n}.json"
    load = os.getloadavg()[0]
    if logs:
        logs.mark()
    run(
        [
            PYTHON,
            str(HERE / "counted_sweep.py"),
            str(counted),
            "sweep",
            str(state / "inventory"),
            "--secrets-dir",
            str(state / "secrets"),
            "--state-dir",
            str(tmp / f"state-{n}"),
            "--out",
            str(out),
            "--no-progress",
        ],
        ok=(0, 1, 3),
    )
    counts = json.loads(counted.read_text("utf-8"))
    if logs:
        time.sleep(0.5)  # let the servers' logs catch up (Postfix logs after QUIT)
        counts.update(logs.counts())
    data = json.loads((out / "results.json").read_text("utf-8"))
    timings = data["sweep"]["timings"]
    return Sweep(
        load,
        counts["wall_s"],
        len(data["results"]),
        len(data["staff"]),
        timings["plan_s"],
        timings["run_s"],
        counts,
    )


@dataclass
class Size:
    """Everything measured at one size."""

    staff: int
    up_s: float
    help_s: float
    validate_s: float
    report_s: float
    down_s: float
    sweeps: list[Sweep]


def measure(staff: int, runs: int, samba: bool = True) -> Size:
    with tempfile.TemporaryDirectory(prefix="whole-sweep-") as name:
        tmp = Path(name)
        state = tmp / "lab"
        up = [READINESS, "lab", "up", "--staff", str(staff), "--state", str(state)]
        up += [] if samba else ["--no-samba"]
        try:
            up_s = run([*up, "--slot", "auto"])
            logs = ServerLogs(state)
            help_s = run([READINESS, "--help"])
            validate_s = run(
                [
                    READINESS,
                    "validate",
                    str(state / "inventory"),
                    "--secrets-dir",
                    str(state / "secrets"),
                ]
            )
            sweeps = [sweep_once(state, tmp, str(n), logs) for n in range(runs)]
            report_s = run(
                [
                    READINESS,
                    "report",
                    "--state-dir",
                    str(tmp / "state-0"),
                    "--out",
                    str(tmp / "report.html"),
                ]
            )
        finally:
            down_s = run([READINESS, "lab", "down", "--state", str(state)])
    return Size(staff, up_s, help_s, validate_s, report_s, down_s, sweeps)


def span(values: list[float], fmt: str = ".1f") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def table(sizes: list[Size]) -> str:
    """The printed table: one column per size; ranges over the runs."""
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cell: Any) -> None:
        rows.append((label, [cell(s) for s in sizes]))

    def last(s: Size) -> dict[str, Any]:
        return s.sweeps[-1].counts

    row("staff per organisation", lambda s: f"{s.staff:,}")
    row("people swept", lambda s: f"{s.sweeps[-1].people:,}")
    row("results", lambda s: f"{s.sweeps[-1].results:,}")
    row("load average (1 min) before", lambda s: span([w.load for w in s.sweeps]))
    row("sweep wall (s)", lambda s: span([w.wall_s for w in s.sweeps]))
    row(
        "  plan / run (s)",
        lambda s: f"{span([w.plan_s for w in s.sweeps])} / {span([w.run_s for w in s.sweeps])}",
    )
    row("results/s", lambda s: span([w.results / w.wall_s for w in s.sweeps], ",.0f"))
    row("sweep CPU (s)", lambda s: span([w.counts["cpu_s"] for w in s.sweeps]))
    row("peak RSS (MB)", lambda s: span([w.counts["peak_rss_mb"] for w in s.sweeps], ".0f"))
    row(
        "LDAP searches + pages",
        lambda s: (
            f"{last(s)['ldap_searches']} + {last(s)['ldap_pages']}"
            f" (of {last(s)['ldap_operations']} ops)"
        ),
    )
    row(
        "SMTP sessions / RCPTs (Postfix)",
        lambda s: f"{last(s)['postfix_sessions']:,} / {last(s)['postfix_rcpts']:,}",
    )
    row(
        "  (mail family's count)",
        lambda s: f"{last(s)['smtp_sessions']:,} / {last(s)['smtp_rcpts']:,}",
    )
    row("DNS queries", lambda s: f"{last(s)['dns_queries']:,}")
    row("TLS handshakes", lambda s: f"{last(s)['tls_handshakes']:,}")
    row(
        "HTTP requests (nginx)",
        lambda s: f"{last(s)['nginx_requests']:,} (family {last(s)['http_requests']:,})",
    )
    row(
        "SIP transactions",
        lambda s: f"{last(s)['sip_transactions']:,} ({last(s)['sip_transmissions']:,} sent)",
    )
    row("SSH logins / channels", lambda s: f"{last(s)['sshd_logins']} / {last(s)['ssh_channels']}")
    row("lab up (s)", lambda s: f"{s.up_s:.1f}")
    row("readiness --help (s)", lambda s: f"{s.help_s:.2f}")
    row("readiness validate (s)", lambda s: f"{s.validate_s:.2f}")
    row("readiness report, HTML (s)", lambda s: f"{s.report_s:.2f}")
    row("lab down (s)", lambda s: f"{s.down_s:.1f}")
    width = max(len(label) for label, _ in rows)
    cols = [max(len(cells[i]) for _, cells in rows) for i in range(len(sizes))]
    return "\n".join(
        f"{label:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True))
        for label, cells in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, nargs="+", default=[150, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3, help="sweeps per size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-samba", action="store_true", help="a lab without the shared AD")
    args = parser.parse_args()
    sizes = []
    for staff in args.staff:
        sizes.append(measure(staff, args.runs, not args.no_samba))
        print(f"[{staff:,} per organisation measured]", file=sys.stderr)
    print(table(sizes))
    if args.json:
        args.json.write_text(
            json.dumps(
                [{**vars(s), "sweeps": [vars(w) for w in s.sweeps]} for s in sizes], indent=1
            ),
            "utf-8",
        )


if __name__ == "__main__":
    main()
