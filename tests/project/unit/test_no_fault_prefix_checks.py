"""No code decides what a fault does from its name: capabilities (``needs_proxy``, ``checks_disk``,
``wraps_command``) say it, and only the fault registry (chaos/fault.py) reads names.

A check like ``name.startswith("network.")`` or ``name.split(".")[0] == "disk"`` breaks the day a plugin adds a
``network``-like fault under its own family, so this test scans the sources for string tests against the families
of the registered faults.
"""

from __future__ import annotations

import ast
from pathlib import Path

from chaos.manager import ChaosManager

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = ROOT / "chaos" / "fault.py"


def _families() -> set[str]:
    return {name.partition(".")[0] for name in ChaosManager.build().registry.names()}


def _prefix_tests(source: str, families: set[str]) -> list[int]:
    """Lines where a fault family's name is tested as a prefix: ``x.startswith("fam.")``, ``x.split(".")[0] ==
    "fam"`` and ``x.partition(".")[0] == "fam"``."""
    lines = []
    prefixes = {f"{family}." for family in families}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith":
            for arg in node.args:
                values = arg.elts if isinstance(arg, ast.Tuple) else [arg]
                if any(isinstance(v, ast.Constant) and v.value in prefixes for v in values):
                    lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Subscript):
            call = node.left.value
            is_split = (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("split", "partition")
                and any(isinstance(a, ast.Constant) and a.value == "." for a in call.args)
            )
            if is_split and any(isinstance(c, ast.Constant) and c.value in families for c in node.comparators):
                lines.append(node.lineno)
    return lines


def test_the_scan_finds_prefix_checks() -> None:
    """The scanner is not blind: each form it forbids is found, and an unrelated startswith is not."""
    sample = (
        'a = name.startswith("network.")\n'
        'b = name.startswith(("disk.", "x"))\n'
        'c = name.split(".")[0] == "vram"\n'
        'd = name.partition(".")[0] == "file"\n'
        'e = url.startswith("http://")\n'
    )
    assert _prefix_tests(sample, {"network", "disk", "vram", "file"}) == [1, 2, 3, 4]


def test_no_name_prefix_checks_outside_the_registry() -> None:
    """Outside chaos/fault.py, nothing in the shipped code tests a fault name's family."""
    families = _families()
    assert {"network", "disk", "file", "process"} <= families
    offenders = []
    for top in ("resilience_core", "chaos", "scenarios", "plugins"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == REGISTRY or "build" in path.relative_to(ROOT).parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            offenders.extend(f"{rel}:{line}" for line in _prefix_tests(path.read_text(encoding="utf-8"), families))
    assert not offenders, "decide by a fault capability (needs_proxy, checks_disk, wraps_command): " + ", ".join(
        offenders
    )
