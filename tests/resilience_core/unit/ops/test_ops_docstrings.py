"""The examples in the operations modules' docstrings run (doctest) so they cannot rot."""

from __future__ import annotations

import doctest
import importlib
import os
import tempfile
from pathlib import Path

import pytest

MODULES = [
    "resilience_core.flags",
    "resilience_core.analytics",
    "resilience_core.deploy",
    "resilience_core.templates",
    "resilience_core.hub.catalog",
    "resilience_core.monitor.alerts",
    "resilience_core.monitor.health",
    "resilience_core.monitor.prometheus",
    "resilience_core.monitor.rules",
    "resilience_core.monitor.samples",
    "resilience_core.monitor.server",
    "resilience_core.monitor.store",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every >>> example in the module gives the output it shows."""
    for key in [k for k in os.environ if k.startswith("RESILIENCE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders go with tmp_path
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
