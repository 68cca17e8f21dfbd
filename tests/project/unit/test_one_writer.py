"""One atomic, durable file writer (resilience_core.state.atomic): nothing else renames a temp file into place."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WRITER = ROOT / "resilience_core" / "state" / "atomic.py"
# Renames that are not "a temp file becomes the real one": each names the function and why it is not a writer.
DIRECTORY_SWAPS = {
    ("resilience_core/state/_rotation.py", "os.rename"): "rotation renames the live log aside, no temp file",
}


def _renames(path: Path) -> list[tuple[int, str]]:
    """Calls that move a file into place: os.replace/os.rename, and Path.replace/rename (one positional argument:
    str.replace takes two)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr, owner = node.func.attr, node.func.value
        if attr not in ("replace", "rename"):
            continue
        if isinstance(owner, ast.Name) and owner.id == "os":
            found.append((node.lineno, f"os.{attr}"))
        elif (
            len(node.args) == 1
            and not node.keywords
            and not isinstance(owner, ast.Constant)
            and not (isinstance(owner, ast.Name) and owner.id in ("dataclasses", "str"))
        ):
            found.append((node.lineno, f"Path.{attr}"))
    return found


def test_the_scan_sees_renames(tmp_path: Path) -> None:
    """The scanner finds os.replace and Path.replace and leaves str.replace alone."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nos.replace(a, b)\np.replace(q)\ns.replace('a', 'b')\n")
    assert _renames(sample) == [(2, "os.replace"), (3, "Path.replace")]


def test_only_the_writer_moves_files_into_place() -> None:
    """Outside resilience_core/state/atomic.py no code renames a file into place (directory swaps excepted)."""
    offenders = []
    for top in ("resilience_core", "chaos", "scenarios", "plugins", "benchmarks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == WRITER or "build" in path.relative_to(ROOT).parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            for line, call in _renames(path):
                if (rel, call) not in DIRECTORY_SWAPS:
                    offenders.append(f"{rel}:{line}: {call}")
    assert not offenders, "use resilience_core.atomic_write/atomic_open/publish_file instead: " + ", ".join(offenders)
