"""``resilience faults list``: every registered fault, its parameters, and which backends work here.

::

    resilience faults list
    resilience faults list --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["faults_table", "register"]


def register(subparsers: Any) -> None:
    """Add ``faults`` to the ``resilience`` parser."""
    faults = subparsers.add_parser("faults", help="inspect the registered faults")
    actions = faults.add_subparsers(dest="faults_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every fault: summary, parameters, backends usable here")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_faults_list)


def faults_table(manager: Any) -> list[dict[str, Any]]:
    """One entry per registered fault: name, summary, availability, params and backends."""
    return [
        {
            "name": fault_cls.name,
            "summary": fault_cls.summary,
            "unavailable": fault_cls.availability(),
            "plugin": fault_cls.__module__,
            "params": [param.describe() for param in fault_cls.params],
            "backends": fault_cls.backends(),
        }
        for fault_cls in manager.registry
    ]


def _faults_list(args: argparse.Namespace) -> int:
    from chaos.manager import ChaosManager

    manager = ChaosManager.build()
    rows = faults_table(manager)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "available" if row["unavailable"] is None else f"UNAVAILABLE: {row['unavailable']}"
        print(f"{row['name']}  [{state}]  ({row['plugin']})")
        if row["summary"]:
            print(f"    {row['summary']}")
        for line in row["params"]:
            print(f"    - {line}")
        for backend, reason in row["backends"].items():
            print(f"    backend {backend}: {'works here' if reason is None else 'no: ' + reason}")
    if not rows:
        print("no faults registered (are chaos.faults or plugins installed?)")
    if manager.builtin_missing:
        print(f"(built-in modules not present: {', '.join(manager.builtin_missing)})")
    return 0
