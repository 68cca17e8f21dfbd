"""The examples in the runtime's docstrings run (doctest) so they cannot rot."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "resilience_core.categorize",
    "resilience_core.config",
    "resilience_core.runtime",
    "resilience_core._recovery",
    "resilience_core.stats",
    "resilience_core.strategies.base",
    "resilience_core.strategies.breaker",
    "resilience_core.strategies.degrade",
    "resilience_core.strategies.disk",
    "resilience_core.strategies.guidance",
    "resilience_core.strategies.repair",
    "resilience_core.strategies.retry",
    "resilience_core.strategies.rollback",
    "resilience_core.strategies.source",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every >>> example in the module gives the output it shows."""
    for key in [k for k in __import__("os").environ if k.startswith("RESILIENCE_")]:
        monkeypatch.delenv(key)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
