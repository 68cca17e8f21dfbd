"""Recovery statistics: per failure type and per strategy, with time-to-recover percentiles; thread-safe.

>>> stats = RecoveryStats()
>>> stats.record_strategy("retry", success=True, duration_s=0.0)
>>> stats.to_dict()["strategies"]["retry"]["rate"]
1.0
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from resilience_core.recovery.taxonomy import FailureType

__all__ = ["Counter", "RecoveryStats", "percentile"]

_SAMPLES = 10_000


def percentile(samples: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100, nearest-rank) of ``samples``, or None when there are none.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    """
    ordered = sorted(samples)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class Counter:
    """Attempts and successes of one failure type or strategy, with recovery-time samples."""

    attempts: int = 0
    successes: int = 0
    times_s: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLES))

    @property
    def rate(self) -> float:
        """successes / attempts (0.0 before any attempt)."""
        return self.successes / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict[str, Any]:
        """attempts, successes, rate and time-to-recover p50/p95 (seconds, None without samples)."""
        samples = list(self.times_s)
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "rate": self.rate,
            "time_to_recover_s": {"p50": percentile(samples, 50), "p95": percentile(samples, 95)},
        }


class RecoveryStats:
    """What a :class:`~resilience_core.recovery.runtime.Runtime` recorded.

    ``failure_types[t]``: ``attempts`` counts calls that failed with ``t`` first, ``successes`` those that
    recovered, with their time to recover; ``failures_by_type`` counts every failed attempt.
    ``strategies[name]``: ``attempts`` counts ``recover()`` calls, ``successes`` those returning
    ``success=True``, with their own duration. ``calls`` counts failed calls (``recovered`` + ``gave_up``);
    successful first attempts are not counted, to keep the happy path free.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, Counter] = {}
        self._strategies: dict[str, Counter] = {}
        self._overall = Counter()
        self._failures_by_type: dict[str, int] = {}
        self.recovered = 0
        self.recovered_degraded = 0
        self.gave_up = 0
        self.failures = 0

    def record_failure(self, failure_type: FailureType) -> None:
        """One failed attempt was categorized as ``failure_type``."""
        with self._lock:
            self.failures += 1
            self._failures_by_type[failure_type.value] = self._failures_by_type.get(failure_type.value, 0) + 1

    def record_strategy(self, name: str, *, success: bool, duration_s: float) -> None:
        """A strategy's ``recover()`` ran."""
        with self._lock:
            counter = self._strategies.get(name)
            if counter is None:  # not setdefault(): that would build a Counter (and its deque) on every call
                counter = self._strategies[name] = Counter()
            counter.attempts += 1
            if success:
                counter.successes += 1
                counter.times_s.append(duration_s)

    def record_call(self, first: FailureType, *, recovered: bool, time_to_recover_s: float, degraded: bool) -> None:
        """A call that failed at least once ended (recovered or gave up)."""
        with self._lock:
            counter = self._types.get(first.value)
            if counter is None:
                counter = self._types[first.value] = Counter()
            counter.attempts += 1
            self._overall.attempts += 1
            if recovered:
                counter.successes += 1
                counter.times_s.append(time_to_recover_s)
                self._overall.successes += 1
                self._overall.times_s.append(time_to_recover_s)
                self.recovered += 1
                if degraded:
                    self.recovered_degraded += 1
            else:
                self.gave_up += 1

    def failure_type(self, failure_type: FailureType | str) -> Counter:
        """A copy of the counter of one failure type."""
        key = failure_type.value if isinstance(failure_type, FailureType) else failure_type
        with self._lock:
            found = self._types.get(key, Counter())
            return Counter(found.attempts, found.successes, deque(found.times_s, maxlen=_SAMPLES))

    def strategy(self, name: str) -> Counter:
        """A copy of the counter of one strategy."""
        with self._lock:
            found = self._strategies.get(name, Counter())
            return Counter(found.attempts, found.successes, deque(found.times_s, maxlen=_SAMPLES))

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._types.clear()
            self._strategies.clear()
            self._overall = Counter()
            self._failures_by_type.clear()
            self.recovered = self.recovered_degraded = self.gave_up = self.failures = 0

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data."""
        with self._lock:
            overall = self._overall.to_dict()
            return {
                "calls": {
                    "failed": self._overall.attempts,
                    "recovered": self.recovered,
                    "recovered_degraded": self.recovered_degraded,
                    "gave_up": self.gave_up,
                    "rate": overall["rate"],
                    "time_to_recover_s": overall["time_to_recover_s"],
                },
                "failures": self.failures,
                "failures_by_type": dict(sorted(self._failures_by_type.items())),
                "failure_types": {k: v.to_dict() for k, v in sorted(self._types.items())},
                "strategies": {k: v.to_dict() for k, v in sorted(self._strategies.items())},
            }

    def to_prometheus(self, prefix: str = "resilience") -> str:
        """Prometheus text exposition (version 0.0.4) of the counters and time-to-recover quantiles."""
        data = self.to_dict()
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> str:
            metric = f"{prefix}_{name}"
            lines.append(f"# HELP {metric} {help_text}")
            lines.append(f"# TYPE {metric} {kind}")
            return metric

        metric = family("failed_attempts_total", "counter", "Failed attempts seen by the runtime, by failure type.")
        lines.extend(f'{metric}{{failure_type="{_escape(k)}"}} {v}' for k, v in data["failures_by_type"].items())
        metric = family("calls_total", "counter", "Calls that failed at least once, by result.")
        lines.extend(f'{metric}{{result="{r}"}} {data["calls"][r]}' for r in ("recovered", "gave_up"))
        for group, label in (("failure_types", "failure_type"), ("strategies", "strategy")):
            attempts = family(f"{group}_attempts_total", "counter", f"Attempts per {label}.")
            for key, value in data[group].items():
                lines.append(f'{attempts}{{{label}="{_escape(key)}"}} {value["attempts"]}')
            successes = family(f"{group}_successes_total", "counter", f"Successes per {label}.")
            for key, value in data[group].items():
                lines.append(f'{successes}{{{label}="{_escape(key)}"}} {value["successes"]}')
        ttr = family("time_to_recover_seconds", "summary", "Time from first failure to success, per failure type.")
        for key, value in data["failure_types"].items():
            for q, name in (("0.5", "p50"), ("0.95", "p95")):
                sample = value["time_to_recover_s"][name]
                if sample is not None:
                    lines.append(f'{ttr}{{failure_type="{_escape(key)}",quantile="{q}"}} {sample:.6g}')
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
