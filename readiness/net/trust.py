"""Whom the sweep trusts for TLS: each organisation's CA bundle, resolved once.

An organisation names its CA bundle (``organisations.<id>.ca_bundle``); an object may
name its own (a directory's ``ca_bundle``...). Every TLS-speaking family asks here, so a
bundle is found, checked and described the same way whoever asks: a missing bundle is
a configuration problem of the sweep with the inventory's ``file:line``, never a defect
of the family that happened to ask first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from readiness.inventory.inventory import Inventory

__all__ = ["TrustError", "TrustStore"]


class TrustError(Exception):
    """A CA bundle the inventory names cannot be used; the message says which and where."""


class TrustStore:
    """Finds and checks the bundle; ``readiness.net.tls.client_context`` and
    ``readiness.net.certificates.observe`` turn it into verification."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def bundle(
        self,
        organisations: Sequence[str] = (),
        *,
        override: str | None = None,
        where: Sequence[str | int] = (),
    ) -> Path | None:
        """The CA bundle to verify servers with: ``override`` (a path written in the
        inventory at ``where``) if given, else that of the first of ``organisations``
        (all organisations when empty) that names one; None = the system store.
        Raises :class:`TrustError` when the chosen file cannot be read."""
        inv = self.inventory
        if override is not None:
            return self._checked(inv.resolve_path(override, *where), tuple(where))
        for org_id in organisations or list(inv.organisations):
            org = inv.organisations.get(org_id)
            if org is not None and org.ca_bundle:
                at = ("organisations", org_id, "ca_bundle")
                return self._checked(inv.resolve_path(org.ca_bundle, *at), at)
        return None

    def _checked(self, path: Path, at: tuple[str | int, ...]) -> Path:
        if not path.is_file():
            state = "does not exist" if not path.exists() else "is not a file"
            raise TrustError(
                f"the CA bundle {path} ({'.'.join(map(str, at))} at "
                f"{self.inventory.where(*at)}) {state}"
            )
        return path
