"""Problems with the input (an inventory, a policy, a command line): a leaf module.

Every layer reports bad input the same way: where (``file:line``), what, and how to fix
it. Nothing here imports the rest of the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Problem", "ProblemError"]


@dataclass(frozen=True)
class Problem:
    """A problem with the input: where (file:line), what, and how to fix it."""

    where: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ProblemError(Exception):
    """Input that cannot be used; ``problems`` lists every problem found, not just the
    first (an inventory, a gate policy...)."""

    def __init__(self, problems: Sequence[Problem], message: str = "") -> None:
        super().__init__(message or f"{len(problems)} problem(s)")
        self.problems = list(problems)
