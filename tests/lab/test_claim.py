"""Slots and their claims: the address plan of a slot, who may take which slot, stale
claims taken over, auto round-robin. Claims are made in a private folder here (not
/run/readiness-lab), so these tests never meet a real lab's claims; no server starts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from readiness_lab import claim
from readiness_lab.estate import generate
from readiness_lab.slot import DEFAULT_SLOT, Slot


def test_the_default_slot_keeps_the_names_and_addresses_of_old() -> None:
    slot = DEFAULT_SLOT
    assert (slot.dns, slot.dns_site, slot.ad, slot.web, slot.mail, slot.sip) == (
        "127.77.0.53",
        "10.77.0.1",
        "127.77.3.10",
        "127.77.4.10",
        "127.77.5.25",
        "127.77.6.60",
    )
    assert (slot.router_ns, slot.host_if, slot.site_ns("north-hq")) == (
        "rl-router",
        "rl-host0",
        "rl-north-hq",
    )


def test_another_slot_moves_every_address_and_name() -> None:
    slot = Slot(120)
    assert (slot.dns, slot.dns_site, slot.site_range, slot.site_ns("south-hq")) == (
        "127.120.0.53",
        "10.120.0.1",
        "10.120.0.0/16",
        "rl120-south-hq",
    )
    estate, default = generate(10, 1, slot), generate(10, 1)
    assert estate.people == default.people
    addresses = set(estate.hosts().values())
    assert all(a.startswith(("127.120.", "10.120.")) for a in addresses), addresses
    assert not addresses & set(default.hosts().values())
    assert {s.namespace for s in estate.sites if s.namespace} == {
        "rl120-north-hq",
        "rl120-south-hq",
    }


def test_interface_names_fit_linux_at_every_slot() -> None:
    for number in range(1, 255):
        slot = Slot(number)
        for name in (slot.host_if, f"{slot.prefix}-north", f"{slot.prefix}-south"):
            assert len(name) <= 15, name  # IFNAMSIZ - 1
    for bad in (0, 255, -1):
        with pytest.raises(ValueError, match="between 1 and 254"):
            Slot(bad)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _claim_file(root: Path, slot: int, state: Path, pid: int) -> None:
    root.mkdir(exist_ok=True)
    (root / f"slot-{slot}.json").write_text(
        json.dumps({"slot": slot, "state": str(state.resolve()), "pid": pid})
    )


def test_a_live_claim_is_refused_with_its_holder(tmp_path: Path) -> None:
    root = tmp_path / "claims"
    assert claim.claim(tmp_path / "a", 150, root=root) == 150
    held = json.loads((root / "slot-150.json").read_text())
    assert held == {"slot": 150, "state": str((tmp_path / "a").resolve()), "pid": os.getpid()}
    with pytest.raises(claim.SlotInUse) as refused:
        claim.claim(tmp_path / "b", 150, root=root)
    assert f"slot 150 is in use by the lab in {(tmp_path / 'a').resolve()}" in str(refused.value)
    assert "--slot auto" in str(refused.value)
    assert claim.claim(tmp_path / "a", 150, root=root) == 150  # the same lab, again
    assert not claim.release(150, tmp_path / "b", root=root)  # not b's to release
    assert claim.release(150, tmp_path / "a", root=root)
    assert claim.claim(tmp_path / "b", 150, root=root) == 150


def test_a_lab_outliving_its_lab_up_keeps_its_claim(tmp_path: Path) -> None:
    """The pid that claimed is gone, but a process the lab recorded still runs."""
    root, state = tmp_path / "claims", tmp_path / "lab"
    state.mkdir()
    server = subprocess.Popen(["sleep", "60"])
    try:
        (state / "pids.json").write_text(
            json.dumps(
                [{"name": "named", "pid": server.pid, "argv": ["sleep"], "netns": None, "log": ""}]
            )
        )
        _claim_file(root, 151, state, _dead_pid())
        assert claim.holder(151, root=root) is not None
        with pytest.raises(claim.SlotInUse):
            claim.claim(tmp_path / "other", 151, root=root)
    finally:
        server.kill()
        server.wait()
    # Every process of that lab is gone: the claim is stale and is taken over.
    assert claim.holder(151, root=root) is None
    assert claim.claim(tmp_path / "other", 151, root=root) == 151


@pytest.fixture
def no_routes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """This machine's routes as auto sees them: none (labs running here stay out of it)."""
    routes: list[dict[str, str]] = []
    monkeypatch.setattr(claim, "_routes", lambda: routes)
    return routes


def test_auto_takes_free_slots_round_robin(tmp_path: Path, no_routes: object) -> None:
    root = tmp_path / "claims"
    first = claim.claim(tmp_path / "a", root=root)
    assert first == claim.AUTO.start
    _claim_file(root, first + 1, tmp_path / "busy", os.getpid())  # a live lab holds it
    second = claim.claim(tmp_path / "b", root=root)
    assert second == first + 2
    claim.release(first, tmp_path / "a", root=root)
    # The slot just released is not handed out again at once (a lab restarting on it).
    assert claim.claim(tmp_path / "c", root=root) == second + 1
    (root / "last").write_text(f"{claim.AUTO.stop - 1}\n")
    assert claim.claim(tmp_path / "d", root=root) == first  # wraps around


def test_auto_passes_by_a_slot_whose_lab_routes_exist_unclaimed(
    tmp_path: Path, no_routes: list[dict[str, str]]
) -> None:
    """A lab that died, or one in another mount namespace (a chroot sharing this
    network): its routes are there, no claim here. Auto leaves it alone; naming the
    slot takes it over."""
    root, first = tmp_path / "claims", Slot(claim.AUTO.start)
    no_routes.append({"dst": f"10.{first.number}.1.0/24", "dev": first.host_if, "protocol": "177"})
    assert claim.claim(tmp_path / "a", root=root) == first.number + 1
    assert claim.claim(tmp_path / "b", first.number, root=root) == first.number


def test_a_state_folder_holds_one_slot(tmp_path: Path) -> None:
    root = tmp_path / "claims"
    claim.claim(tmp_path / "a", 160, root=root)
    claim.claim(tmp_path / "a", 161, root=root)
    assert not (root / "slot-160.json").exists()
    assert claim.holder(161, root=root) is not None


def test_claimed_releases_at_the_end_of_the_block(tmp_path: Path) -> None:
    root = tmp_path / "claims"
    with claim.claimed(tmp_path / "t", root=root) as slot:
        assert claim.holder(slot.number, root=root) is not None
    assert claim.holder(slot.number, root=root) is None
    assert not (root / f"slot-{slot.number}.json").exists()
