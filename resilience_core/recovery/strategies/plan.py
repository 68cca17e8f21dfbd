"""The default strategy plan: for each FailureType, the strategies to try, in order (the seeds' mapping).

Each failure runs the first strategy of its plan that can handle it; a strategy returning ``success=False``
hands over to the next one; ``guidance`` closes every plan so a person always learns what to do. Plans are
overridable per Runtime (``Runtime(plan=...)``) and per call (``rt.run(fn, plan=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from resilience_core.config import ReliabilityConfig
from resilience_core.recovery.clock import Clock
from resilience_core.recovery.strategies.base import Strategy
from resilience_core.recovery.taxonomy import FailureType

if TYPE_CHECKING:
    from resilience_core.recovery.strategies.breaker import CircuitBreakerBoard

__all__ = ["DEFAULT_PLAN", "PlanSpec", "default_strategies", "plan_priority"]

F = FailureType

PlanSpec = Mapping[FailureType | str, "tuple[str, ...] | list[str]"]
"""A plan: failure type (or its value) -> strategy names, in order."""

DEFAULT_PLAN: Mapping[FailureType, tuple[str, ...]] = {
    F.NETWORK_CONNECTIVITY_LOSS: ("breaker", "source", "retry", "guidance"),
    F.NETWORK_TIMEOUT: ("breaker", "source", "retry", "guidance"),
    F.BANDWIDTH_LIMITATION: ("source", "retry", "guidance"),
    F.HTTP_ERROR: ("breaker", "source", "retry", "guidance"),
    F.MODEL_DOWNLOAD_FAILURE: ("source", "retry", "guidance"),
    F.MODEL_CORRUPTION_DETECTED: ("repair", "retry", "guidance"),
    F.MODEL_INTEGRITY_FAILURE: ("repair", "retry", "guidance"),
    F.MODEL_VERSION_MISMATCH: ("rollback", "guidance"),
    F.MODEL_LOADING_TIMEOUT: ("degrade", "retry", "guidance"),
    F.MODEL_COMPATIBILITY_ERROR: ("rollback", "guidance"),
    F.VRAM_EXHAUSTION: ("degrade", "guidance"),
    F.RAM_EXHAUSTION: ("degrade", "guidance"),
    F.STORAGE_SPACE_INSUFFICIENT: ("disk", "guidance"),
    F.PERMISSION_DENIED: ("guidance",),
    F.DEPENDENCY_MISSING: ("guidance",),
    F.DEPENDENCY_INSTALL_FAILURE: ("retry", "rollback", "guidance"),
    F.LOCK_CONTENTION: ("disk", "retry", "guidance"),
    F.INVALID_PARAMETERS: ("guidance",),
    F.UNSUPPORTED_OPERATION: ("guidance",),
    F.HARDWARE_OPTIMIZATION_FAILURE: ("degrade", "guidance"),
    F.GENERATION_PIPELINE_ERROR: ("degrade", "retry", "guidance"),
    F.SYSTEM_RESOURCE_ERROR: ("rollback", "guidance"),
    F.UNKNOWN: ("guidance",),
}


def plan_priority(index: int, name: str) -> int:
    """The priority of the ``index``-th plan entry: 90, 80, ... and 0 for ``guidance`` (always last)."""
    return 0 if name == "guidance" else max(1, 90 - 10 * index)


def default_strategies(
    config: ReliabilityConfig, clock: Clock, *, breakers: CircuitBreakerBoard | None = None
) -> list[Strategy]:
    """The built-in strategies configured from ``config``, minus those ``features.*`` switch off."""
    from resilience_core.recovery.strategies.breaker import BreakerStrategy, CircuitBreakerBoard
    from resilience_core.recovery.strategies.degrade import DegradeStrategy
    from resilience_core.recovery.strategies.disk import FreeDiskSpaceStrategy
    from resilience_core.recovery.strategies.guidance import GuidanceStrategy
    from resilience_core.recovery.strategies.repair import RepairStrategy
    from resilience_core.recovery.strategies.retry import RetryStrategy
    from resilience_core.recovery.strategies.rollback import RollbackStrategy
    from resilience_core.recovery.strategies.source import SourceFallbackStrategy

    retry, recovery = config.retry, config.recovery
    built: list[Strategy] = [
        BreakerStrategy(
            breakers
            if breakers is not None
            else CircuitBreakerBoard(
                failure_threshold=recovery.breaker_failure_threshold,
                success_threshold=recovery.breaker_success_threshold,
                open_timeout_s=recovery.breaker_open_timeout_seconds,
                clock=clock,
            )
        ),
        SourceFallbackStrategy(
            recovery.alternative_sources, switch_after_failures=recovery.source_switch_after_failures
        ),
        RetryStrategy(
            base_delay_s=retry.base_delay_seconds,
            max_delay_s=retry.max_delay_seconds,
            exponential_base=retry.exponential_base,
            jitter=retry.jitter_enabled,
        ),
        FreeDiskSpaceStrategy(roots=recovery.cleanup_roots, stale_age_s=recovery.stale_lock_age_seconds),
        RepairStrategy(),
        DegradeStrategy(),
        RollbackStrategy(),
        GuidanceStrategy(),
    ]
    return [s for s in built if config.strategy_enabled(s.name)]
