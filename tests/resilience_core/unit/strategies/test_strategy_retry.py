"""RetryStrategy: full-jitter backoff within [0, max_delay], deadline-aware, budget-aware, never sleeps itself."""

from __future__ import annotations

import errno
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience_core import FakeClock, RecoveryFailed, ReliabilityConfig, Runtime, categorize
from resilience_core.recovery.strategies.base import Attempt, RetryBudget
from resilience_core.recovery.strategies.retry import RetryStrategy, backoff_delay_s
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, Severity


def attempt(number: int = 1, *, max_attempts: int = 5, deadline_s: float | None = None, **kw: object) -> Attempt:
    a = Attempt(
        operation="op",
        params={},
        max_attempts=max_attempts,
        clock=FakeClock(),
        started_s=0.0,
        deadline_s=deadline_s,
        rng=random.Random(1),
        **kw,  # type: ignore[arg-type]
    )
    a.number = number
    return a


RESET = categorize(ConnectionResetError(errno.ECONNRESET, "reset"))


def test_delays_without_jitter_double_up_to_the_cap() -> None:
    """base 1, factor 2, cap 5: 1, 2, 4, 5, 5."""
    strategy = RetryStrategy(base_delay_s=1.0, max_delay_s=5.0, jitter=False)
    assert [strategy.delay_s(n, random.Random(0)) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_same_seed_gives_the_same_delays() -> None:
    """The jitter comes from the injected RNG, so a seed reproduces a schedule."""
    strategy = RetryStrategy()
    first = [strategy.delay_s(n, random.Random(42)) for n in range(1, 8)]
    assert first == [strategy.delay_s(n, random.Random(42)) for n in range(1, 8)]


@settings(max_examples=200, deadline=None)
@given(
    attempt_number=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.0, max_value=1e4),
    cap=st.floats(min_value=0.0, max_value=1e5),
    factor=st.floats(min_value=1.0, max_value=10.0),
    jitter=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_always_within_zero_and_max_delay(
    attempt_number: int, base: float, cap: float, factor: float, jitter: bool, seed: int
) -> None:
    """Property: every backoff delay lies in [0, max_delay_s], even for huge attempt numbers."""
    delay = backoff_delay_s(
        attempt_number,
        base_delay_s=base,
        max_delay_s=cap,
        exponential_base=factor,
        jitter=jitter,
        rng=random.Random(seed),
    )
    assert 0.0 <= delay <= cap


@settings(max_examples=60, deadline=None)
@given(
    deadline=st.floats(min_value=0.01, max_value=500.0),
    base=st.floats(min_value=0.0, max_value=50.0),
    cap=st.floats(min_value=50.0, max_value=200.0),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_sum_of_waits_respects_the_deadline(deadline: float, base: float, cap: float, seed: int) -> None:
    """Property: through the runtime, the waits of a call never add up past its deadline."""
    config = ReliabilityConfig.from_mapping(
        {"retry": {"base_delay_seconds": base, "max_delay_seconds": cap, "budget_capacity": 1e6}}, env={}
    )
    clock = FakeClock()
    rt = Runtime(config=config, clock=clock, rng=random.Random(seed), max_attempts=50)

    def always_resets() -> None:
        raise ConnectionResetError(errno.ECONNRESET, "reset")

    with pytest.raises(RecoveryFailed):
        rt.run(always_resets, deadline_s=deadline)
    assert sum(clock.sleeps) <= deadline
    assert all(0.0 <= s <= cap for s in clock.sleeps)


def test_recover_requests_the_wait_instead_of_sleeping() -> None:
    """recover() asks the runtime to wait and reports the wait in system_changes."""
    a = attempt()
    result = RetryStrategy(base_delay_s=2.0, jitter=False).recover(RESET, a)
    assert result.success
    assert a.wait_s == 2.0
    assert result.system_changes == {"wait_s": 2.0}
    assert a.clock.sleeps == []  # type: ignore[attr-defined]


def test_retry_after_raises_the_wait_up_to_max_delay() -> None:
    """A server's Retry-After is honoured, but never beyond max_delay_s."""
    ctx = ErrorContext(FailureType.HTTP_ERROR, Severity.MEDIUM, details={"retry_after_s": 30.0, "retryable": True})
    a = attempt()
    RetryStrategy(base_delay_s=1.0, max_delay_s=10.0, jitter=False).recover(ctx, a)
    assert a.wait_s == 10.0


def test_wait_past_the_deadline_gives_no_retry() -> None:
    """When the wait would pass the deadline the strategy declines and the budget is untouched."""
    budget = RetryBudget(5, 0, FakeClock())
    a = attempt(deadline_s=0.5, budget=budget)
    result = RetryStrategy(base_delay_s=1.0, jitter=False).recover(RESET, a)
    assert not result.success
    assert "deadline" in result.message
    assert budget.available == 5


def test_spent_budget_gives_no_retry() -> None:
    """An empty shared budget declines the retry."""
    a = attempt(budget=RetryBudget(1, 0, FakeClock()))
    strategy = RetryStrategy(jitter=False)
    assert strategy.recover(RESET, a).success
    result = strategy.recover(RESET, a)
    assert not result.success
    assert "budget" in result.message


def test_budget_refills_with_time() -> None:
    """Tokens come back at refill_per_s on the clock."""
    clock = FakeClock()
    budget = RetryBudget(1, 0.5, clock)
    assert budget.try_acquire()
    assert not budget.try_acquire()
    clock.advance(2.0)
    assert budget.try_acquire()


def test_no_attempts_left_means_no_retry() -> None:
    """On the last allowed attempt retry declines."""
    assert not RetryStrategy().recover(RESET, attempt(5, max_attempts=5)).success


def test_non_retryable_and_critical_contexts_are_not_handled() -> None:
    """retryable=False and critical severity are never retried; unlisted types neither."""
    strategy = RetryStrategy()
    assert strategy.can_handle(RESET)
    assert not strategy.can_handle(categorize(OSError(errno.EIO, "I/O error")))
    http_404 = ErrorContext(FailureType.HTTP_ERROR, Severity.HIGH, details={"retryable": False})
    assert not strategy.can_handle(http_404)
    assert not strategy.can_handle(categorize(PermissionError(errno.EACCES, "denied")))
