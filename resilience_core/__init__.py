"""resilience_core: a small recovery runtime that ML installers embed.

Facade only: every public name is re-exported here from the module that owns it.
Importing this package loads no framework (no torch, httpx, requests, huggingface_hub, pytest, pluggy).
"""

from __future__ import annotations

from resilience_core.clock import Clock, FakeClock, SystemClock, is_testing, set_testing
from resilience_core.errors import ConfigError, IntegrityError, RecoveryFailed, ResilienceError, SnapshotError
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
    "AttemptEvent",
    "Clock",
    "ConfigError",
    "ErrorContext",
    "FailureEvent",
    "FailureType",
    "FakeClock",
    "GaveUpEvent",
    "IntegrityError",
    "Outcome",
    "RecoveredEvent",
    "RecoveryEvent",
    "RecoveryFailed",
    "RecoveryResult",
    "ResilienceError",
    "Severity",
    "SnapshotError",
    "SystemClock",
    "is_testing",
    "set_testing",
]
