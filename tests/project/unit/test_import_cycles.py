"""No import cycle between modules: one concept, one module; a helper never imports its public module back.

Every import counts, at module level, under ``TYPE_CHECKING`` and inside functions: a lazy import that closes
a loop is still a loop in the design. ``from pkg import name`` counts as an import of ``pkg.name`` when that is
a module, else of ``pkg`` (its facade).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOPS = ("resilience_core", "chaos", "scenarios")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in TOPS:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if "_vram_shim" in parts:  # a PYTHONPATH entry for subprocesses, not part of the package tree
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in modules:
                    out.add(full)
                elif base in modules:
                    out.add(base)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # A package's facade importing its own submodules is how facades work; a submodule importing the facade of
    # its own package back is the loop worth catching, so only edges *into* a facade from inside stay.
    for name, targets in graph.items():
        if modules[name].name == "__init__.py":
            targets.difference_update({target for target in targets if target.startswith(name + ".")})
    return graph


def test_the_detector_sees_a_cycle() -> None:
    """The cycle finder itself works: a -> b -> a is found, a -> b -> c is not."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles() -> None:
    """No two modules of resilience_core, chaos or scenarios import each other, directly or around a loop."""
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_runtime_never_imports_the_harness() -> None:
    """resilience_core imports nothing from chaos or scenarios (dependencies point one way)."""
    graph = _graph()
    upward = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("resilience_core")
        for target in targets
        if target.startswith(("chaos", "scenarios"))
    }
    assert not upward
