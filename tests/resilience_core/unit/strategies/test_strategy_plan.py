"""The default plan: every failure type planned, guidance last, features switch built-ins off."""

from __future__ import annotations

import pytest

from resilience_core import FakeClock, ReliabilityConfig, Runtime
from resilience_core.recovery.strategies.plan import DEFAULT_PLAN, default_strategies, plan_priority
from resilience_core.recovery.taxonomy import FailureType

BUILTIN = {"breaker", "source", "retry", "disk", "repair", "degrade", "rollback", "guidance"}


@pytest.mark.parametrize("failure_type", list(FailureType))
def test_every_failure_type_is_planned_and_ends_with_guidance(failure_type: FailureType) -> None:
    """Each type has a plan of known strategies whose last entry is guidance."""
    plan = DEFAULT_PLAN[failure_type]
    assert plan[-1] == "guidance"
    assert set(plan) <= BUILTIN


def test_priorities_follow_plan_order() -> None:
    """Entries get 90, 80, ... and guidance 0."""
    assert [plan_priority(i, n) for i, n in enumerate(("degrade", "retry", "guidance"))] == [90, 80, 0]


def test_features_switch_strategies_off() -> None:
    """features.enable_graceful_degradation=false removes degrade; the disabled level keeps only retry/guidance."""
    config = ReliabilityConfig.from_mapping({"features": {"enable_graceful_degradation": False}}, env={})
    names = {s.name for s in default_strategies(config, FakeClock())}
    assert names == BUILTIN - {"degrade"}
    disabled = ReliabilityConfig.from_mapping({}, env={}, level="disabled")
    assert {s.name for s in default_strategies(disabled, FakeClock())} == {"guidance"}


def test_runtime_resolves_the_plan_in_order() -> None:
    """A runtime's strategies for VRAM exhaustion are degrade, then guidance."""
    rt = Runtime(config=ReliabilityConfig.from_mapping({}, env={}), clock=FakeClock())
    assert [s.name for s in rt.strategies_for(FailureType.VRAM_EXHAUSTION)] == ["degrade", "guidance"]
    rt2 = Runtime(
        config=ReliabilityConfig.from_mapping({}, env={}),
        clock=FakeClock(),
        plan={"vram_exhaustion": ("retry", "degrade", "guidance")},
    )
    assert [s.name for s in rt2.strategies_for(FailureType.VRAM_EXHAUSTION)] == ["retry", "degrade", "guidance"]
