"""The pytest11 entry point of the chaos harness (DESIGN §4.5).

Nothing heavy is imported here at module level: pytest loads this in every session of every project that
installs resilience-chaos.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``chaos`` marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "chaos(trials=50, min_recovery_rate=0.95, confidence=0.95): run this scenario as seeded chaos trials",
    )
