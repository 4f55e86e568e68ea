"""The lab's address plan, parameterised by a slot so several labs can share one machine.

A slot N is the second octet of every address a lab uses: its services listen on
``127.N.x.y`` of the host's loopback and its sites live on ``10.N.x.y`` inside network
namespaces; the namespace, veth and nftables names carry the slot too
(``rlN-north-hq``, ``rlN-host0``, ``rlN_gateway``). The default slot 77 keeps the
names the lab had before slots existed (``rl-north-hq``), so at the default
everything the lab writes is what it always wrote. Which slot a lab may take is
decided by lab/claim.py::

    slot = Slot(120)
    slot.dns, slot.web          # '127.120.0.53', '127.120.4.10'
    slot.site_ns("north-hq")    # 'rl120-north-hq'
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = 77
# 0 would put lab services next to 127.0.0.1; 255 is no second octet of a /16 worth using.
LOWEST, HIGHEST = 1, 254


@dataclass(frozen=True)
class Slot:
    """One lab's share of the machine: ``127.N.0.0/16``, ``10.N.0.0/16`` and ``rlN-*`` names."""

    number: int = DEFAULT

    def __post_init__(self) -> None:
        if not LOWEST <= self.number <= HIGHEST:
            raise ValueError(f"slot must be between {LOWEST} and {HIGHEST}, not {self.number}")

    # ------------------------------------------------------------------ addresses

    def host(self, c: int, d: int) -> str:
        """An address on the host's loopback: ``127.N.c.d``."""
        return f"127.{self.number}.{c}.{d}"

    def site(self, c: int, d: int) -> str:
        """An address of the site network: ``10.N.c.d``."""
        return f"10.{self.number}.{c}.{d}"

    @property
    def loopback_range(self) -> str:
        return f"127.{self.number}.0.0/16"

    @property
    def site_range(self) -> str:
        return f"10.{self.number}.0.0/16"

    @property
    def dns(self) -> str:
        return self.host(0, 53)

    @property
    def dns_site(self) -> str:
        """The host end of the router link: BIND answers the sites here."""
        return self.site(0, 1)

    @property
    def ad(self) -> str:
        return self.host(3, 10)

    @property
    def web(self) -> str:
        return self.host(4, 10)

    @property
    def remote_access(self) -> str:
        """The published remote-access entry point (webmail), apart from the internal
        applications' address so that the perimeter can tell them apart."""
        return self.host(4, 20)

    @property
    def mail(self) -> str:
        return self.host(5, 25)

    @property
    def sip(self) -> str:
        return self.host(6, 60)

    @property
    def sip_phones(self) -> str:
        """The SIPp UAS behind every registered extension."""
        return self.host(6, 61)

    # ------------------------------------------------------------------ names

    @property
    def prefix(self) -> str:
        """``rl`` at the default slot (the names of old), ``rlN`` elsewhere; the longest
        interface name made from it, ``rl254-host0``, fits Linux's 15 characters."""
        return "rl" if self.number == DEFAULT else f"rl{self.number}"

    @property
    def router_ns(self) -> str:
        return f"{self.prefix}-router"

    @property
    def host_if(self) -> str:
        """The host end of the host <-> router veth pair."""
        return f"{self.prefix}-host0"

    def site_ns(self, key: str) -> str:
        return f"{self.prefix}-{key}"

    @property
    def internet_ns(self) -> str:
        """The namespace that stands for the internet (lab/internet.py)."""
        return f"{self.prefix}-internet"


DEFAULT_SLOT = Slot()
