"""Retry with exponential backoff and full jitter, bounded by a max delay, the deadline and a shared budget.

The wait before attempt ``n + 1`` is ``uniform(0, min(max_delay_s, base_delay_s * exponential_base ** (n - 1)))``
("full jitter"), or the cap itself without jitter; a server's ``Retry-After`` raises it up to ``max_delay_s``.
The strategy never sleeps: it asks the runtime to wait through the runtime's clock.

>>> import random
>>> strategy = RetryStrategy(base_delay_s=1.0, max_delay_s=4.0, jitter=False)
>>> [strategy.delay_s(n, random.Random(0)) for n in (1, 2, 3, 4)]
[1.0, 2.0, 4.0, 4.0]
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import (
    RETRYABLE_FAILURE_TYPES,
    ErrorContext,
    FailureType,
    RecoveryResult,
    Severity,
)

__all__ = ["RETRYABLE_FAILURE_TYPES", "RetryStrategy", "backoff_delay_s"]

"""Failure types a plain retry can cure (after another strategy changed something, for disk and memory)."""


def backoff_delay_s(
    attempt_number: int,
    *,
    base_delay_s: float,
    max_delay_s: float,
    exponential_base: float,
    jitter: bool,
    rng: random.Random,
) -> float:
    """The wait after failed attempt ``attempt_number`` (1-based); always within ``[0, max_delay_s]``."""
    return _delay_s(attempt_number, base_delay_s, max_delay_s, exponential_base, jitter, rng)


def _delay_s(  # noqa: PLR0917 -- positional: the retry strategy calls it on every retry
    attempt_number: int,
    base_delay_s: float,
    max_delay_s: float,
    exponential_base: float,
    jitter: bool,
    rng: random.Random,
) -> float:
    exponent = max(0, attempt_number - 1)
    try:
        cap = base_delay_s * exponential_base ** min(exponent, 1024)
    except OverflowError:
        cap = max_delay_s
    cap = max(0.0, min(max_delay_s, cap))
    return rng.uniform(0.0, cap) if jitter else cap


class RetryStrategy:
    """Retry transient failures with backoff; gives up when the deadline or the shared budget says so.

    ``handles`` limits the failure types; a context whose ``details["retryable"]`` is False (a 404, an auth
    error, a missing distribution) or whose severity is critical is never retried.
    """

    name = "retry"

    def __init__(
        self,
        *,
        base_delay_s: float = 2.0,
        max_delay_s: float = 60.0,
        exponential_base: float = 2.0,
        jitter: bool = True,
        handles: Iterable[FailureType] = RETRYABLE_FAILURE_TYPES,
    ) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.exponential_base = exponential_base
        self.jitter = jitter
        self.handles = frozenset(handles)

    def delay_s(self, attempt_number: int, rng: random.Random) -> float:
        """The backoff wait after failed attempt ``attempt_number`` (what :func:`backoff_delay_s` gives)."""
        return _delay_s(attempt_number, self.base_delay_s, self.max_delay_s, self.exponential_base, self.jitter, rng)

    def can_handle(self, ctx: ErrorContext) -> bool:
        return (
            ctx.failure_type in self.handles
            and ctx.severity is not Severity.CRITICAL
            and ctx.details.get("retryable", True) is not False
        )

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        if attempt.attempts_left <= 0:
            return RecoveryResult(False, self.name, message=f"no attempts left ({attempt.max_attempts} made)")
        delay = self.delay_s(attempt.number, attempt.rng)
        retry_after = ctx.details.get("retry_after_s")
        if isinstance(retry_after, (int, float)) and retry_after > delay:
            delay = min(float(retry_after), self.max_delay_s)
        remaining = attempt.remaining_s()
        if remaining is not None and delay >= remaining:
            return RecoveryResult(
                False,
                self.name,
                message=f"a {delay:.2f} s wait would pass the deadline ({remaining:.2f} s left)",
            )
        if attempt.budget is not None and not attempt.budget.try_acquire():
            return RecoveryResult(False, self.name, message="the shared retry budget is spent")
        attempt.request_wait(delay)
        return RecoveryResult(
            True,
            self.name,
            message=f"retrying in {delay:.3f} s (attempt {attempt.number + 1} of {attempt.max_attempts})",
            system_changes={"wait_s": delay},
        )
