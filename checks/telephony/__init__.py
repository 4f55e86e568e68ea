"""Telephony check family: one SIP system for both organisations, every extension
registered (see :mod:`.family`)."""

from __future__ import annotations

from .family import TelephonyFamily

__all__ = ["TelephonyFamily", "family"]

family = TelephonyFamily()
