"""Circuit breaker: closed / open / half-open per service key, so a dead server is not hammered.

Closed lets calls through and counts consecutive failures; ``failure_threshold`` of them open it. Open lets
nothing through until ``open_timeout_s`` has passed on the clock; then half-open lets ``half_open_max_calls``
trial calls through: ``success_threshold`` successes close it, one failure opens it again.

>>> from resilience_core.recovery.clock import FakeClock
>>> clock = FakeClock()
>>> breaker = CircuitBreaker("hub", failure_threshold=2, open_timeout_s=10.0, clock=clock)
>>> breaker.record_failure(); breaker.record_failure()
>>> breaker.state.value, breaker.allow()
('open', False)
>>> clock.advance(10.0)
>>> breaker.allow(), breaker.state.value
(True, 'half_open')
"""

from __future__ import annotations

import enum
import threading

from resilience_core.recovery.clock import Clock, SystemClock
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["BreakerState", "BreakerStrategy", "CircuitBreaker", "CircuitBreakerBoard"]


class BreakerState(enum.StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One breaker for one service key; thread-safe; all time comes from ``clock``."""

    def __init__(
        self,
        key: str,
        *,
        failure_threshold: int = 5,
        success_threshold: int = 2,
        open_timeout_s: float = 60.0,
        half_open_max_calls: int = 1,
        clock: Clock | None = None,
    ) -> None:
        if failure_threshold < 1 or success_threshold < 1 or half_open_max_calls < 1 or open_timeout_s < 0:
            raise ValueError(
                f"breaker {key!r}: thresholds and half_open_max_calls must be >= 1 and open_timeout_s >= 0, got "
                f"{failure_threshold}, {success_threshold}, {half_open_max_calls}, {open_timeout_s}"
            )
        self.key = key
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.open_timeout_s = open_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._trials = 0
        self._changed_at = self._clock.monotonic()
        self.opened_count = 0

    def _tick(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now - self._changed_at >= self.open_timeout_s:
            self._set(BreakerState.HALF_OPEN, now)
        elif self._state is BreakerState.HALF_OPEN and self._trials and now - self._changed_at >= self.open_timeout_s:
            # Trial calls that never reported back must not keep the breaker half-open forever.
            self._trials = 0
            self._changed_at = now

    def _set(self, state: BreakerState, now: float) -> None:
        self._state = state
        self._changed_at = now
        self._failures = self._successes = self._trials = 0
        if state is BreakerState.OPEN:
            self.opened_count += 1

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker turns half-open once its timeout has passed)."""
        with self._lock:
            self._tick(self._clock.monotonic())
            return self._state

    def allow(self) -> bool:
        """Whether a call may go through now; in half-open this takes one of the trial slots."""
        with self._lock:
            self._tick(self._clock.monotonic())
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                return False
            if self._trials < self.half_open_max_calls:
                self._trials += 1
                return True
            return False

    def record_success(self) -> None:
        """A call through this breaker succeeded."""
        with self._lock:
            now = self._clock.monotonic()
            self._tick(now)
            if self._state is BreakerState.HALF_OPEN:
                self._successes += 1
                self._trials = max(0, self._trials - 1)
                if self._successes >= self.success_threshold:
                    self._set(BreakerState.CLOSED, now)
            else:
                self._failures = 0

    def record_failure(self) -> None:
        """A call through this breaker failed."""
        with self._lock:
            now = self._clock.monotonic()
            self._tick(now)
            if self._state is BreakerState.HALF_OPEN:
                self._set(BreakerState.OPEN, now)
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._set(BreakerState.OPEN, now)

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed."""
        with self._lock:
            return self._failures


class CircuitBreakerBoard:
    """Breakers by service key, created on first use with the board's settings."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        success_threshold: int = 2,
        open_timeout_s: float = 60.0,
        half_open_max_calls: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self._settings = (failure_threshold, success_threshold, open_timeout_s, half_open_max_calls)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for ``key`` (created closed on first use)."""
        found = self._breakers.get(key)
        if found is not None:
            return found
        with self._lock:
            if key not in self._breakers:
                f, s, t, h = self._settings
                self._breakers[key] = CircuitBreaker(
                    key,
                    failure_threshold=f,
                    success_threshold=s,
                    open_timeout_s=t,
                    half_open_max_calls=h,
                    clock=self._clock,
                )
            return self._breakers[key]

    def allow(self, key: str) -> bool:
        """Whether a call to ``key`` may go through now."""
        return self.get(key).allow()

    def record_success(self, key: str) -> None:
        """A call to ``key`` succeeded."""
        self.get(key).record_success()

    def record_failure(self, key: str) -> None:
        """A call to ``key`` failed."""
        self.get(key).record_failure()

    def states(self) -> dict[str, str]:
        """Every known key and its state."""
        with self._lock:
            breakers = list(self._breakers.values())
        return {b.key: b.state.value for b in breakers}


_NETWORK_TYPES = frozenset(
    {
        FailureType.NETWORK_CONNECTIVITY_LOSS,
        FailureType.NETWORK_TIMEOUT,
        FailureType.HTTP_ERROR,
        FailureType.BANDWIDTH_LIMITATION,
    }
)


# Frozen, so one instance serves every call without a service key (the common case on the recovered path).
_NOT_USED = RecoveryResult(False, "breaker", message="no service key on this call; breaker not used")


class BreakerStrategy:
    """Counts network failures per service; once a breaker opens, the call stops retrying that service.

    The key is the call's ``service`` (``rt.run(..., service="hub")``); calls without one are not counted,
    because only the runtime's gate on ``service`` can also count the successes that close a breaker again.
    A failure below the threshold hands over to the next strategy.
    """

    name = "breaker"

    def __init__(self, board: CircuitBreakerBoard) -> None:
        self.board = board

    def can_handle(self, ctx: ErrorContext) -> bool:
        return ctx.failure_type in _NETWORK_TYPES and ctx.details.get("retryable", True) is not False

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        key = attempt.service
        if not key:
            return _NOT_USED
        breaker = self.board.get(key)
        breaker.record_failure()
        if breaker.state is BreakerState.OPEN:
            attempt.give_up(f"circuit breaker for {key!r} opened")
            return RecoveryResult(
                False,
                self.name,
                message=f"circuit breaker for {key!r} is open after repeated failures",
                user_message=f"{key} keeps failing; requests to it are paused for {breaker.open_timeout_s:g} s.",
                actionable_steps=("Check your connection or the server status.", "Retry in a minute."),
                system_changes={"breaker": {key: BreakerState.OPEN.value}},
                requires_user_action=True,
            )
        return RecoveryResult(
            False,
            self.name,
            message=f"failure {breaker.failures} of {breaker.failure_threshold} counted for {key!r}",
        )
