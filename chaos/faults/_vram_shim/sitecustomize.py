"""Arms ``vram.exhaust`` in a subprocess target: ``vram.exhaust`` puts this directory first on PYTHONPATH.

It only installs an import hook (torch and pynvml are patched if, and when, the target imports them), then runs
the ``sitecustomize`` this file hides, if any (e.g. Debian's ``/usr/lib/python3.11/sitecustomize.py``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _arm() -> None:
    try:
        import chaos_vram_shim  # type: ignore[import-not-found]  # found on PYTHONPATH at run time, beside us

        budget = chaos_vram_shim.budget_from_env()
        if budget is not None:
            chaos_vram_shim.install_import_hook(budget)
    except Exception as error:  # noqa: BLE001  # a broken shim must not break the target's interpreter start
        print(f"chaos vram.exhaust shim not armed: {type(error).__name__}: {error}", file=sys.stderr)


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None and spec.origin != os.path.abspath(__file__):
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_arm()
_chain()
