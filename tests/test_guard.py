"""The guard of the fast unit subset (tests/conftest.py) at work: these tests are not
marked integration, so each attempt to start a server here fails before it runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import started_server


@pytest.mark.parametrize(
    "argv",
    [
        ["slapd", "-VV"],
        ["/usr/sbin/named", "-v"],
        ["ip", "netns", "add", f"rdt-guard-{os.getpid()}"],
        ["ip", "netns", "exec", f"rdt-guard-{os.getpid()}", "/usr/sbin/sshd", "-t"],
        ["sh", "-c", "nginx -v"],
    ],
)
def test_a_unit_test_starting_a_server_fails(argv: list[str]) -> None:
    with pytest.raises(pytest.fail.Exception, match="is not marked integration"):
        subprocess.run(argv, capture_output=True, check=False)
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    assert f"rdt-guard-{os.getpid()}" not in namespaces


def test_other_programs_pass() -> None:
    for argv in (
        ["ip", "netns", "del", "x"],
        ["ip", "addr", "show"],
        ["named-checkconf"],
        ["slapadd", "-q"],
        "true",
        ["sh", "-c", "echo named"],
    ):
        assert started_server(argv) == "", argv
    assert started_server(["ip", "netns", "exec", "x", "kamailio", "-c"]) == "kamailio"
