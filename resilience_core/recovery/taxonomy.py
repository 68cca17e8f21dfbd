"""What failed and how badly, what a recovery did, and how a chaos trial ended.

These are the shared vocabulary of the runtime and the harness (DESIGN §4.1). Every value object is a frozen,
slotted dataclass so hooks and reports can hold on to them safely across threads.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "RETRYABLE_FAILURE_TYPES",
    "AttemptEvent",
    "ErrorContext",
    "FailureEvent",
    "FailureType",
    "GaveUpEvent",
    "Outcome",
    "RecoveredEvent",
    "RecoveryEvent",
    "RecoveryResult",
    "Severity",
]


class FailureType(enum.StrEnum):
    """The category of a failure; it selects the recovery strategies that run."""

    NETWORK_CONNECTIVITY_LOSS = "network_connectivity_loss"
    NETWORK_TIMEOUT = "network_timeout"
    BANDWIDTH_LIMITATION = "bandwidth_limitation"
    HTTP_ERROR = "http_error"
    MODEL_DOWNLOAD_FAILURE = "model_download_failure"
    MODEL_CORRUPTION_DETECTED = "model_corruption_detected"
    MODEL_INTEGRITY_FAILURE = "model_integrity_failure"
    MODEL_VERSION_MISMATCH = "model_version_mismatch"
    MODEL_LOADING_TIMEOUT = "model_loading_timeout"
    MODEL_COMPATIBILITY_ERROR = "model_compatibility_error"
    VRAM_EXHAUSTION = "vram_exhaustion"
    RAM_EXHAUSTION = "ram_exhaustion"
    STORAGE_SPACE_INSUFFICIENT = "storage_space_insufficient"
    PERMISSION_DENIED = "permission_denied"
    DEPENDENCY_MISSING = "dependency_missing"
    DEPENDENCY_INSTALL_FAILURE = "dependency_install_failure"
    LOCK_CONTENTION = "lock_contention"
    INVALID_PARAMETERS = "invalid_parameters"
    UNSUPPORTED_OPERATION = "unsupported_operation"
    HARDWARE_OPTIMIZATION_FAILURE = "hardware_optimization_failure"
    GENERATION_PIPELINE_ERROR = "generation_pipeline_error"
    SYSTEM_RESOURCE_ERROR = "system_resource_error"
    UNKNOWN = "unknown"


class Severity(enum.StrEnum):
    """How bad a failure is; ``critical`` failures trigger a safe shutdown instead of retries."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


RETRYABLE_FAILURE_TYPES: frozenset[FailureType] = frozenset(
    {
        FailureType.NETWORK_CONNECTIVITY_LOSS,
        FailureType.NETWORK_TIMEOUT,
        FailureType.BANDWIDTH_LIMITATION,
        FailureType.HTTP_ERROR,
        FailureType.MODEL_DOWNLOAD_FAILURE,
        FailureType.MODEL_CORRUPTION_DETECTED,
        FailureType.MODEL_INTEGRITY_FAILURE,
        FailureType.MODEL_LOADING_TIMEOUT,
        FailureType.LOCK_CONTENTION,
        FailureType.DEPENDENCY_INSTALL_FAILURE,
        FailureType.STORAGE_SPACE_INSUFFICIENT,
        FailureType.VRAM_EXHAUSTION,
        FailureType.RAM_EXHAUSTION,
    }
)
"""Failure types whose cure is "try again" (after another strategy freed, repaired or degraded something) unless a
categorizer rule says otherwise; the retry strategy handles exactly these by default."""


class Outcome(enum.StrEnum):
    """How one chaos trial ended.

    Recovery rate = (recovered + recovered_degraded) / (trials - not_triggered). ``failed_dirty`` (leftovers,
    half-written state) is always a defect; ``failed_clean`` is acceptable only where no recovery can exist.
    """

    RECOVERED = "recovered"
    RECOVERED_DEGRADED = "recovered_degraded"
    FAILED_CLEAN = "failed_clean"
    FAILED_DIRTY = "failed_dirty"
    INDETERMINATE = "indeterminate"
    NOT_TRIGGERED = "not_triggered"

    @property
    def is_success(self) -> bool:
        """True for the outcomes that count as recovered."""
        return self in (Outcome.RECOVERED, Outcome.RECOVERED_DEGRADED)


_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """One categorized failure: what broke, how badly, during which operation and attempt.

    ``details`` carries what strategies need (``errno``, ``http_status``, ``path``, ``bytes_needed``,
    ``raw_type``, ``raw_message``...). ``previous_attempts`` holds the contexts of earlier attempts of the same
    call, oldest first.
    """

    failure_type: FailureType
    severity: Severity
    error: BaseException | None = None
    operation: str | None = None
    attempt: int = 1
    elapsed_s: float = 0.0
    correlation_id: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    system_state: Mapping[str, Any] = field(default_factory=dict)
    previous_attempts: tuple[ErrorContext, ...] = ()


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """What one strategy did about a failure.

    ``success=True`` means "the next attempt makes sense". ``system_changes`` records every parameter or
    state a strategy changed (``{"batch_size": [8, 4]}``); ``degraded`` marks a reduction in quality.
    ``recovery_time_s`` is what the strategy reports, else the time the runtime measured for it; a strategy that
    handed over (``success=False``) without changing anything did no recovery work and reports 0.0.
    """

    success: bool
    strategy: str
    recovery_time_s: float = 0.0
    message: str = ""
    user_message: str = ""
    actionable_steps: tuple[str, ...] = ()
    system_changes: Mapping[str, Any] = field(default_factory=dict)
    requires_user_action: bool = False
    degraded: bool = False


# Runtime hook events (DESIGN §4.3). A hook is a plain callable taking one of these; ``kind`` names which.


@dataclass(frozen=True, slots=True)
class FailureEvent:
    """An attempt raised; ``context`` is its categorization. Sent before any strategy runs."""

    kind: ClassVar[str] = "on_failure"
    context: ErrorContext


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    """A strategy ran for a failed attempt; ``result`` says what it did."""

    kind: ClassVar[str] = "on_attempt"
    context: ErrorContext
    result: RecoveryResult


@dataclass(frozen=True, slots=True)
class RecoveredEvent:
    """A call succeeded after at least one failure.

    ``attempts`` counts every attempt including the successful one; ``time_to_recover_s`` runs from the first
    failure to the success; ``results`` are the strategy results in order; ``degraded`` if any was.
    """

    kind: ClassVar[str] = "on_recovered"
    operation: str | None
    correlation_id: str
    attempts: int
    time_to_recover_s: float
    failure_types: tuple[FailureType, ...]
    results: tuple[RecoveryResult, ...]
    degraded: bool


@dataclass(frozen=True, slots=True)
class GaveUpEvent:
    """A call is about to raise RecoveryFailed; ``context`` and ``result`` are the last ones."""

    kind: ClassVar[str] = "on_gave_up"
    context: ErrorContext
    result: RecoveryResult


RecoveryEvent = FailureEvent | AttemptEvent | RecoveredEvent | GaveUpEvent
