"""Runs real huggingface_hub calls in a fresh process (its env vars are read at import) and prints JSON results.

Usage: python hf_client.py '<json list of calls>'; each call is {"op": ..., "args": [...], "kwargs": {...}}.
Each result is {"ok": value} or {"error": exception class name, "message": str, "mro": [class names]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _run(call: dict[str, Any]) -> dict[str, Any]:
    import huggingface_hub

    op, args, kwargs = call["op"], call.get("args", []), call.get("kwargs", {})
    try:
        if op == "verify":
            result = huggingface_hub.HfApi(endpoint=kwargs.pop("endpoint", None)).verify_repo_checksums(*args, **kwargs)
            return {
                "ok": {
                    "mismatches": result.mismatches,
                    "missing": result.missing_paths,
                    "checked": result.checked_count,
                }
            }
        value = getattr(huggingface_hub, op)(*args, **kwargs)
    except Exception as error:  # report any client error to the test, which asserts on it
        return {"error": type(error).__name__, "message": str(error), "mro": [c.__name__ for c in type(error).__mro__]}
    return {"ok": str(Path(value)) if isinstance(value, str) else repr(value)}


if __name__ == "__main__":
    print(json.dumps([_run(call) for call in json.loads(sys.argv[1])]))
