"""The strategy seam: the :class:`Strategy` protocol and the per-call :class:`Attempt` state strategies change.

A strategy is any object with a ``name``, ``can_handle(ctx)`` and ``recover(ctx, attempt)``; ``success=True``
in its :class:`RecoveryResult` means "the next attempt makes sense". Strategies never sleep: they ask the
runtime to wait with :meth:`Attempt.request_wait`, so sync and async calls share them and tests never sleep.

>>> class Pause:
...     name = "pause"
...     def can_handle(self, ctx):
...         return True
...     def recover(self, ctx, attempt):
...         attempt.request_wait(0.5)
...         attempt.set_param("batch_size", 1)
...         return RecoveryResult(True, self.name, message="paused")
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from resilience_core.recovery.clock import Clock
from resilience_core.recovery.taxonomy import ErrorContext, RecoveryResult

__all__ = ["Attempt", "RetryBudget", "Strategy"]


@runtime_checkable
class Strategy(Protocol):
    """What the runtime calls for a failed attempt."""

    @property
    def name(self) -> str:
        """A short stable name used in plans, stats and reports (``"retry"``)."""
        ...

    def can_handle(self, ctx: ErrorContext) -> bool:
        """True when this strategy has something to offer for ``ctx``; must be cheap and side-effect free."""
        ...

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        """Do the recovery; change parameters through ``attempt`` and say what was done."""
        ...


class RetryBudget:
    """A token bucket shared by every call of one runtime, so a storm of failures cannot retry forever.

    Each retry takes a token; tokens refill at ``refill_per_s`` up to ``capacity``.

    >>> from resilience_core.recovery.clock import FakeClock
    >>> budget = RetryBudget(capacity=1, refill_per_s=1.0, clock=FakeClock())
    >>> budget.try_acquire(), budget.try_acquire()
    (True, False)
    """

    def __init__(self, capacity: float, refill_per_s: float, clock: Clock) -> None:
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if available; False means the budget is spent for now."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill_per_s)
            self._stamp = now
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    def refund(self, tokens: float = 1.0) -> None:
        """Give back tokens taken for a retry that did not happen."""
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + tokens)

    @property
    def available(self) -> float:
        """Tokens left right now (without refilling)."""
        with self._lock:
            return self._tokens


class Attempt:
    """Per-call recovery state: which attempt failed, the call's own copy of ``params``, time left.

    ``number`` is the 1-based number of the attempt that just failed; ``params`` is a private copy for this
    call, changed only through :meth:`set_param` so that every change lands in ``system_changes``.
    ``scratch`` holds per-call notes a strategy keeps between attempts, keyed by the strategy's name.
    """

    __slots__ = (
        "_pending",
        "budget",
        "changes",
        "clock",
        "correlation_id",
        "deadline_s",
        "max_attempts",
        "number",
        "operation",
        "params",
        "rng",
        "scratch",
        "service",
        "started_s",
        "stop_reason",
        "wait_s",
    )

    def __init__(
        self,
        *,
        operation: str | None,
        params: dict[str, Any],
        max_attempts: int,
        clock: Clock,
        started_s: float,
        deadline_s: float | None = None,
        rng: random.Random | None = None,
        budget: RetryBudget | None = None,
        correlation_id: str = "",
        service: str | None = None,
    ) -> None:
        self.number = 1
        self.operation = operation
        self.params = params
        self.max_attempts = max_attempts
        self.clock = clock
        self.started_s = started_s
        self.deadline_s = deadline_s
        self.rng = rng if rng is not None else random.Random()
        self.budget = budget
        self.correlation_id = correlation_id
        self.service = service
        self.wait_s = 0.0
        self.stop_reason = ""
        self.changes: dict[str, Any] = {}
        self.scratch: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}

    @classmethod
    def for_call(  # noqa: PLR0917 -- positional on purpose: built once per failed call, on the hot path
        cls,
        operation: str | None,
        params: dict[str, Any],
        max_attempts: int,
        clock: Clock,
        started_s: float,
        deadline_s: float | None,
        rng: random.Random,
        budget: RetryBudget | None,
        correlation_id: str,
        service: str | None,
    ) -> Attempt:
        """The runtime's constructor: the same state as ``Attempt(...)``, without keyword-argument overhead."""
        self = cls.__new__(cls)
        self.number = 1
        self.operation = operation
        self.params = params
        self.max_attempts = max_attempts
        self.clock = clock
        self.started_s = started_s
        self.deadline_s = deadline_s
        self.rng = rng
        self.budget = budget
        self.correlation_id = correlation_id
        self.service = service
        self.wait_s = 0.0
        self.stop_reason = ""
        self.changes = {}
        self.scratch = {}
        self._pending = {}
        return self

    # --- what strategies call -----------------------------------------------------------------------
    def set_param(self, name: str, value: Any) -> None:
        """Change a parameter for the next attempt; recorded as ``{name: [old, new]}``."""
        old = self.params.get(name)
        self.params[name] = value
        if name in self._pending:
            self._pending[name] = [self._pending[name][0], value]
        else:
            self._pending[name] = [old, value]

    def request_wait(self, seconds: float) -> None:
        """Ask the runtime to wait ``seconds`` (through its clock) before the next attempt."""
        self.wait_s = max(self.wait_s, 0.0, float(seconds))

    def give_up(self, reason: str) -> None:
        """Stop the call: no further strategy runs and no further attempt is made."""
        self.stop_reason = reason or "stopped"

    def elapsed_s(self) -> float:
        """Seconds since the call started."""
        return self.clock.monotonic() - self.started_s

    def remaining_s(self) -> float | None:
        """Seconds left before the deadline, or None without one (never negative)."""
        if self.deadline_s is None:
            return None
        return max(0.0, self.deadline_s - self.elapsed_s())

    @property
    def attempts_left(self) -> int:
        """How many more attempts the call may make after the one that failed."""
        return max(0, self.max_attempts - self.number)

    # --- what the runtime calls ---------------------------------------------------------------------
    def take_changes(self) -> Mapping[str, Any]:
        """The parameter changes made since the last call, also added to :attr:`changes`."""
        pending, self._pending = self._pending, {}
        for name, (old, new) in pending.items():
            if name in self.changes:
                self.changes[name] = [self.changes[name][0], new]
            else:
                self.changes[name] = [old, new]
        return pending
