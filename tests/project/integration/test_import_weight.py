"""What importing the runtime costs, measured in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_resilience_core_loads_no_framework() -> None:
    """`import resilience_core` pulls in neither the harness (chaos, pytest, pluggy, hypothesis, rich) nor any
    framework or optional library (torch, httpx, httpx2, requests, huggingface_hub, psutil, pynvml, xxhash)."""
    code = (
        "import sys, json, resilience_core\n"
        "heavy = ['chaos', 'pytest', 'pluggy', 'hypothesis', 'rich', 'torch', 'httpx', 'httpx2', 'requests',"
        " 'huggingface_hub', 'filelock', 'psutil', 'pynvml', 'xxhash', 'safetensors', 'numpy', 'asyncio']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
