"""The recovery loop of one failed call: categorize, run the plan, decide the wait, give up or report success.

It lives only on the failure path of :meth:`Runtime.run` / :meth:`Runtime.arun`; the happy path never builds
one. All of its state belongs to one call, so calls sharing a Runtime never see each other's parameters.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from resilience_core.errors import RecoveryFailed
from resilience_core.recovery.clock import testing_max_attempts
from resilience_core.recovery.strategies.base import Attempt, Strategy
from resilience_core.recovery.strategies.guidance import guidance_for
from resilience_core.recovery.strategies.plan import PlanSpec
from resilience_core.recovery.taxonomy import (
    AttemptEvent,
    ErrorContext,
    FailureEvent,
    FailureType,
    GaveUpEvent,
    RecoveredEvent,
    RecoveryResult,
)

if TYPE_CHECKING:
    import random

    from resilience_core.config import ReliabilityConfig
    from resilience_core.recovery.categorize import Categorizer
    from resilience_core.recovery.clock import Clock
    from resilience_core.recovery.stats import RecoveryStats
    from resilience_core.recovery.strategies.base import RetryBudget
    from resilience_core.recovery.strategies.breaker import CircuitBreakerBoard
    from resilience_core.recovery.taxonomy import RecoveryEvent

__all__ = ["CallOptions", "RecoveryCall", "RecoveryHost"]

CallOptions = tuple[
    "str | None", "Mapping[str, Any] | None", "PlanSpec | None", "int | None", "float | None", "str | None"
]
"""What one call of :meth:`Runtime.run` was given: (operation, params, plan, max_attempts, deadline_s, service)."""

_log = logging.getLogger("resilience_core.recovery.runtime")

# Correlation ids: a random per-process prefix and a counter, unique across threads and processes without a
# syscall per failed call (os.urandom per call was a visible part of the recovered path).
_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(1)


class RecoveryHost(Protocol):
    """What a recovery loop needs from its :class:`~resilience_core.recovery.runtime.Runtime`."""

    config: ReliabilityConfig
    clock: Clock
    categorizer: Categorizer
    stats: RecoveryStats
    rng: random.Random
    retry_budget: RetryBudget
    breakers: CircuitBreakerBoard
    max_attempts: int
    deadline_s: float | None
    system_state: Callable[[], Mapping[str, Any]] | None
    _hooks: tuple[Callable[[RecoveryEvent], object], ...]
    _now: Callable[[], float]

    def deadline_for(self, operation: str | None) -> float | None: ...

    def strategies_for(self, failure_type: FailureType) -> tuple[Strategy, ...]: ...

    def _resolve_override(self, plan: PlanSpec, failure_type: FailureType) -> tuple[Strategy, ...] | None: ...

    def _emit(self, event: RecoveryEvent) -> None: ...


class RecoveryCall:
    """The recovery state of one failed call; lives only on the failure path."""

    __slots__ = ("attempt", "contexts", "degraded", "first_failure_s", "first_type", "plan", "results", "rt")

    def __init__(self, rt: RecoveryHost, options: CallOptions, started: float) -> None:
        operation, params, plan, max_attempts, deadline_s, service = options
        self.rt = rt
        limit = max_attempts if max_attempts is not None else rt.max_attempts
        cap = testing_max_attempts()
        if cap is not None:
            limit = min(limit, cap)
        if deadline_s is None:
            deadline_s = rt.deadline_for(operation)
        self.attempt = Attempt.for_call(
            operation,
            dict(params) if params is not None else {},
            max(1, limit),
            rt.clock,
            started,
            deadline_s,
            rt.rng,
            rt.retry_budget,
            f"{operation or 'call'}-{_ID_PREFIX}{next(_ID_COUNTER):04x}",
            service,
        )
        self.plan = plan
        self.contexts: list[ErrorContext] = []
        self.results: list[RecoveryResult] = []
        self.degraded = False  # any result so far degraded something
        self.first_failure_s: float | None = None
        self.first_type: FailureType | None = None

    def on_failure(self, error: BaseException) -> float:
        """Categorize ``error`` and run the plan; the wait before the next attempt, or raise RecoveryFailed."""
        rt, attempt = self.rt, self.attempt
        now = rt._now()
        if self.first_failure_s is None:
            self.first_failure_s = now
        ctx = rt.categorizer.categorize(
            error,
            attempt.operation,
            attempt=attempt.number,
            elapsed_s=now - attempt.started_s,
            correlation_id=attempt.correlation_id,
            previous_attempts=tuple(self.contexts),
        )
        if rt.system_state is not None:
            try:
                state = dict(rt.system_state())
            except Exception as exc:  # noqa: BLE001 -- a failing probe must not hide the failure it describes
                state = {"probe_error": repr(exc)}
            ctx = replace(ctx, system_state=state)
        self.contexts.append(ctx)
        if self.first_type is None:
            self.first_type = ctx.failure_type
        rt.stats.record_failure(ctx.failure_type)
        if rt._hooks:
            rt._emit(FailureEvent(ctx))
        if attempt.number >= attempt.max_attempts:
            self._give_up(ctx, None, f"gave up after {attempt.number} attempt(s) (limit {attempt.max_attempts})")
        remaining = attempt.remaining_s()
        if remaining is not None and remaining <= 0:
            self._give_up(ctx, None, f"the deadline of {attempt.deadline_s:g} s has passed")
        strategies = None
        if self.plan is not None:
            strategies = rt._resolve_override(self.plan, ctx.failure_type)
        if strategies is None:
            strategies = rt.strategies_for(ctx.failure_type)
        attempt.wait_s = 0.0
        last: RecoveryResult | None = None
        tried: list[RecoveryResult] = []
        for strategy in strategies:
            if not strategy.can_handle(ctx):
                continue
            last = self._run_strategy(strategy, ctx)
            tried.append(last)
            if attempt.stop_reason:
                self._give_up(ctx, last, attempt.stop_reason)
            if last.success:
                remaining = attempt.remaining_s()
                if remaining is not None and attempt.wait_s >= remaining:
                    self._give_up(ctx, last, f"waiting {attempt.wait_s:.3g} s would pass the deadline")
                attempt.number += 1
                return attempt.wait_s
        reasons = [f"{r.strategy}: {r.message}" for r in tried if r.strategy != "guidance" and r.message]
        self._give_up(ctx, last, "no strategy could recover" + (f" ({'; '.join(reasons)})" if reasons else ""))
        raise AssertionError("unreachable")  # pragma: no cover -- _give_up always raises

    def _run_strategy(self, strategy: Strategy, ctx: ErrorContext) -> RecoveryResult:
        rt, attempt = self.rt, self.attempt
        t0 = rt._now()
        try:
            result = strategy.recover(ctx, attempt)
        except Exception as exc:  # noqa: BLE001 -- a broken strategy must not hide the failure it handles
            _log.exception("resilience strategy %r failed", strategy.name)
            result = RecoveryResult(False, strategy.name, message=f"strategy {strategy.name!r} raised {exc!r}")
        changes = attempt.take_changes() if attempt._pending else None
        # A hand-over that changed nothing did no recovery work: it is not timed (and not rebuilt, which on the
        # recovered path is where most of the time of the strategies that pass would go).
        if changes or (not result.recovery_time_s and (result.success or result.system_changes)):
            # Positional, in field order: dataclasses.replace() costs several times more, on every strategy run.
            result = RecoveryResult(
                result.success,
                result.strategy,
                result.recovery_time_s or rt._now() - t0,
                result.message,
                result.user_message,
                result.actionable_steps,
                {**result.system_changes, **changes} if changes else result.system_changes,
                result.requires_user_action,
                result.degraded,
            )
        rt.stats.record_strategy(strategy.name, success=result.success, duration_s=result.recovery_time_s)
        self.results.append(result)
        if result.degraded:
            self.degraded = True
        if rt._hooks:
            rt._emit(AttemptEvent(ctx, result))
        return result

    def before_attempt(self) -> None:
        """Refuse the next attempt while the call's circuit breaker is open."""
        service = self.attempt.service
        if service is not None and not self.rt.breakers.allow(service):
            ctx = self.contexts[-1]
            last = self.results[-1] if self.results else None
            self._give_up(ctx, last, f"circuit breaker for {service!r} is open")

    def on_success(self) -> None:
        rt, attempt = self.rt, self.attempt
        ttr = rt._now() - (self.first_failure_s or attempt.started_s)
        degraded = self.degraded
        if attempt.service is not None:
            rt.breakers.record_success(attempt.service)
        failure_types = tuple(c.failure_type for c in self.contexts)
        rt.stats.record_call(failure_types[0], recovered=True, time_to_recover_s=ttr, degraded=degraded)
        if not rt._hooks:
            return
        rt._emit(
            RecoveredEvent(
                operation=attempt.operation,
                correlation_id=attempt.correlation_id,
                attempts=attempt.number,
                time_to_recover_s=ttr,
                failure_types=failure_types,
                results=tuple(self.results),
                degraded=degraded,
            )
        )

    def _give_up(self, ctx: ErrorContext, result: RecoveryResult | None, reason: str) -> None:
        rt = self.rt
        advice = guidance_for(ctx)
        degraded = self.degraded
        if result is None:
            final = replace(advice, message=f"{reason}; {advice.message}", degraded=degraded)
        else:
            final = replace(
                result,
                success=False,
                message=f"{reason}; {result.message}" if result.message else reason,
                user_message=result.user_message or advice.user_message,
                actionable_steps=tuple(result.actionable_steps) or advice.actionable_steps,
                requires_user_action=True,
                degraded=degraded or result.degraded,
            )
        rt.stats.record_call(
            self.first_type or ctx.failure_type, recovered=False, time_to_recover_s=0.0, degraded=False
        )
        rt._emit(GaveUpEvent(ctx, final))
        raise RecoveryFailed(ctx, final) from ctx.error
