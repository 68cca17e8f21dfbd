"""``resilience faults list``: every registered fault, its parameters, capabilities and which backends work here.

::

    resilience faults list
    resilience faults list --json

``--json`` prints one object per fault: ``name``, ``summary``, ``plugin`` (the module that defines it),
``unavailable`` (None, or why it cannot run here), ``capabilities`` (``needs_proxy``, ``checks_disk``,
``wraps_command``), ``backends`` (backend -> None or the reason it does not work here), ``overrides`` (modules
of the same-named faults it replaces) and ``params``: a list of ``{"name", "type", "default", "required",
"minimum", "maximum", "choices", "unit", "doc"}`` (see :meth:`chaos.params.Param.to_json`).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.manager import ChaosManager

__all__ = ["faults_table", "register"]


def register(subparsers: Any) -> None:
    """Add ``faults`` to the ``resilience`` parser."""
    faults = subparsers.add_parser("faults", help="inspect the registered faults")
    actions = faults.add_subparsers(dest="faults_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every fault: summary, parameters, backends usable here")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_faults_list)


def faults_table(manager: ChaosManager) -> list[dict[str, Any]]:
    """One entry per registered fault (the ``--json`` rows, described in the module doc)."""
    return [
        {
            "name": fault_cls.name,
            "summary": fault_cls.summary,
            "unavailable": fault_cls.availability(),
            "plugin": fault_cls.__module__,
            "capabilities": fault_cls.capabilities(),
            "params": [param.to_json() for param in fault_cls.params],
            "backends": fault_cls.backends(),
            "overrides": [shadowed.__module__ for shadowed in manager.registry.shadowed(fault_cls.name)],
        }
        for fault_cls in manager.registry
    ]


def _faults_list(args: argparse.Namespace) -> int:
    from chaos.manager import ChaosManager

    manager = ChaosManager.build()
    if args.json:
        print(json.dumps(faults_table(manager), indent=2))
        return 0
    for fault_cls in manager.registry:
        reason = fault_cls.availability()
        state = "available" if reason is None else f"UNAVAILABLE: {reason}"
        print(f"{fault_cls.name}  [{state}]  ({fault_cls.__module__})")
        if fault_cls.summary:
            print(f"    {fault_cls.summary}")
        for param in fault_cls.params:
            print(f"    - {param.describe()}")
        for backend, why in fault_cls.backends().items():
            print(f"    backend {backend}: {'works here' if why is None else 'no: ' + why}")
        for shadowed in manager.registry.shadowed(fault_cls.name):
            print(f"    replaces {fault_cls.name} from {shadowed.__module__}")
    if not len(manager.registry):
        print("no faults registered")
    return 0
