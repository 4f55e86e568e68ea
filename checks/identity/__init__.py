"""Identity check family: can every staff member log in on Day 1 (see :mod:`.family`)."""

from __future__ import annotations

from .family import IdentityFamily

__all__ = ["IdentityFamily", "family"]

family = IdentityFamily()
