"""Runtime.run / arun / protect: params, hooks, attempt limits, deadlines, plans and RecoveryFailed."""

from __future__ import annotations

import asyncio
import errno
import random
from collections.abc import Callable
from typing import Any

import pytest

from resilience_core import (
    AttemptEvent,
    FailureEvent,
    FailureType,
    FakeClock,
    GaveUpEvent,
    RecoveredEvent,
    RecoveryEvent,
    RecoveryFailed,
    RecoveryResult,
    ReliabilityConfig,
    RepairStrategy,
    Runtime,
    set_testing,
)
from resilience_core.errors import ConfigError
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext


def make_runtime(**kwargs: Any) -> tuple[Runtime, FakeClock]:
    clock = FakeClock()
    config = kwargs.pop("config", ReliabilityConfig.from_mapping({}, env={}))
    return Runtime(config=config, clock=clock, rng=random.Random(7), **kwargs), clock


def failing(times: int, error: Callable[[], BaseException]) -> tuple[Callable[..., str], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def step(**params: Any) -> str:
        seen.append(dict(params))
        if len(seen) <= times:
            raise error()
        return "ok"

    return step, seen


def reset() -> BaseException:
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def test_happy_path_returns_value_and_records_nothing() -> None:
    """A call that succeeds at once returns its value, waits nothing and touches no statistics."""
    rt, clock = make_runtime()
    assert rt.run(lambda a, b=0: a + b, 1, b=2) == 3
    assert clock.sleeps == []
    assert rt.stats.to_dict()["calls"]["failed"] == 0


def test_transient_failure_is_retried_with_backoff_through_the_clock() -> None:
    """Two resets then success: three calls, two waits on the fake clock within max_delay."""
    rt, clock = make_runtime()
    step, seen = failing(2, reset)
    assert rt.run(step, operation="model_download") == "ok"
    assert len(seen) == 3
    assert len(clock.sleeps) == 2
    assert all(0 <= s <= rt.config.retry.max_delay_seconds for s in clock.sleeps)


def test_params_are_passed_and_the_callers_mapping_is_never_mutated() -> None:
    """Strategies change a per-call copy of params; the dict the caller passed stays as it was."""
    rt, _ = make_runtime()
    params = {"batch_size": 8, "resolution": 1024}

    def oom() -> BaseException:
        return RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    step, seen = failing(1, oom)
    assert rt.run(step, operation="generate", params=params) == "ok"
    assert params == {"batch_size": 8, "resolution": 1024}
    assert seen[0]["batch_size"] == 8
    assert seen[1]["batch_size"] < 8


def test_every_param_change_is_recorded_in_system_changes() -> None:
    """The degrade result lists each changed parameter as [old, new]."""
    events: list[RecoveryEvent] = []
    rt, _ = make_runtime(hooks=[events.append])
    step, _ = failing(1, lambda: RuntimeError("CUDA out of memory."))
    rt.run(step, params={"batch_size": 8})
    results = [e.result for e in events if isinstance(e, AttemptEvent)]
    assert results[0].strategy == "degrade"
    assert results[0].system_changes["batch_size"] == [8, 4]
    assert results[0].degraded


def test_hooks_see_failure_attempt_and_recovered_events_in_order() -> None:
    """Hooks receive on_failure, on_attempt ... and on_recovered with the call's totals."""
    events: list[RecoveryEvent] = []
    rt, _ = make_runtime(hooks=[events.append])
    step, _ = failing(1, reset)
    rt.run(step, operation="model_download")
    kinds = [e.kind for e in events]
    assert kinds[0] == "on_failure"
    assert kinds[-1] == "on_recovered"
    assert "on_attempt" in kinds
    recovered = events[-1]
    assert isinstance(recovered, RecoveredEvent)
    assert recovered.attempts == 2
    assert recovered.failure_types == (FailureType.NETWORK_CONNECTIVITY_LOSS,)
    assert recovered.operation == "model_download"
    assert recovered.correlation_id.startswith("model_download-")
    assert isinstance(events[0], FailureEvent)
    assert events[0].context.correlation_id == recovered.correlation_id


def test_a_raising_hook_does_not_change_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    """A broken hook is logged and ignored; the call still recovers."""

    def broken(event: RecoveryEvent) -> None:
        raise RuntimeError("observer bug")

    rt, _ = make_runtime(hooks=[broken])
    step, _ = failing(1, reset)
    assert rt.run(step) == "ok"
    assert "observer bug" in caplog.text


def test_max_attempts_is_respected_and_recovery_failed_carries_guidance() -> None:
    """After max_attempts failures RecoveryFailed carries the context, the result, advice and the cause."""
    events: list[RecoveryEvent] = []
    rt, _ = make_runtime(hooks=[events.append], max_attempts=3)
    step, seen = failing(100, reset)
    with pytest.raises(RecoveryFailed) as info:
        rt.run(step, operation="model_download")
    assert len(seen) == 3
    failed = info.value
    assert failed.context.attempt == 3
    assert failed.context.failure_type is FailureType.NETWORK_CONNECTIVITY_LOSS
    assert failed.user_message
    assert failed.actionable_steps
    assert isinstance(failed.__cause__, ConnectionResetError)
    assert len(failed.context.previous_attempts) == 2
    assert isinstance(events[-1], GaveUpEvent)
    assert rt.stats.to_dict()["calls"]["gave_up"] == 1


def test_per_call_max_attempts_overrides_the_runtime() -> None:
    """max_attempts=1 on the call means no retry at all."""
    rt, _ = make_runtime()
    step, seen = failing(1, reset)
    with pytest.raises(RecoveryFailed):
        rt.run(step, max_attempts=1)
    assert len(seen) == 1


def test_non_retryable_failure_is_not_retried() -> None:
    """A permission error goes straight to guidance: one call, a user message, no wait."""
    rt, clock = make_runtime()
    step, seen = failing(5, lambda: PermissionError(errno.EACCES, "Permission denied", "/opt/models"))
    with pytest.raises(RecoveryFailed) as info:
        rt.run(step)
    assert len(seen) == 1
    assert clock.sleeps == []
    assert info.value.result.strategy == "guidance"
    assert any("/opt/models" in s for s in info.value.actionable_steps)


def test_unknown_errors_are_not_retried() -> None:
    """A bug in the step (KeyError) is reported, not retried."""
    rt, _ = make_runtime()
    step, seen = failing(5, lambda: KeyError("oops"))
    with pytest.raises(RecoveryFailed) as info:
        rt.run(step)
    assert len(seen) == 1
    assert info.value.context.failure_type is FailureType.UNKNOWN


def test_deadline_bounds_the_total_wait() -> None:
    """With a 5 s deadline the waits never add up past it and the call gives up in time."""
    rt, clock = make_runtime(max_attempts=50)
    step, _ = failing(1000, reset)
    with pytest.raises(RecoveryFailed) as info:
        rt.run(step, deadline_s=5.0)
    assert sum(clock.sleeps) <= 5.0
    assert "deadline" in info.value.result.message


def test_operation_timeout_from_config_is_the_default_deadline() -> None:
    """timeouts.<operation>_seconds is used as the deadline of that operation."""
    config = ReliabilityConfig.from_mapping({"timeouts": {"network_test_seconds": 3}}, env={})
    rt, clock = make_runtime(config=config, max_attempts=50)
    step, _ = failing(1000, reset)
    with pytest.raises(RecoveryFailed):
        rt.run(step, operation="network_test")
    assert sum(clock.sleeps) <= 3.0


def test_retry_budget_is_shared_across_calls() -> None:
    """Once the runtime's retry budget is spent, later calls give up instead of retrying."""
    config = ReliabilityConfig.from_mapping({"retry": {"budget_capacity": 2, "budget_refill_per_second": 0}}, env={})
    rt, _ = make_runtime(config=config)
    first, seen_first = failing(2, reset)
    assert rt.run(first) == "ok"
    second, seen_second = failing(1, reset)
    with pytest.raises(RecoveryFailed) as info:
        rt.run(second)
    assert len(seen_first) == 3
    assert len(seen_second) == 1
    assert "budget" in info.value.result.message or "no strategy" in info.value.result.message


def test_set_testing_caps_attempts() -> None:
    """Inside set_testing(max_attempts=2) a call makes at most two attempts."""
    rt, _ = make_runtime(max_attempts=10)
    step, seen = failing(100, reset)
    with set_testing(True, max_attempts=2), pytest.raises(RecoveryFailed):
        rt.run(step)
    assert len(seen) == 2


def test_per_call_plan_overrides_the_default() -> None:
    """plan={type: ("guidance",)} on the call turns retries off for that type."""
    rt, _ = make_runtime()
    step, seen = failing(1, reset)
    with pytest.raises(RecoveryFailed):
        rt.run(step, plan={FailureType.NETWORK_CONNECTIVITY_LOSS: ("guidance",)})
    assert len(seen) == 1


def test_unknown_strategy_in_a_plan_is_a_config_error() -> None:
    """A typo in a per-call plan is reported naming the strategy and the registered ones."""
    rt, _ = make_runtime()
    step, _ = failing(1, reset)
    with pytest.raises(ConfigError, match="retyr"):
        rt.run(step, plan={"network_connectivity_loss": ("retyr",)})


def test_unknown_failure_type_in_runtime_plan_suggests_the_closest() -> None:
    """Runtime(plan=...) with a misspelt failure type says which one was meant."""
    with pytest.raises(ConfigError, match="did you mean 'network_timeout'"):
        make_runtime(plan={"network_timeot": ("retry",)})


class Flaky:
    """A custom strategy: claims lock contention and asks for a fixed wait."""

    name = "wait_for_lock"

    def __init__(self) -> None:
        self.calls = 0

    def can_handle(self, ctx: ErrorContext) -> bool:
        return True

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        self.calls += 1
        attempt.request_wait(0.25)
        return RecoveryResult(True, self.name, message="waited")


def test_registered_strategy_runs_first_with_higher_priority() -> None:
    """register(strategy, types, priority=95) puts it before the built-ins for those types."""
    rt, clock = make_runtime()
    custom = Flaky()
    rt.register(custom, [FailureType.LOCK_CONTENTION], priority=95)
    step, _ = failing(1, lambda: BlockingIOError(errno.EAGAIN, "busy"))
    assert rt.run(step) == "ok"
    assert custom.calls == 1
    assert clock.sleeps == [0.25]
    assert rt.strategies_for(FailureType.LOCK_CONTENTION)[0] is custom


def test_same_name_registration_replaces_the_builtin_everywhere() -> None:
    """Registering a RepairStrategy with a callback makes corruption repairable in the default plan."""
    repaired: list[str] = []
    rt, _ = make_runtime()
    rt.register(RepairStrategy(lambda ctx: repaired.append(ctx.failure_type.value) is None))
    step, _ = failing(1, lambda: OSError(errno.EINVAL, "Invalid argument"))
    assert rt.run(step) == "ok"
    assert repaired == ["model_corruption_detected"]


def test_strategies_argument_replaces_builtins_and_plans_by_attribute() -> None:
    """Runtime(strategies=[...]) keeps only those; failure_types/priority attributes plan them."""
    custom = Flaky()
    custom.failure_types = (FailureType.UNKNOWN,)  # type: ignore[attr-defined]
    rt, _ = make_runtime(strategies=[custom])
    assert set(rt.strategies) == {"wait_for_lock"}
    step, _ = failing(1, lambda: KeyError("x"))
    assert rt.run(step) == "ok"


def test_a_raising_strategy_is_reported_not_propagated() -> None:
    """A strategy that raises counts as a failed strategy; the call continues down the plan."""

    class Broken(Flaky):
        name = "broken"

        def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
            raise RuntimeError("strategy bug")

    rt, _ = make_runtime()
    rt.register(Broken(), [FailureType.NETWORK_CONNECTIVITY_LOSS], priority=99)
    step, _ = failing(1, reset)
    assert rt.run(step) == "ok"
    assert rt.stats.strategy("broken").attempts == 1
    assert rt.stats.strategy("broken").successes == 0


def test_open_breaker_blocks_the_call_without_calling_fn() -> None:
    """With service='hub' the breaker opens after repeated failures and then fn is not called at all."""
    config = ReliabilityConfig.from_mapping({"recovery": {"breaker_failure_threshold": 2}}, env={})
    rt, clock = make_runtime(config=config, max_attempts=10)
    step, seen = failing(100, reset)
    with pytest.raises(RecoveryFailed) as info:
        rt.run(step, service="hub")
    assert "circuit breaker" in info.value.result.message
    calls = len(seen)
    with pytest.raises(RecoveryFailed) as blocked:
        rt.run(step, service="hub")
    assert len(seen) == calls
    assert blocked.value.context.details["circuit_open"] is True
    clock.advance(rt.config.recovery.breaker_open_timeout_seconds)
    ok, _ = failing(0, reset)
    assert rt.run(ok, service="hub") == "ok"


def test_protect_decorates_sync_functions() -> None:
    """@rt.protect keeps the signature's behaviour and recovers like run()."""
    rt, _ = make_runtime()
    calls: list[int] = []

    @rt.protect(operation="dependency_install")
    def install(name: str) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError(errno.ECONNRESET, "reset")
        return f"installed {name}"

    assert install("numpy") == "installed numpy"
    assert install.__name__ == "install"


def test_protect_decorates_async_functions() -> None:
    """@rt.protect on a coroutine function gives an awaitable that recovers like arun()."""
    rt, clock = make_runtime()
    calls: list[int] = []

    @rt.protect()
    async def fetch(endpoint: str) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("timed out")
        return endpoint

    assert asyncio.run(fetch("http://127.0.0.1")) == "http://127.0.0.1"
    assert len(clock.sleeps) == 2


def test_arun_passes_params_and_raises_recovery_failed() -> None:
    """arun awaits fn with params and raises RecoveryFailed with the cause when recovery fails."""
    rt, _ = make_runtime(max_attempts=2)
    seen: list[int] = []

    async def step(batch_size: int) -> int:
        seen.append(batch_size)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(RecoveryFailed) as info:
        asyncio.run(rt.arun(step, params={"batch_size": 4}))
    assert seen == [4]
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.context.failure_type is FailureType.STORAGE_SPACE_INSUFFICIENT


def test_invalid_max_attempts_is_a_config_error() -> None:
    """Runtime(max_attempts=0) names the field and the allowed range."""
    with pytest.raises(ConfigError, match="max_attempts=0"):
        make_runtime(max_attempts=0)


def test_default_config_reads_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtime() with no config applies RESILIENCE_* overrides."""
    monkeypatch.setenv("RESILIENCE_RETRY_MAX_RETRIES", "1")
    assert Runtime().max_attempts == 2


def test_disabled_level_makes_one_attempt() -> None:
    """reliability_level=disabled: no retries, only guidance."""
    config = ReliabilityConfig.from_mapping({}, env={}, level="disabled")
    rt, _ = make_runtime(config=config)
    step, seen = failing(1, reset)
    with pytest.raises(RecoveryFailed):
        rt.run(step)
    assert len(seen) == 1


def test_system_state_probe_fills_the_context_and_may_fail() -> None:
    """A system_state probe's result lands in ErrorContext.system_state; a raising probe is recorded, not raised."""
    events: list[RecoveryEvent] = []
    rt, _ = make_runtime(hooks=[events.append], system_state=lambda: {"free_disk_bytes": 123})
    step, _ = failing(1, reset)
    rt.run(step)
    first = events[0]
    assert isinstance(first, FailureEvent)
    assert first.context.system_state == {"free_disk_bytes": 123}

    def broken() -> dict[str, int]:
        raise OSError("psutil unavailable")

    events.clear()
    rt2, _ = make_runtime(hooks=[events.append], system_state=broken)
    step2, _ = failing(1, reset)
    assert rt2.run(step2) == "ok"
    assert "psutil unavailable" in events[0].context.system_state["probe_error"]  # type: ignore[union-attr]


def test_set_testing_removes_real_waits_of_the_system_clock() -> None:
    """With set_testing on, a SystemClock runtime configured for 60 s backoffs finishes at once."""
    import time

    config = ReliabilityConfig.from_mapping(
        {"retry": {"base_delay_seconds": 60, "max_delay_seconds": 60, "jitter_enabled": False}}, env={}
    )
    rt = Runtime(config=config)
    step, seen = failing(2, reset)
    started = time.monotonic()
    with set_testing(True, max_attempts=3):
        assert rt.run(step) == "ok"
    assert time.monotonic() - started < 5.0
    assert len(seen) == 3
