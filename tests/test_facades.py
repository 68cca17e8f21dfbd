"""The package facades re-export exactly their public names, and importing the runtime stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["resilience_core", "chaos"])
def test_all_is_sorted_and_complete(package: str) -> None:
    """__all__ is sorted, unique, and names exactly the public attributes the facade defines."""
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys)) and name != "annotations"
    }
    assert public == set(exported)


def test_import_resilience_core_loads_no_framework() -> None:
    """`import resilience_core` pulls in none of pytest, pluggy, torch, httpx, httpx2, requests, huggingface_hub."""
    code = (
        "import sys, json, resilience_core\n"
        "heavy = ['pytest', 'pluggy', 'torch', 'httpx', 'httpx2', 'requests', 'huggingface_hub',"
        " 'psutil', 'pynvml', 'safetensors', 'numpy']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
