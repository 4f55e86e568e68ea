"""The terminal side of every command: the argument parser, with "did you mean" for an
unknown option, and standard output that a closed pipe (``readiness ... | head``) ends
quietly. The lab's ``readiness lab`` uses the same parser."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

__all__ = ["Parser", "pipe_safe_stdout"]


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
