"""Error analytics and system health over a Runtime (StoryCore's ``error_analytics`` and ``get_system_health``).

:class:`ErrorAnalytics` is a runtime hook: it keeps a bounded window of the failures, recoveries and give-ups
the runtime reports, each stamped by the runtime's clock. :meth:`ErrorAnalytics.report` groups them by
category and severity, ranks the most common exception types and lists the recent critical errors;
:func:`get_system_health` adds the runtime's stats and circuit breakers and names a degradation level.

>>> from resilience_core.recovery.clock import FakeClock
>>> from resilience_core.recovery.runtime import Runtime
>>> rt = Runtime(clock=FakeClock())
>>> analytics = ErrorAnalytics.attach(rt)
>>> calls = []
>>> def step():
...     calls.append(1)
...     if len(calls) == 1:
...         raise ConnectionResetError(104, "Connection reset by peer")
...     return "ok"
>>> rt.run(step, operation="model_download")
'ok'
>>> analytics.report()["errors_by_category"]
{'network': 1}
>>> get_system_health(rt, analytics).degradation_level
'full'
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from resilience_core.recovery.taxonomy import FailureType, RecoveryEvent, Severity

if TYPE_CHECKING:
    from resilience_core.recovery.runtime import Runtime

__all__ = ["CATEGORY_OF", "DEGRADATION_LEVELS", "ErrorAnalytics", "ErrorRecord", "SystemHealth", "get_system_health"]

DEGRADATION_LEVELS = ("full", "high", "medium", "low", "minimal")
"""StoryCore's levels, best first: 100%, 80%, 60%, 40%, 20% of the service."""

_F = FailureType
CATEGORY_OF: Mapping[FailureType, str] = {
    _F.NETWORK_CONNECTIVITY_LOSS: "network",
    _F.NETWORK_TIMEOUT: "network",
    _F.BANDWIDTH_LIMITATION: "network",
    _F.HTTP_ERROR: "network",
    _F.MODEL_DOWNLOAD_FAILURE: "model",
    _F.MODEL_CORRUPTION_DETECTED: "model",
    _F.MODEL_INTEGRITY_FAILURE: "model",
    _F.MODEL_VERSION_MISMATCH: "model",
    _F.MODEL_LOADING_TIMEOUT: "model",
    _F.MODEL_COMPATIBILITY_ERROR: "model",
    _F.VRAM_EXHAUSTION: "memory",
    _F.RAM_EXHAUSTION: "memory",
    _F.STORAGE_SPACE_INSUFFICIENT: "storage",
    _F.PERMISSION_DENIED: "storage",
    _F.DEPENDENCY_MISSING: "dependency",
    _F.DEPENDENCY_INSTALL_FAILURE: "dependency",
    _F.LOCK_CONTENTION: "system",
    _F.INVALID_PARAMETERS: "input",
    _F.UNSUPPORTED_OPERATION: "input",
    _F.HARDWARE_OPTIMIZATION_FAILURE: "system",
    _F.GENERATION_PIPELINE_ERROR: "workflow",
    _F.SYSTEM_RESOURCE_ERROR: "system",
    _F.UNKNOWN: "unknown",
}
"""StoryCore's error categories (network, memory, model, workflow, ...) for each failure type."""

_WINDOW = 10_000


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One failed attempt as analytics keeps it; ``at_s`` is the runtime clock's monotonic time, ``wall`` Unix."""

    at_s: float
    wall: float
    failure_type: str
    category: str
    severity: str
    error_type: str
    message: str
    operation: str | None
    correlation_id: str


