"""Runtime: run a step, and when it fails, categorize, recover and try again within the call's budgets.

>>> from resilience_core.recovery.clock import FakeClock
>>> rt = Runtime(clock=FakeClock())
>>> calls = []
>>> def step(batch_size):
...     calls.append(batch_size)
...     if len(calls) == 1:
...         raise ConnectionResetError(104, "Connection reset by peer")
...     return "done"
>>> rt.run(step, operation="model_download", params={"batch_size": 8})
'done'
>>> calls
[8, 8]

The happy path is one clock reading, one ``try`` and the call itself; everything else happens only after a
failure. All per-call state lives in an :class:`~resilience_core.recovery.strategies.base.Attempt`, so one Runtime is
safe to share between threads and asyncio tasks.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar, cast

from resilience_core.config import ReliabilityConfig, load_config
from resilience_core.errors import ConfigError, RecoveryFailed
from resilience_core.recovery.call import CallOptions, RecoveryCall
from resilience_core.recovery.categorize import Categorizer
from resilience_core.recovery.clock import Clock, SystemClock
from resilience_core.recovery.stats import RecoveryStats
from resilience_core.recovery.strategies.base import RetryBudget, Strategy
from resilience_core.recovery.strategies.breaker import CircuitBreakerBoard
from resilience_core.recovery.strategies.guidance import guidance_for
from resilience_core.recovery.strategies.plan import DEFAULT_PLAN, PlanSpec, default_strategies, plan_priority
from resilience_core.recovery.taxonomy import (
    ErrorContext,
    FailureType,
    GaveUpEvent,
    RecoveryEvent,
    Severity,
)

__all__ = ["Hook", "Runtime"]

P = ParamSpec("P")
T = TypeVar("T")
Hook = Callable[[RecoveryEvent], object]
"""A hook: a plain callable receiving a frozen event (FailureEvent, AttemptEvent, RecoveredEvent, GaveUpEvent)."""

_log = logging.getLogger("resilience_core.recovery.runtime")


class Runtime:
    """Runs steps with recovery. Share one per installer; every call keeps its own state.

    ``config``: a :class:`ReliabilityConfig` (None: defaults plus ``RESILIENCE_*`` env overrides).
    ``strategies``: replaces the built-in strategies (names used by the plan); a strategy with
    ``failure_types`` (and optional ``priority``) attributes is also added to the plan for those types.
    ``plan``: failure type -> strategy names, overriding :data:`DEFAULT_PLAN` for the types it names.
    ``max_attempts``: per call, including the first (default ``retry.max_retries + 1``); ``deadline_s``: per
    call (default ``timeouts.<operation>_seconds``); ``rng``: seeds the backoff jitter; ``system_state``: a
    probe (such as ``resilience_core.health.system_state``) whose result fills ``ErrorContext.system_state`` on
    each failure.
    """

    def __init__(
        self,
        config: ReliabilityConfig | None = None,
        strategies: Iterable[Strategy] | None = None,
        clock: Clock | None = None,
        hooks: Iterable[Hook] = (),
        *,
        categorizer: Categorizer | None = None,
        plan: PlanSpec | None = None,
        max_attempts: int | None = None,
        deadline_s: float | None = None,
        rng: random.Random | None = None,
        retry_budget: RetryBudget | None = None,
        system_state: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.system_state = system_state
        self.config = config if config is not None else load_config()
        self.clock: Clock = clock if clock is not None else SystemClock()
        # The happy path reads the clock once; skip SystemClock's Python frame and call the builtin directly.
        self._now: Callable[[], float] = time.monotonic if type(self.clock) is SystemClock else self.clock.monotonic
        self.categorizer = categorizer if categorizer is not None else Categorizer()
        self.stats = RecoveryStats()
        self.rng = rng if rng is not None else random.Random()
        retry = self.config.retry
        self.retry_budget = (
            retry_budget
            if retry_budget is not None
            else RetryBudget(retry.budget_capacity, retry.budget_refill_per_second, self.clock)
        )
        recovery = self.config.recovery
        self.breakers = CircuitBreakerBoard(
            failure_threshold=recovery.breaker_failure_threshold,
            success_threshold=recovery.breaker_success_threshold,
            open_timeout_s=recovery.breaker_open_timeout_seconds,
            clock=self.clock,
        )
        if max_attempts is not None and max_attempts < 1:
            raise ConfigError(
                f"max_attempts={max_attempts!r} from argument must be at least 1",
                field="max_attempts",
                value=max_attempts,
                source="argument",
                allowed=">= 1",
            )
        self.max_attempts = max_attempts if max_attempts is not None else retry.max_retries + 1
        self.deadline_s = deadline_s
        self._deadlines: dict[str | None, float | None] = {}
        self._hooks: tuple[Hook, ...] = tuple(hooks)
        self._lock = threading.Lock()
        self._registry: dict[str, Strategy] = {}
        self._entries: dict[FailureType, list[tuple[int, int, str]]] = {}
        self._seq = 0
        builtin = strategies is None
        chosen = list(default_strategies(self.config, self.clock, breakers=self.breakers)) if builtin else []
        for strategy in chosen:
            self._registry[strategy.name] = strategy
        for failure_type, names in DEFAULT_PLAN.items():
            for index, name in enumerate(names):
                self._add_entry(failure_type, plan_priority(index, name), name)
        if plan is not None:
            self._replace_plan(plan, source="Runtime(plan=...)")
        for strategy in [] if builtin else list(strategies or ()):
            types = getattr(strategy, "failure_types", None)
            self.register(strategy, types, priority=int(getattr(strategy, "priority", 50)))
        self._resolved = self._resolve_all()

    # --- configuration ------------------------------------------------------------------------------
    def register(
        self, strategy: Strategy, failure_types: Iterable[FailureType | str] | None = None, *, priority: int = 50
    ) -> None:
        """Add ``strategy`` (replacing one of the same name) and plan it for ``failure_types``.

        Among a type's strategies a higher ``priority`` runs first; built-in entries have 90, 80, ... and
        ``guidance`` 0, so a custom strategy with priority 95 runs before everything else.
        """
        with self._lock:
            self._registry[strategy.name] = strategy
            for failure_type in failure_types or ():
                self._add_entry(_failure_type(failure_type, "failure_types"), priority, strategy.name)
            self._resolved = self._resolve_all()

    def add_hook(self, hook: Hook) -> None:
        """Add a hook; it receives every event of every later call."""
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def deadline_for(self, operation: str | None) -> float | None:
        """A call's deadline for ``operation``: ``deadline_s`` if given, else ``timeouts.<operation>_seconds``."""
        if self.deadline_s is not None:
            return self.deadline_s
        try:
            return self._deadlines[operation]
        except KeyError:
            value = self.config.timeouts.for_operation(operation)
            if len(self._deadlines) < 256:  # operation names come from code, but stay bounded anyway
                self._deadlines[operation] = value
            return value

    def strategies_for(self, failure_type: FailureType) -> tuple[Strategy, ...]:
        """The strategies planned for ``failure_type``, in the order they are tried."""
        return self._resolved.get(failure_type, ())

    @property
    def strategies(self) -> Mapping[str, Strategy]:
        """Every registered strategy by name."""
        return dict(self._registry)

    def _add_entry(self, failure_type: FailureType, priority: int, name: str) -> None:
        entries = [e for e in self._entries.get(failure_type, []) if e[2] != name]
        self._seq += 1
        entries.append((priority, self._seq, name))
        entries.sort(key=lambda e: (-e[0], e[1]))
        self._entries[failure_type] = entries

    def _replace_plan(self, plan: PlanSpec, *, source: str) -> None:
        for key, names in plan.items():
            failure_type = _failure_type(key, source)
            self._entries[failure_type] = []
            for index, name in enumerate(names):
                self._add_entry(failure_type, plan_priority(index, name) if name == "guidance" else 1000 - index, name)

    def _resolve_all(self) -> dict[FailureType, tuple[Strategy, ...]]:
        return {
            ft: tuple(self._registry[name] for _, _, name in entries if name in self._registry)
            for ft, entries in self._entries.items()
        }

    def _resolve_override(self, plan: PlanSpec, failure_type: FailureType) -> tuple[Strategy, ...] | None:
        names = plan.get(failure_type)
        if names is None:
            names = plan.get(failure_type.value)
        if names is None:
            return None
        unknown = [n for n in names if n not in self._registry]
        if unknown:
            raise ConfigError(
                f"plan[{failure_type.value!r}] names unknown strategies {unknown!r}; "
                f"registered: {', '.join(sorted(self._registry))}",
                field=f"plan.{failure_type.value}",
                value=list(names),
                source="run(plan=...)",
                allowed=", ".join(sorted(self._registry)),
            )
        return tuple(self._registry[n] for n in names)

    # --- running --------------------------------------------------------------------------------------
    def run(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        operation: str | None = None,
        params: Mapping[str, Any] | None = None,
        plan: PlanSpec | None = None,
        max_attempts: int | None = None,
        deadline_s: float | None = None,
        service: str | None = None,
        **kwargs: Any,
    ) -> T:
        """Call ``fn(*args, **kwargs, **params)``; on failure recover and retry; raise :class:`RecoveryFailed`.

        ``params`` may be changed by strategies between attempts (the caller's mapping is never mutated).
        ``service`` names a circuit breaker: while it is open, ``fn`` is not called at all.
        """
        started = self._now()
        if service is not None and not self.breakers.allow(service):
            self._reject_open(service, operation)
        try:
            value = fn(*args, **kwargs) if params is None else fn(*args, **kwargs, **params)
        except Exception as exc:  # noqa: BLE001 -- every failure of the step is categorized, none is hidden
            options = (operation, params, plan, max_attempts, deadline_s, service)
            return self._recover(fn, args, kwargs, exc, started, options)
        if service is not None:
            self.breakers.record_success(service)
        return value

    def _recover(  # noqa: PLR0917 -- positional on purpose: protect()'s wrapper calls it on every failure
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        error: Exception,
        started: float,
        options: CallOptions,
    ) -> T:
        """The failure path of :meth:`run`: recover, wait, try again until success or RecoveryFailed.

        ``options`` is ``(operation, params, plan, max_attempts, deadline_s, service)``.
        """
        call = RecoveryCall(self, options, started)
        while True:
            wait_s = call.on_failure(error)
            if wait_s > 0:
                self.clock.sleep(wait_s)
            call.before_attempt()
            try:
                value = fn(*args, **kwargs, **call.attempt.params)
            except Exception as exc:  # noqa: BLE001 -- every failure of the step is categorized, none is hidden
                error = exc
                continue
            call.on_success()
            return value

    async def arun(
        self,
        fn: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        operation: str | None = None,
        params: Mapping[str, Any] | None = None,
        plan: PlanSpec | None = None,
        max_attempts: int | None = None,
        deadline_s: float | None = None,
        service: str | None = None,
        **kwargs: Any,
    ) -> T:
        """The async form of :meth:`run`: awaits ``fn`` and waits through ``clock.asleep``."""
        started = self._now()
        if service is not None and not self.breakers.allow(service):
            self._reject_open(service, operation)
        try:
            value = await (fn(*args, **kwargs) if params is None else fn(*args, **kwargs, **params))
        except Exception as exc:  # noqa: BLE001 -- every failure of the step is categorized, none is hidden
            error: Exception = exc
        else:
            if service is not None:
                self.breakers.record_success(service)
            return value
        call = RecoveryCall(self, (operation, params, plan, max_attempts, deadline_s, service), started)
        while True:
            wait_s = call.on_failure(error)
            if wait_s > 0:
                await self.clock.asleep(wait_s)
            call.before_attempt()
            try:
                value = await fn(*args, **kwargs, **call.attempt.params)
            except Exception as exc:  # noqa: BLE001 -- every failure of the step is categorized, none is hidden
                error = exc
                continue
            call.on_success()
            return value

    def protect(
        self,
        *,
        operation: str | None = None,
        params: Mapping[str, Any] | None = None,
        plan: PlanSpec | None = None,
        max_attempts: int | None = None,
        deadline_s: float | None = None,
        service: str | None = None,
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Decorator form of :meth:`run` / :meth:`arun` (chosen by whether the function is async).

        >>> rt = Runtime()
        >>> @rt.protect(operation="dependency_install")
        ... def install(name):
        ...     return f"installed {name}"
        >>> install("numpy")
        'installed numpy'
        """

        def decorate(func: Callable[P, T]) -> Callable[P, T]:
            op = operation if operation is not None else func.__name__
            options: dict[str, Any] = {
                "operation": op,
                "params": params,
                "plan": plan,
                "max_attempts": max_attempts,
                "deadline_s": deadline_s,
                "service": service,
            }
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    return await self.arun(func, *args, **options, **kwargs)

                return cast("Callable[P, T]", async_wrapper)

            if service is not None or params is not None:

                @functools.wraps(func)
                def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                    merged: dict[str, Any] = {**options, **kwargs}
                    return self.run(func, *args, **merged)

                return wrapper

            now = self._now
            recover = self._recover
            fixed = (op, None, plan, max_attempts, deadline_s, None)

            # The happy path of run(), inlined: one clock reading, one try, the call. protect() costs what run()
            # costs, not run() plus a second call and a dict merge of the options.
            @functools.wraps(func)
            def bare(*args: P.args, **kwargs: P.kwargs) -> T:
                if kwargs and not options.keys().isdisjoint(kwargs):  # a call-time override of run()'s options
                    merged: dict[str, Any] = {**options, **kwargs}
                    return self.run(func, *args, **merged)
                started = now()
                try:
                    return func(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 -- every failure of the step is categorized, none is hidden
                    return recover(func, args, kwargs, exc, started, fixed)

            return bare

        return decorate

    # --- internals ------------------------------------------------------------------------------------
    def _emit(self, event: RecoveryEvent) -> None:
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:  # noqa: BLE001 -- a broken observer must not change the outcome of the call
                _log.exception("resilience hook %r failed on %s", hook, event.kind)

    def _reject_open(self, service: str, operation: str | None) -> None:
        ctx = ErrorContext(
            failure_type=FailureType.NETWORK_CONNECTIVITY_LOSS,
            severity=Severity.HIGH,
            operation=operation,
            details={"service": service, "circuit_open": True, "retryable": False},
        )
        base = guidance_for(ctx, strategy="breaker")
        result = replace(
            base,
            message=f"circuit breaker for {service!r} is open; the call was not made",
            user_message=f"{service} failed repeatedly; requests are paused for a while.",
            actionable_steps=("Wait a minute and retry.", *base.actionable_steps),
        )
        self._emit(GaveUpEvent(ctx, result))
        raise RecoveryFailed(ctx, result)


def _failure_type(value: FailureType | str, source: str) -> FailureType:
    if isinstance(value, FailureType):
        return value
    try:
        return FailureType(value)
    except ValueError:
        import difflib

        known = [f.value for f in FailureType]
        match = difflib.get_close_matches(str(value), known, n=1)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ConfigError(
            f"{source}: unknown failure type {value!r}{hint}",
            field=source,
            value=value,
            source=source,
            allowed=", ".join(known),
        ) from None
