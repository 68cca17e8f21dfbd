"""The install manifest: what was installed, from where, verified how; written atomically, read strictly."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience_core import atomic_write
from resilience_core.errors import ConfigError

__all__ = ["SCHEMA", "read_manifest", "write_manifest"]

SCHEMA = "resilience-chaos/install-manifest@1"


def write_manifest(path: Path, body: Mapping[str, Any]) -> None:
    """Write ``body`` (plus the schema tag) atomically and durably."""
    atomic_write(path, json.dumps({"schema": SCHEMA, **body}, indent=1, sort_keys=True).encode())


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``, None when there is none; a damaged one raises ConfigError naming the fix."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{path}: the install manifest is unreadable ({error}); run `install` again to rewrite it",
            field="manifest",
            value=os.fspath(path),
            source=os.fspath(path),
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(
            f"{path}: not an install manifest of schema {SCHEMA}; run `install` again to rewrite it",
            field="manifest.schema",
            value=data.get("schema") if isinstance(data, dict) else type(data).__name__,
            source=os.fspath(path),
        )
    return data