class ErrorAnalytics:
    """Collects the runtime's failure events (a hook); bounded to the last ``max_records`` failures.

    ``window_s`` is the span the per-minute error rate is measured over. Use :meth:`attach`, or pass the
    instance in ``Runtime(hooks=[analytics])`` with ``clock`` the runtime's clock.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        window_s: float = 300.0,
        max_records: int = _WINDOW,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self.window_s = window_s
        self._lock = threading.Lock()
        self._records: deque[ErrorRecord] = deque(maxlen=max_records)
        self._outcomes: deque[tuple[float, bool, bool]] = deque(maxlen=max_records)  # (at, recovered, degraded)
        self.started_s = clock()

    @classmethod
    def attach(cls, runtime: Runtime, **options: Any) -> ErrorAnalytics:
        """A new collector on ``runtime``'s clock, added as one of its hooks."""
        analytics = cls(clock=runtime.clock.monotonic, **options)
        runtime.add_hook(analytics)
        return analytics

    def __call__(self, event: RecoveryEvent) -> None:
        """The hook: record failures, recoveries and give-ups."""
        now = self._clock()
        if event.kind == "on_failure":
            ctx = event.context  # type: ignore[union-attr]  # kind narrows the union
            raw = ctx.details.get("raw_type") if isinstance(ctx.details, Mapping) else None
            error_type = str(raw or (type(ctx.error).__name__ if ctx.error is not None else ctx.failure_type.value))
            error_type = error_type.removeprefix("builtins.")
            record = ErrorRecord(
                now,
                self._wall(),
                ctx.failure_type.value,
                CATEGORY_OF.get(ctx.failure_type, "unknown"),
                ctx.severity.value,
                error_type,
                str(ctx.error)[:500] if ctx.error is not None else "",
                ctx.operation,
                ctx.correlation_id,
            )
            with self._lock:
                self._records.append(record)
        elif event.kind == "on_recovered":
            with self._lock:
                self._outcomes.append((now, True, bool(event.degraded)))  # type: ignore[union-attr]
        elif event.kind == "on_gave_up":
            with self._lock:
                self._outcomes.append((now, False, False))

    def records(self) -> list[ErrorRecord]:
        """Every kept failure, oldest first."""
        with self._lock:
            return list(self._records)

    def error_rate_per_minute(self, *, now: float | None = None) -> float:
        """Failed attempts per minute over the last ``window_s`` (or since the collector started, if shorter, but
        never over less than a minute: one error in the first second is 1/min, not 60/min)."""
        moment = self._clock() if now is None else now
        span = min(self.window_s, max(moment - self.started_s, 60.0))
        with self._lock:
            count = sum(1 for r in self._records if moment - r.at_s <= self.window_s)
        return count / span * 60.0

    def recent_outcomes(self, *, now: float | None = None) -> tuple[int, int, int]:
        """(recovered, degraded, gave_up) calls within the last ``window_s``."""
        moment = self._clock() if now is None else now
        with self._lock:
            recent = [o for o in self._outcomes if moment - o[0] <= self.window_s]
        recovered = sum(1 for o in recent if o[1])
        return recovered, sum(1 for o in recent if o[2]), len(recent) - recovered

    def report(self, *, top: int = 5, recent_critical: int = 10) -> dict[str, Any]:
        """The analytics report: totals, rate, by category and severity, most common types, recent critical."""
        records = self.records()
        with self._lock:
            outcomes = list(self._outcomes)
        recovered = sum(1 for o in outcomes if o[1])
        critical = [r for r in records if r.severity == Severity.CRITICAL.value][-recent_critical:]
        return {
            "total_errors": len(records),
            "error_rate_per_minute": self.error_rate_per_minute(),
            "errors_by_category": dict(sorted(Counter(r.category for r in records).items())),
            "errors_by_severity": {s.value: sum(1 for r in records if r.severity == s.value) for s in Severity},
            "errors_by_failure_type": dict(sorted(Counter(r.failure_type for r in records).items())),
            "most_common_types": [
                {"error_type": name, "count": count}
                for name, count in Counter(r.error_type for r in records).most_common(top)
            ],
            "recovery_rate": recovered / len(outcomes) if outcomes else None,
            "recent_critical_errors": [asdict(r) for r in reversed(critical)],
        }


@dataclass(frozen=True, slots=True)
class SystemHealth:
    """What :func:`get_system_health` found; ``to_dict()`` is the StoryCore shape."""

    degradation_level: str
    error_rate: float | None
    recovery_rate: float | None
    circuit_breakers: Mapping[str, Mapping[str, str]]
    calls: Mapping[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        """True at the ``full`` level."""
        return self.degradation_level == DEGRADATION_LEVELS[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: degradation_level, error_rate (per minute), recovery_rate, circuit_breakers, calls."""
        return {
            "degradation_level": self.degradation_level,
            "error_rate": self.error_rate,
            "recovery_rate": self.recovery_rate,
            "circuit_breakers": {k: dict(v) for k, v in self.circuit_breakers.items()},
            "calls": dict(self.calls),
            "reasons": list(self.reasons),
        }


def get_system_health(
    runtime: Runtime, analytics: ErrorAnalytics | None = None, *, max_error_rate_per_minute: float = 6.0
) -> SystemHealth:
    """Degradation level, error rate per minute, recovery rate and breaker states of ``runtime``.

    One level down for each of: an open circuit breaker (each), a degraded recovery in the window, a call that
    gave up in the window, an error rate above ``max_error_rate_per_minute``. Without ``analytics`` the error
    rate is unknown (None) and only the breakers and the lifetime give-ups count.
    """
    stats = runtime.stats.to_dict()
    calls = stats["calls"]
    breakers = runtime.breakers.states()
    reasons: list[str] = [
        f"circuit breaker {key!r} is {state}" for key, state in sorted(breakers.items()) if state != "closed"
    ]
    rate: float | None = None
    if analytics is not None:
        rate = analytics.error_rate_per_minute()
        _recovered, degraded, gave_up = analytics.recent_outcomes()
        if degraded:
            reasons.append(f"{degraded} call(s) recovered degraded in the last {analytics.window_s:g} s")
        if gave_up:
            reasons.append(f"{gave_up} call(s) gave up in the last {analytics.window_s:g} s")
        if rate > max_error_rate_per_minute:
            reasons.append(f"error rate {rate:.2f}/min is above {max_error_rate_per_minute:g}/min")
    elif calls["gave_up"]:
        reasons.append(f"{calls['gave_up']} call(s) gave up")
    level = DEGRADATION_LEVELS[min(len(reasons), len(DEGRADATION_LEVELS) - 1)]
    failed = calls["failed"]
    return SystemHealth(
        degradation_level=level,
        error_rate=rate,
        recovery_rate=calls["recovered"] / failed if failed else None,
        circuit_breakers={key: {"state": state} for key, state in sorted(breakers.items())},
        calls=calls,
        reasons=tuple(reasons),
    )
