"""Recovery strategies, one module per family, and the default plan that orders them per FailureType.

Facade only: every public name is re-exported from the module that owns it.
"""

from __future__ import annotations

from resilience_core.recovery.strategies.base import Attempt, RetryBudget, Strategy
from resilience_core.recovery.strategies.breaker import (
    BreakerState,
    BreakerStrategy,
    CircuitBreaker,
    CircuitBreakerBoard,
)
from resilience_core.recovery.strategies.degrade import DEGRADATION_LEVELS, DegradeStrategy, degrade_params, param_cost
from resilience_core.recovery.strategies.disk import FreeDiskSpaceStrategy, free_bytes
from resilience_core.recovery.strategies.guidance import GUIDANCE, GuidanceStrategy, guidance_for
from resilience_core.recovery.strategies.plan import DEFAULT_PLAN, PlanSpec, default_strategies, plan_priority
from resilience_core.recovery.strategies.repair import RepairCallback, RepairStrategy
from resilience_core.recovery.strategies.retry import RETRYABLE_FAILURE_TYPES, RetryStrategy, backoff_delay_s
from resilience_core.recovery.strategies.rollback import RestoresSnapshots, RollbackCallback, RollbackStrategy
from resilience_core.recovery.strategies.source import SourceFallbackStrategy

__all__ = [
    "DEFAULT_PLAN",
    "DEGRADATION_LEVELS",
    "GUIDANCE",
    "RETRYABLE_FAILURE_TYPES",
    "Attempt",
    "BreakerState",
    "BreakerStrategy",
    "CircuitBreaker",
    "CircuitBreakerBoard",
    "DegradeStrategy",
    "FreeDiskSpaceStrategy",
    "GuidanceStrategy",
    "PlanSpec",
    "RepairCallback",
    "RepairStrategy",
    "RestoresSnapshots",
    "RetryBudget",
    "RetryStrategy",
    "RollbackCallback",
    "RollbackStrategy",
    "SourceFallbackStrategy",
    "Strategy",
    "backoff_delay_s",
    "default_strategies",
    "degrade_params",
    "free_bytes",
    "guidance_for",
    "param_cost",
    "plan_priority",
]
