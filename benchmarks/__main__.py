"""Run every ``benchmarks/bench_*.py`` module (or those named on the command line) and print their figures.

Each module exposes ``main() -> None`` that measures its anchor and its subject in the same run and prints one
line per figure: ``name: value unit (anchor: value unit, ratio R, target T) PASS|MISS``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def _modules(selected: list[str]) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    return names


def main(argv: list[str]) -> int:
    names = _modules(argv)
    if not names:
        print(f"no benchmark matches {argv!r}", file=sys.stderr)
        return 2
    for name in names:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
