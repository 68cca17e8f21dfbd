"""Old module paths of the flat 0.1 layout, kept importable for one release.

``import resilience_core.runtime`` gives the very module object of ``resilience_core.recovery.runtime`` (one
module, two names; no copy, no re-export file per old name). New code imports the facades instead.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Sequence

__all__ = ["install"]

_MOVED = {
    "resilience_core.taxonomy": "resilience_core.recovery.taxonomy",
    "resilience_core.categorize": "resilience_core.recovery.categorize",
    "resilience_core.rules": "resilience_core.recovery.rules",
    "resilience_core.runtime": "resilience_core.recovery.runtime",
    "resilience_core.clock": "resilience_core.recovery.clock",
    "resilience_core.stats": "resilience_core.recovery.stats",
    "resilience_core.strategies": "resilience_core.recovery.strategies",
    "resilience_core.snapshot": "resilience_core.state.snapshot",
    "resilience_core.integrity": "resilience_core.state.integrity",
    "resilience_core.logs": "resilience_core.state.logs",
}


def _target(fullname: str) -> str | None:
    if fullname in _MOVED:
        return _MOVED[fullname]
    package, dot, rest = fullname.rpartition(".")
    moved = _MOVED.get(package) if dot else None
    return f"{moved}.{rest}" if moved is not None else None


class _AliasFinder:
    """A meta path finder and loader whose modules are the moved modules themselves."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("resilience_core.") or _target(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)  # type: ignore[arg-type]  # duck-typed loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new_name = _target(spec.name)
        assert new_name is not None  # find_spec only answers for moved names
        return importlib.import_module(new_name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None  # the moved module has already run


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())  # before PathFinder: a moved package's __path__ would load copies
