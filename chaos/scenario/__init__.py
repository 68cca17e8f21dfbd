"""Declarative chaos scenarios: ``chaos*.toml`` files naming an install command, the repos and packages to serve,
a fault matrix, verdict keys and steady-state checks (see :mod:`chaos.scenario.loader` for the format).

::

    from chaos.scenario import load_scenario

    scenario = load_scenario("chaos.toml")  # ScenarioError: one line naming file, line, key, value and fix
    [entry.id for entry in scenario.matrix]
"""

from chaos.scenario.loader import load_scenario
from chaos.scenario.model import (
    PLACEHOLDERS,
    RERUN_RULES,
    SCHEMA_PATH,
    THRESHOLD_KEYS,
    FaultStep,
    HfCacheCheck,
    MatrixEntry,
    PipCheck,
    ScenarioError,
    ScenarioFile,
    is_scenario_file,
)

__all__ = [
    "PLACEHOLDERS",
    "RERUN_RULES",
    "SCHEMA_PATH",
    "THRESHOLD_KEYS",
    "FaultStep",
    "HfCacheCheck",
    "MatrixEntry",
    "PipCheck",
    "ScenarioError",
    "ScenarioFile",
    "is_scenario_file",
    "load_scenario",
]
