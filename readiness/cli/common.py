"""What every command shares: usage errors, the installed families, loading an
inventory with its problems printed and its pre-flight, paths from the environment,
colour."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.family import CheckFamily
    from readiness.inventory import Inventory


class UsageError(Exception):
    """Bad input or usage: printed without a traceback, exit code 2."""


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
