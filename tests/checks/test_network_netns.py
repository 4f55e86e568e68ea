"""A firewall in a network namespace the test creates: nftables DROP (no answer),
REJECT with a TCP reset (refused) and ICMP host-unreachable (no route), as the
network family sees them from inside that namespace."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness_lab.process import run

pytestmark = pytest.mark.integration

PORTS = {"open": 8001, "dropped": 8002, "reset": 8003, "unreachable": 8004}


@pytest.fixture
def namespace() -> Iterator[str]:
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} (Debian iproute2 / nftables) is needed for this test")
    name = f"rdt-net-{os.getpid()}"
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "link", "set", "lo", "up"], netns=name)
        rules = f"""
table inet readiness_test {{
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {PORTS["dropped"]} drop
    tcp dport {PORTS["reset"]} reject with tcp reset
    tcp dport {PORTS["unreachable"]} reject with icmpx type host-unreachable
  }}
}}
"""
        run(["nft", "-f", "-"], netns=name, input=rules)
        yield name
    finally:
        run(["ip", "netns", "del", name], check=False)


SCRIPT = textwrap.dedent("""
    import datetime as dt, json, socket, sys
    from pathlib import Path
    from readiness.family import PlanContext, RunContext
    from readiness.inventory import load
    from readiness_checks.dns import family as dns_family
    from readiness_checks.network import family as network_family

    listener = socket.socket()
    listener.bind(("127.0.0.1", {open}))
    listener.listen(16)
    folder = Path(sys.argv[1])
    inv = load(folder, [dns_family, network_family])
    ctx = RunContext(inv, go_live=inv.go_live, clock=lambda: inv.go_live,
                     secrets_dir=folder, state_dir=folder / "state")
    probes = list(network_family.plan(PlanContext(inv, inv.staff, inv.go_live)))
    out = [[r.subject, r.status.value, r.root_cause, r.observed, r.duration_ms]
           for r in network_family.run(probes, ctx)]
    print(json.dumps(out))
""").format(open=PORTS["open"])


def test_firewall_outcomes(namespace: str, tmp_path: Path) -> None:
    resources = "\n".join(
        f"  {name}: {{host: 127.0.0.1, port: {port}, tcp: {{timeout: 1}}}}"
        for name, port in PORTS.items()
    )
    (tmp_path / "inventory.yaml").write_text(f"""
programme: {{name: T, go_live: 2027-01-04}}
organisations: {{north: {{name: North}}}}
network_resources:
{resources}
""")
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    proc = run([sys.executable, str(script), str(tmp_path)], netns=namespace)
    results = {
        subject.split(":")[1]: (status, cause, observed, ms)
        for subject, status, cause, observed, ms in json.loads(proc.stdout)
    }
    assert results["open"][0] == "pass"
    assert results["dropped"][:2] == ("fail", f"tcp|127.0.0.1:{PORTS['dropped']}|no-answer")
    assert results["dropped"][3] >= 900  # waited for the whole timeout
    assert results["reset"][:2] == ("fail", f"tcp|127.0.0.1:{PORTS['reset']}|refused")
    assert results["unreachable"][:2] == (
        "fail",
        f"tcp|127.0.0.1:{PORTS['unreachable']}|unreachable",
    )
