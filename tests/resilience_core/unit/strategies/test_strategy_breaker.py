"""Circuit breaker: closed / open / half-open per key, on the injected clock; open lets nothing through."""

from __future__ import annotations

import errno
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience_core import FakeClock, RecoveryFailed, ReliabilityConfig, Runtime, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.breaker import (
    BreakerState,
    BreakerStrategy,
    CircuitBreaker,
    CircuitBreakerBoard,
)


def test_opens_after_threshold_and_half_opens_after_timeout() -> None:
    """Closed -> open after N failures -> half-open after the timeout -> closed after M successes."""
    clock = FakeClock()
    breaker = CircuitBreaker("hub", failure_threshold=3, success_threshold=2, open_timeout_s=30, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one trial at a time
    breaker.record_success()
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_failure_in_half_open_reopens() -> None:
    """A failed trial call opens the breaker again for a full timeout."""
    clock = FakeClock()
    breaker = CircuitBreaker("hub", failure_threshold=1, open_timeout_s=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_count == 2


def test_success_resets_the_failure_count_while_closed() -> None:
    """Failures must be consecutive to open the breaker."""
    breaker = CircuitBreaker("hub", failure_threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_stuck_trial_slot_is_released_after_a_timeout() -> None:
    """A half-open trial that never reports back does not block the key forever."""
    clock = FakeClock()
    breaker = CircuitBreaker("hub", failure_threshold=1, open_timeout_s=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    assert not breaker.allow()
    clock.advance(5)
    assert breaker.allow()


def test_invalid_settings_are_refused() -> None:
    """Zero thresholds are a configuration mistake."""
    with pytest.raises(ValueError, match="thresholds"):
        CircuitBreaker("hub", failure_threshold=0)


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(min_value=1, max_value=10),
    timeout=st.floats(min_value=0.1, max_value=1000.0),
    steps=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=30),
)
def test_open_breaker_lets_no_call_through(threshold: int, timeout: float, steps: list[float]) -> None:
    """Property: once open, every allow() before the timeout has passed is refused, and fn is never called."""
    clock = FakeClock()
    board = CircuitBreakerBoard(failure_threshold=threshold, open_timeout_s=timeout, clock=clock)
    for _ in range(threshold):
        board.record_failure("svc")
    config = ReliabilityConfig.from_mapping({}, env={})
    rt = Runtime(config=config, clock=clock, rng=random.Random(0))
    rt.breakers = board
    called: list[int] = []
    opened_at = clock.monotonic()
    for fraction in steps:
        clock.advance(fraction * timeout * 0.999 / max(1, len(steps)))
        assert clock.monotonic() - opened_at < timeout
        assert not board.allow("svc")
        with pytest.raises(RecoveryFailed):
            rt.run(lambda: called.append(1), service="svc")
    assert called == []


def test_strategy_counts_only_calls_with_a_service_and_stops_when_open() -> None:
    """Without a service key nothing is counted; with one, the threshold-th failure gives up the call."""
    board = CircuitBreakerBoard(failure_threshold=2, clock=FakeClock())
    strategy = BreakerStrategy(board)
    ctx = categorize(ConnectionResetError(errno.ECONNRESET, "reset"))
    assert strategy.can_handle(ctx)

    def attempt(service: str | None) -> Attempt:
        return Attempt(operation="op", params={}, max_attempts=5, clock=FakeClock(), started_s=0.0, service=service)

    assert not strategy.recover(ctx, attempt(None)).success
    assert board.states() == {}
    first = attempt("hub")
    assert not strategy.recover(ctx, first).success
    assert not first.stop_reason
    second = attempt("hub")
    result = strategy.recover(ctx, second)
    assert second.stop_reason
    assert result.system_changes == {"breaker": {"hub": "open"}}
    assert board.states() == {"hub": "open"}
