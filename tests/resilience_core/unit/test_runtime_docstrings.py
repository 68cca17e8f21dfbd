"""The examples in the runtime's docstrings run (doctest) so they cannot rot."""

from __future__ import annotations

import doctest
import importlib
import os
import pathlib
import tempfile

import pytest

MODULES = [
    "resilience_core.recovery.categorize",
    "resilience_core.config",
    "resilience_core.recovery.runtime",
    "resilience_core.recovery.call",
    "resilience_core.recovery.stats",
    "resilience_core.recovery.strategies.base",
    "resilience_core.recovery.strategies.breaker",
    "resilience_core.recovery.strategies.degrade",
    "resilience_core.recovery.strategies.disk",
    "resilience_core.recovery.strategies.guidance",
    "resilience_core.recovery.strategies.repair",
    "resilience_core.recovery.strategies.retry",
    "resilience_core.recovery.strategies.rollback",
    "resilience_core.recovery.strategies.source",
    "resilience_core.recovery.matching",
    "resilience_core.recovery.network",
    "resilience_core.recovery.pip_resume",
    "resilience_core.recovery.strategies.advice",
    "resilience_core.paths",
    "resilience_core.hosts",
    "resilience_core.documents",
    "resilience_core.state.atomic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every >>> example in the module gives the output it shows."""
    for key in [k for k in os.environ if k.startswith("RESILIENCE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders go with tmp_path
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
