"""``readiness validate``, ``readiness schema`` and ``readiness checks``: the inventory
and the installed families, without contacting anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from readiness.cli.common import add_secrets_dir, families, load_inventory, preflight


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="validate an inventory and check that every secret, CA bundle and known_hosts "
        "file it names can be read here (exit 0 valid, 2 invalid)",
    )
    p.add_argument("inventory", type=Path, help="inventory folder or file")
    add_secrets_dir(p)
    p.add_argument(
        "--no-preflight",
        action="store_true",
        help="check the inventory's own files only, not the secrets and files it names "
        "(e.g. in a repository that holds no secrets)",
    )
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("checks", help="list installed check families and the fields they read")
    p.set_defaults(handler=cmd_checks)

    p = sub.add_parser("schema", help="print the JSON Schema of the inventory")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.set_defaults(handler=cmd_schema)


def cmd_validate(ns: argparse.Namespace) -> int:
    inventory = load_inventory(ns.inventory, families())
    checked = "" if ns.no_preflight else preflight(inventory, ns.secrets_dir)
    counted = {k: len(v) for k, v in inventory.objects.items()}
    counted.update({k: len(v) for k, v in inventory.sections.items()})
    sections = ", ".join(f"{n} {k}" for k, n in sorted(counted.items()) if n)
    print(
        f"{ns.inventory}: valid. {len(inventory.organisations)} organisations, "
        f"{len(inventory.sites)} sites, {len(inventory.roles)} roles, "
        f"{len(inventory.staff)} staff" + (f", {sections}" if sections else "")
    )
    if checked:
        print(checked)
    return 0


def cmd_schema(ns: argparse.Namespace) -> int:
    import json

    from readiness.inventory.validate import json_schema

    text = json.dumps(json_schema(families()), indent=2) + "\n"
    if ns.out:
        ns.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_checks(ns: argparse.Namespace) -> int:
    for fam in families():
        print(f"{fam.name}: {fam.description}")
        if fam.verifies:
            print(f"  verifies: {', '.join(sorted(fam.verifies))}")
        if fam.sections:
            print(f"  owns sections: {', '.join(sorted(fam.sections))}")
        if fam.blocks:
            print(f"  blocks: {', '.join(f'{s}.*.{k}' for s, k in sorted(fam.blocks))}")
        if fam.reads:
            print(f"  reads: {', '.join(fam.reads)}")
        for spec in fam.checks:
            need = f" [{spec.need}]" if spec.need else ""
            print(f"  - {spec.id}{need}: {spec.title}")
    return 0
