"""resilience_core: a small recovery runtime that ML installers embed.

Facade only: every public name is re-exported here from the module that owns it.
Importing this package loads no framework (no torch, httpx, requests, huggingface_hub, pytest, pluggy).
"""

from __future__ import annotations

from resilience_core.categorize import Categorizer, Rule, categorize
from resilience_core.clock import Clock, FakeClock, SystemClock, is_testing, set_testing
from resilience_core.config import ReliabilityConfig, load_config
from resilience_core.errors import ConfigError, IntegrityError, RecoveryFailed, ResilienceError, SnapshotError
from resilience_core.runtime import Hook, Runtime
from resilience_core.stats import RecoveryStats
from resilience_core.strategies import (
    Attempt,
    BreakerStrategy,
    CircuitBreaker,
    DegradeStrategy,
    FreeDiskSpaceStrategy,
    GuidanceStrategy,
    RepairStrategy,
    RetryBudget,
    RetryStrategy,
    RollbackStrategy,
    SourceFallbackStrategy,
    Strategy,
    degrade_params,
)
from resilience_core.taxonomy import (
    AttemptEvent,
    ErrorContext,
    FailureEvent,
    FailureType,
    GaveUpEvent,
    Outcome,
    RecoveredEvent,
    RecoveryEvent,
    RecoveryResult,
    Severity,
)

__all__ = [
    "Attempt",
    "AttemptEvent",
    "BreakerStrategy",
    "Categorizer",
    "CircuitBreaker",
    "Clock",
    "ConfigError",
    "DegradeStrategy",
    "ErrorContext",
    "FailureEvent",
    "FailureType",
    "FakeClock",
    "FreeDiskSpaceStrategy",
    "GaveUpEvent",
    "GuidanceStrategy",
    "Hook",
    "IntegrityError",
    "Outcome",
    "RecoveredEvent",
    "RecoveryEvent",
    "RecoveryFailed",
    "RecoveryResult",
    "RecoveryStats",
    "ReliabilityConfig",
    "RepairStrategy",
    "ResilienceError",
    "RetryBudget",
    "RetryStrategy",
    "RollbackStrategy",
    "Rule",
    "Runtime",
    "Severity",
    "SnapshotError",
    "SourceFallbackStrategy",
    "Strategy",
    "SystemClock",
    "categorize",
    "degrade_params",
    "is_testing",
    "load_config",
    "set_testing",
]
