"""``readiness lab up|down|status|render``: the lab by hand (``readiness lab ...`` calls
:func:`main`).

    readiness lab up [--staff N] [--seed S] [--state DIR] [--slot N|auto] [--no-samba] ...
    readiness lab down [--state DIR]
    readiness lab status [--state DIR]
    readiness lab render --out DIR [--staff N] [--seed S] [--state DIR] [--slot N]
    readiness lab fix KIND [--undo] [--state DIR]

Exit codes: 0 done; 1 a component failed or is gone (``status``), or the slot is held
by another lab (the message says which and why); 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .estate import DEFAULT_SEED, DEFAULT_STAFF, MAX_STAFF, MIN_STAFF
from .process import LabError
from .slot import DEFAULT, HIGHEST, LOWEST, Slot

__all__ = ["main", "parser"]


def _staff(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not MIN_STAFF <= n <= MAX_STAFF:
        raise argparse.ArgumentTypeError(f"must be between {MIN_STAFF} and {MAX_STAFF}")
    return n


def _slot(value: str) -> int | None:
    """A slot number, or None for ``auto``."""
    if value == "auto":
        return None
    try:
        return Slot(int(value)).number
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a number between {LOWEST} and {HIGHEST}"
        ) from None


def _fixed_slot(value: str) -> int:
    number = _slot(value)
    if number is None:
        raise argparse.ArgumentTypeError("render needs a slot number (nothing is claimed)")
    return number


PROG = "readiness lab"


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    from readiness.cli.terminal import Parser

    from .up import COMPONENTS

    p = Parser(
        prog=prog,
        description="The lab: an estate of real servers "
        "for two merging organisations, with seeded Day-1 faults.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    state_help = "state folder (default: .lab in the current directory)"
    u = sub.add_parser(
        "up",
        help="start the lab and write its inventory, secrets and "
        "ground truth into the state folder",
    )
    u.add_argument(
        "--staff",
        type=_staff,
        default=DEFAULT_STAFF,
        help=f"staff per organisation ({MIN_STAFF}..{MAX_STAFF}, default {DEFAULT_STAFF})",
    )
    u.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the estate and its faults (default {DEFAULT_SEED})",
    )
    u.add_argument("--state", type=Path, default=Path(".lab"), help=state_help)
    u.add_argument(
        "--slot",
        type=_slot,
        default=DEFAULT,
        help=f"the lab's addresses: 127.N.x.x and 10.N.x.x, namespaces rlN-* "
        f"(default {DEFAULT}: rl-*); 'auto' takes a free one, recorded in the "
        "state folder for `down` and `status`",
    )
    u.add_argument("--no-samba", action="store_true", help="skip the Samba AD DC")
    u.add_argument("--no-faults", action="store_true", help="inject no faults")
    u.add_argument(
        "--loopback",
        action="store_true",
        help="use the loopback fallback even where network namespaces work",
    )
    u.add_argument(
        "--only", default=None, help=f"comma-separated components to start ({','.join(COMPONENTS)})"
    )
    d = sub.add_parser("down", help="stop everything the lab started (by PID)")
    d.add_argument("--state", type=Path, default=Path(".lab"), help=state_help)
    s = sub.add_parser("status", help="what runs where")
    s.add_argument("--state", type=Path, default=Path(".lab"), help=state_help)
    r = sub.add_parser("render", help="write the inventory only (no servers)")
    r.add_argument("--out", type=Path, required=True, help="folder to write the inventory to")
    r.add_argument("--staff", type=_staff, default=DEFAULT_STAFF)
    r.add_argument("--seed", type=int, default=DEFAULT_SEED)
    r.add_argument(
        "--slot",
        type=_fixed_slot,
        default=DEFAULT,
        help=f"the slot whose addresses to write (default {DEFAULT})",
    )
    r.add_argument(
        "--state",
        type=Path,
        default=Path(".lab"),
        help="the state folder of the lab it describes (default .lab); "
        "only its name is written (../../NAME/ca/ca.pem)",
    )
    f = sub.add_parser("fix", help="fix one injected fault of the running lab (--undo: re-break)")
    f.add_argument("kind", choices=["flow-blocked"], help="the fault kind to fix")
    f.add_argument("--undo", action="store_true", help="put the fault back")
    f.add_argument("--state", type=Path, default=Path(".lab"), help=state_help)
    return p


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    from . import up as lab

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        if args.command == "up":
            only = None
            if args.only:
                only = frozenset(c.strip() for c in args.only.split(",") if c.strip())
            opts = lab.UpOptions(
                staff=args.staff,
                seed=args.seed,
                state=args.state,
                samba=not args.no_samba,
                only=only,
                faults=not args.no_faults,
                force_loopback=args.loopback,
                slot=args.slot,
            )
            report = lab.up(opts, say)
            if not report.ok:
                failed = ", ".join(c.name for c in report.components if c.status == "failed")
                print(
                    f"lab up: {failed} failed to start (see above; logs in "
                    f"{report.state / 'logs'}). `{PROG} down` stops what did start.",
                    file=sys.stderr,
                )
                return 1
            return 0
        if args.command == "down":
            lab.down(args.state, say)
            return 0
        if args.command == "status":
            return _status(args.state)
        if args.command == "fix":
            from .fix import FIXABLE

            changed = FIXABLE[args.kind](args.state, args.undo)
            what = "restored" if args.undo else "fixed"
            print(f"lab fix: {args.kind} {what}: " + (", ".join(changed) or "nothing to change"))
            return 0
        if args.command == "render":
            written = lab.render(
                args.out, args.staff, args.seed, state=args.state, slot=Slot(args.slot)
            )
            print(f"lab render: {len(written)} files in {args.out}")
            return 0
    except ValueError as exc:
        print(f"lab {args.command}: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"lab {args.command}: {exc}", file=sys.stderr)
        return 1
    return 2


def _status(state: Path) -> int:
    """What runs where, then one line saying whether the lab is whole: exit 1 when a
    component failed to start or a process of it is gone."""
    from . import up as lab

    rows = lab.status(state)
    if not rows:
        print(f"lab status: nothing running from {state.resolve()}")
        return 0
    slot = lab.slot_of(state)
    print(
        f"slot   {slot.number}: {slot.loopback_range} on the host, "
        f"{slot.site_range} for the sites, namespaces {slot.prefix}-*"
    )
    failed = []
    for c in lab.components(state):
        detail = (c.where or c.error).splitlines()[:1]
        print(f"{c.name:<6} {c.status:<7} {''.join(detail)}")
        if c.status == "failed":
            failed.append(c.name)
    print()
    for name, pid, running, component in rows:
        print(f"  {component:<6} {name:<24} pid {pid:<8} {'running' if running else 'GONE'}")
    gone = [f"{name} ({component})" for name, _, running, component in rows if not running]
    print()
    if not gone and not failed:
        print(f"lab status: all {len(rows)} processes running")
        return 0
    problems = []
    if gone:
        problems.append(f"{len(gone)} of {len(rows)} processes gone: {', '.join(gone)}")
    if failed:
        problems.append(f"failed to start: {', '.join(failed)}")
    print(
        f"lab status: NOT WHOLE: {'; '.join(problems)}. `{PROG} up --state {state}` "
        "starts it again (logs in its logs/ folder)"
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
