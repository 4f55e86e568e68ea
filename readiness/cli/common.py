"""What every command shares: the argument parser (with "did you mean" for an unknown
option), usage errors, the installed families, loading an inventory with its problems
printed, paths from the environment, colour, and standard output that a closed pipe
(``readiness ... | head``) ends quietly."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from readiness.family import CheckFamily
    from readiness.inventory import Inventory


class UsageError(Exception):
    """Bad input or usage: printed without a traceback, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for an unknown option. Subcommands' parsers are of
    the same class (``add_subparsers`` uses the parent's class), and the suggestion
    comes from the options of the subcommand that was given."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            self._chosen(ns).unrecognised(extras)
        return ns

    def _chosen(self, ns: argparse.Namespace) -> Parser:
        """The (sub)parser of the subcommand given, e.g. ``sweep``'s."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(ns, action.dest, None) or "")
                if isinstance(sub, Parser):
                    return sub._chosen(ns)
        return self

    def unrecognised(self, extras: Sequence[str]) -> NoReturn:
        import difflib

        options = [o for a in self._actions for o in a.option_strings]
        words = []
        for extra in extras:
            if not extra.startswith("-"):
                words.append(f"unrecognised argument {extra!r}")
                continue
            name = extra.split("=", 1)[0]
            close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            words.append(f"unrecognised option {name}{hint}")
        self.error("; ".join(words))


@contextlib.contextmanager
def pipe_safe_stdout() -> Iterator[None]:
    """Standard output that a reader closing it (``| head``) ends quietly: later writes
    are dropped, so the command still finishes its work (files, exit code)."""
    original = sys.stdout
    sys.stdout = _PipeSafe(original)
    try:
        yield
    finally:
        with contextlib.suppress(BrokenPipeError, ValueError):
            sys.stdout.flush()
        sys.stdout = original


class _PipeSafe(io.TextIOBase):
    """Wraps a text stream; on a broken pipe, points its descriptor at /dev/null (so
    the interpreter's last flush is quiet too) and drops everything after."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._silence()

    def isatty(self) -> bool:
        return bool(self.stream.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self.stream.encoding)

    def fileno(self) -> int:
        return int(self.stream.fileno())

    def _silence(self) -> None:
        self.closed_by_reader = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_secrets_dir(parser: argparse.ArgumentParser) -> None:
    """``--secrets-dir``, the same for every command that resolves secret references."""
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=env_path("READINESS_SECRETS_DIR"),
        help="where relative file: secret references resolve "
        "(default $READINESS_SECRETS_DIR, else the inventory folder)",
    )


def env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def state_dir(given: Path | None) -> Path:
    """The state folder (ledger, history): ``--state-dir``, $READINESS_STATE_DIR, or the
    user's state home."""
    found: Path = (
        given
        or env_path("READINESS_STATE_DIR")
        or (
            Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
            / "day1-readiness"
        )
    )
    return found


def color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def families() -> list[CheckFamily[Any]]:
    from readiness.registry import RegistryError, load_families

    try:
        return load_families()
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def load_inventory(path: Path, installed: Sequence[CheckFamily[Any]]) -> Inventory:
    from readiness.inventory import InventoryError, load

    try:
        return load(path, installed)
    except InventoryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise UsageError(f"{len(exc.problems)} problem(s) in the inventory {path}") from None


def preflight(inventory: Inventory, secrets_dir: Path | None) -> str:
    """Refuse (exit 2) when a secret, CA bundle or known_hosts file the inventory names
    cannot be read here: every one, with the inventory's file:line. Else say how many
    were checked."""
    from readiness.inventory.preflight import preflight as check

    found = check(inventory, secrets_dir or inventory.root)
    if found.problems:
        for problem in found.problems:
            print(problem, file=sys.stderr)
        raise UsageError(
            f"{len(found.problems)} of the {found.checked} secrets and files the inventory "
            "names cannot be read on this machine"
        )
    return f"pre-flight: the {found.checked} secrets and files it names can be read here"
