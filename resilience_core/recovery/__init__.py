"""Recovery: what failed (taxonomy, categorizer), what to do about it (strategies) and the loop that does it.

Facade only: every public name is re-exported from the module that owns it.
"""

from __future__ import annotations

from resilience_core.recovery.categorize import Categorizer, Classification, categorize, default_rules
from resilience_core.recovery.clock import Clock, FakeClock, SystemClock, is_testing, set_testing
from resilience_core.recovery.matching import Rule, mro_names
from resilience_core.recovery.network import NETWORK_CAUSES
from resilience_core.recovery.pip_resume import PIP_RESUME_SINCE, pip_resume_args
from resilience_core.recovery.runtime import Hook, Runtime
from resilience_core.recovery.stats import RecoveryStats
from resilience_core.recovery.taxonomy import (
    RETRYABLE_FAILURE_TYPES,
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
    "NETWORK_CAUSES",
    "PIP_RESUME_SINCE",
    "RETRYABLE_FAILURE_TYPES",
    "AttemptEvent",
    "Categorizer",
    "Classification",
    "Clock",
    "ErrorContext",
    "FailureEvent",
    "FailureType",
    "FakeClock",
    "GaveUpEvent",
    "Hook",
    "Outcome",
    "RecoveredEvent",
    "RecoveryEvent",
    "RecoveryResult",
    "RecoveryStats",
    "Rule",
    "Runtime",
    "Severity",
    "SystemClock",
    "categorize",
    "default_rules",
    "is_testing",
    "mro_names",
    "pip_resume_args",
    "set_testing",
]
