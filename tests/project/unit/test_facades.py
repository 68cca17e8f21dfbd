"""Every package's facade re-exports exactly its public names, sorted, and defines nothing itself."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = sorted(
    ".".join(init.parent.relative_to(ROOT).parts)
    for top in ("resilience_core", "chaos")
    for init in (ROOT / top).rglob("__init__.py")
)


def _order(name: str) -> tuple[int, str]:
    """isort's order for __all__ (what ruff's RUF022 keeps): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_every_package_is_covered() -> None:
    """The list below is discovered, not typed: a new package is checked without editing this test."""
    assert {"resilience_core", "resilience_core.recovery", "resilience_core.state", "chaos", "chaos.cli"} <= set(
        PACKAGES
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_complete(package: str) -> None:
    """__all__ is sorted, unique, and names exactly the public attributes the facade defines."""
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_order)
    assert len(set(exported)) == len(exported)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys)) and name != "annotations"
    }
    assert public == set(exported)


@pytest.mark.parametrize("package", PACKAGES)
def test_facade_only_re_exports(package: str) -> None:
    """A package's __init__.py holds a docstring, imports and __all__ only: no definitions live there."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        allowed = isinstance(node, ast.Import | ast.ImportFrom)
        allowed |= isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # the docstring
        allowed |= isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["__all__"]
        allowed |= isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "__all__"
        # resilience_core's facade installs the import aliases of the old flat layout (resilience_core._aliases).
        allowed |= package == "resilience_core" and ast.unparse(node) == "_aliases.install()"
        assert allowed, f"{init.relative_to(ROOT)}:{node.lineno} defines something: {ast.unparse(node)[:80]}"
