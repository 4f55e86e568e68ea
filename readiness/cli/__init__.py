"""The ``readiness`` command line: one module per group of commands.

Exit codes are :class:`readiness.results.ExitCode`: 0 nothing failed or errored;
1 something failed; 3 nothing failed but something could not be determined; 2 invalid
input or usage; 4 an internal error; 130 interrupted. Heavy libraries are imported only
by the subcommand that needs them. Other packages add subcommands through the
entry-point group ``readiness.commands`` (the lab's ``readiness lab`` is one).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from readiness.cli import gate, history, inventory_cmds, report, shards, sweep, vantage
from readiness.cli.common import UsageError
from readiness.cli.terminal import Parser, pipe_safe_stdout
from readiness.results import ExitCode

__all__ = ["main"]

COMMANDS_GROUP = "readiness.commands"
# Command modules, each with register(subparsers): the order of `readiness --help`.
MODULES = (inventory_cmds, sweep, shards, history, report, gate, vantage)
BUILT_IN = (
    "validate",
    "sweep",
    "checks",
    "schema",
    "history",
    "diff",
    "person",
    "report",
    "gate",
    "vantage",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    with pipe_safe_stdout():
        return _main(args, as_program=argv is None)


def _main(args: list[str], as_program: bool) -> int:
    if args and not args[0].startswith("-") and args[0] not in BUILT_IN:
        command = _plugin_command(args[0])
        if command is not None:
            return int(command(args[1:]))
    parser = _parser()
    ns = parser.parse_args(args)
    try:
        code = int(ns.handler(ns))
        if as_program and (code == ExitCode.INTERRUPTED or _threads_left()):
            _exit_now(code)
        return code
    except UsageError as exc:
        for line in str(exc).splitlines():
            print(f"readiness: {line}", file=sys.stderr)
        return ExitCode.INVALID
    except KeyboardInterrupt:
        print("readiness: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # never a traceback for the user; READINESS_DEBUG shows one
        if os.environ.get("READINESS_DEBUG"):
            raise
        print(
            f"readiness: internal error: {type(exc).__name__}: {exc}\n"
            "  (set READINESS_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _threads_left() -> bool:
    """Whether threads of abandoned probes (a sweep's ``--deadline``) still wait on the
    network."""
    import threading

    return any(t is not threading.main_thread() for t in threading.enumerate())


def _exit_now(code: int) -> None:
    """Leave at once after an interrupted sweep or one whose deadline abandoned probes:
    their threads may still wait on the network, and the interpreter would wait for them
    (thread pools are joined at exit). Everything worth keeping is written by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _plugin_commands() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def _plugin_command(name: str) -> Any:
    """A subcommand another package provides (e.g. ``lab``), or None."""
    ep = _plugin_commands().get(name)
    if ep is None:
        return None
    try:
        return ep.load()
    except ImportError as exc:
        print(f"readiness: the {name} command is not available: {exc}", file=sys.stderr)
        return lambda _args: ExitCode.INVALID


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="readiness",
        description="Day-1 readiness sweeps for merging organisations: can every staff member "
        "log in and reach what they need on go-live day?",
        epilog="Exit codes: " + "; ".join(f"{int(c)} {c.meaning}" for c in ExitCode) + ".",
    )
    from readiness import __version__

    parser.add_argument("--version", action="version", version=f"readiness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    for name, ep in sorted(_plugin_commands().items()):
        sub.add_parser(
            name, help=f"provided by {ep.value.partition(':')[0]} (readiness {name} --help)"
        )
    return parser
