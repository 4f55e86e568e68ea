"""`lab up|down|status|render` usage and failure reporting (no servers started here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from readiness_lab import dns
from readiness_lab.claim import claimed, holder
from readiness_lab.cli import main
from readiness_lab.process import LabError
from readiness_lab.up import UpOptions, down, up
from readiness_lab.writer import FILES


def test_render_writes_the_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--out", str(tmp_path / "inv"), "--staff", "20", "--seed", "4"]) == 0
    assert sorted(
        p.relative_to(tmp_path / "inv").as_posix()
        for p in (tmp_path / "inv").rglob("*")
        if p.is_file()
    ) == sorted(FILES)
    assert f"{len(FILES)} files" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--staff", "9"],
        ["up", "--staff", "10001"],
        ["up", "--slot", "0"],
        ["up", "--slot", "255"],
        ["up", "--slot", "next"],
        ["render", "--out", "x", "--slot", "auto"],
        ["render"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_unknown_component(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--only", "dns,bogus", "--state", str(tmp_path)]) == 2
    assert "unknown component(s) bogus" in capsys.readouterr().err


def test_a_failing_component_fails_up_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise LabError("named-checkconf failed: something precise")

    monkeypatch.setattr(dns, "start", broken)
    assert (
        main(["up", "--only", "dns", "--state", str(tmp_path), "--staff", "10", "--slot", "auto"])
        == 1
    )
    out = capsys.readouterr()
    assert "dns    FAILED" in out.out and "something precise" in out.out
    assert "dns failed to start" in out.err
    # What did not run is said, and the inventory and ground truth are still written.
    assert "slapd  skipped" in out.out
    assert (tmp_path / "inventory" / "staff.yaml").exists()
    assert (tmp_path / "ground-truth.json").exists()
    report = up(UpOptions(staff=10, state=tmp_path, only=frozenset({"dns"}), slot=None))
    assert not report.ok and report.components[2].status == "failed"
    down(tmp_path)
    assert holder(report.slot) is None, "down released the slot"


def test_a_slot_held_by_a_live_lab_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with claimed(tmp_path / "other") as slot:
        assert (
            main(
                [
                    "up",
                    "--only",
                    "dns",
                    "--state",
                    str(tmp_path / "mine"),
                    "--staff",
                    "10",
                    "--slot",
                    str(slot.number),
                ]
            )
            == 1
        )
        err = capsys.readouterr().err
        assert f"lab up: slot {slot.number} is in use by the lab in {tmp_path / 'other'}" in err
        assert "--slot auto" in err
        assert not (tmp_path / "mine" / "lab.json").exists(), "nothing was started"


def test_render_at_another_slot(tmp_path: Path) -> None:
    assert main(["render", "--out", str(tmp_path / "a"), "--slot", "120"]) == 0
    assert main(["render", "--out", str(tmp_path / "b")]) == 0
    sites = (tmp_path / "a" / "sites.yaml").read_text()
    assert "10.120.0.1" in sites and "127.120.0.53" in sites and ".77." not in sites
    assert (tmp_path / "a" / "staff.yaml").read_text() == (
        tmp_path / "b" / "staff.yaml"
    ).read_text(), "the people do not depend on the slot"


def test_status_and_down_of_an_empty_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--state", str(tmp_path / "none")]) == 0
    assert "nothing running" in capsys.readouterr().out
    assert main(["down", "--state", str(tmp_path / "none")]) == 0


def test_down_of_a_dead_lab_leaves_its_former_slot_alone(tmp_path: Path) -> None:
    """A lab that died lost its slot to another lab: its `down` must not tear down the
    namespaces, routes or addresses of that slot, which are the other lab's now."""
    dead = tmp_path / "dead"
    with claimed(tmp_path / "other") as slot:
        dead.mkdir()
        (dead / "lab.json").write_text(json.dumps({"slot": slot.number}))
        (dead / "net.json").write_text("{}")  # would be read (and fail) by a teardown
        said: list[str] = []
        assert down(dead, said.append) == []
        assert f"slot {slot.number} belongs to the lab in {tmp_path / 'other'}" in said[-1]
        held = holder(slot.number)
        assert held is not None and held.state == str(tmp_path / "other")
