"""resilience_core: a small recovery runtime that ML installers embed.

Facade only: every public name is re-exported here from the module that owns it.
Importing this package loads no framework (no torch, httpx, requests, huggingface_hub, pytest, pluggy).
"""

from __future__ import annotations

from resilience_core.categorize import Categorizer, Rule, categorize
from resilience_core.clock import Clock, FakeClock, SystemClock, is_testing, set_testing
from resilience_core.config import ReliabilityConfig, load_config
from resilience_core.errors import ConfigError, IntegrityError, RecoveryFailed, ResilienceError, SnapshotError
from resilience_core.health import (
    DiskState,
    GpuState,
    Requirements,
    SystemState,
    UnmetRequirement,
    preflight,
    system_state,
)
from resilience_core.integrity import (
    FileRecord,
    Manifest,
    Mismatch,
    TensorInfo,
    VerifyReport,
    hash_file,
    sniff_placeholder,
    validate_file,
    validate_json,
    validate_safetensors,
)
from resilience_core.logs import (
    JsonFormatter,
    JsonLogHandler,
    RecoveryLogHook,
    StructuredLogger,
    get_logger,
    log_recovery_attempt,
    log_user_action,
    redact,
)
from resilience_core.runtime import Hook, Runtime
from resilience_core.snapshot import Snapshot, StateStore
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
    "DiskState",
    "ErrorContext",
    "FailureEvent",
    "FailureType",
    "FakeClock",
    "FileRecord",
    "FreeDiskSpaceStrategy",
    "GaveUpEvent",
    "GpuState",
    "GuidanceStrategy",
    "Hook",
    "IntegrityError",
    "JsonFormatter",
    "JsonLogHandler",
    "Manifest",
    "Mismatch",
    "Outcome",
    "RecoveredEvent",
    "RecoveryEvent",
    "RecoveryFailed",
    "RecoveryLogHook",
    "RecoveryResult",
    "RecoveryStats",
    "ReliabilityConfig",
    "RepairStrategy",
    "Requirements",
    "ResilienceError",
    "RetryBudget",
    "RetryStrategy",
    "RollbackStrategy",
    "Rule",
    "Runtime",
    "Severity",
    "Snapshot",
    "SnapshotError",
    "SourceFallbackStrategy",
    "StateStore",
    "Strategy",
    "StructuredLogger",
    "SystemClock",
    "SystemState",
    "TensorInfo",
    "UnmetRequirement",
    "VerifyReport",
    "categorize",
    "degrade_params",
    "get_logger",
    "hash_file",
    "is_testing",
    "load_config",
    "log_recovery_attempt",
    "log_user_action",
    "preflight",
    "redact",
    "set_testing",
    "sniff_placeholder",
    "system_state",
    "validate_file",
    "validate_json",
    "validate_safetensors",
]
