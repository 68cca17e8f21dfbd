"""Threshold rules over the metrics store: warning and critical levels, a comparison, a window, min_occurrences.

A rule is breached at a level when the newest sample of its metric compares past that level's threshold and
at least ``min_occurrences`` samples within the last ``window_s`` seconds do (critical is checked first). So
an alert needs a sustained breach to fire, and clears as soon as the metric is back. Each series (the
metric's tags, such as the disk path) is judged on its own.

>>> rule = ThresholdRule("disk_usage_percent", warning=85.0, critical=95.0, window_s=300.0, min_occurrences=2)
>>> rule.level_of([50.0, 96.0, 97.0])
'critical'
>>> rule.level_of([96.0, 97.0, 50.0])  # back below: cleared
>>> rule.level_of([90.0])  # one sample is fewer than min_occurrences
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resilience_core.errors import ConfigError

if TYPE_CHECKING:
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.monitor.store import MetricsStore

__all__ = ["COMPARISONS", "WARNING_FRACTION", "Breach", "ThresholdRule", "evaluate_rules", "rules_from_config"]

COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "greater_than": operator.gt,
    "greater_equal": operator.ge,
    "less_than": operator.lt,
    "less_equal": operator.le,
    "equals": operator.eq,
    "not_equals": operator.ne,
}
"""The seed's ``comparison_operator`` values."""

WARNING_FRACTION = 0.8
"""``monitoring.alert_thresholds`` give one value each: it is the critical level, and warning is this share of it."""


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """When ``metric`` raises an alert. ``name`` defaults to the metric; either threshold may be None."""

    metric: str
    warning: float | None = None
    critical: float | None = None
    comparison: str = "greater_than"
    window_s: float = 300.0
    min_occurrences: int = 1
    name: str = ""
    tags: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        where = f"alert rule {self.name or self.metric!r}"
        if self.comparison not in COMPARISONS:
            raise _bad(where, "comparison_operator", self.comparison, "one of " + ", ".join(COMPARISONS))
        if self.warning is None and self.critical is None:
            raise _bad(where, "warning_threshold", None, "a number (or give critical_threshold)")
        for key, value in (("warning_threshold", self.warning), ("critical_threshold", self.critical)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise _bad(where, key, value, "a finite number")
        if (
            isinstance(self.min_occurrences, bool)
            or not isinstance(self.min_occurrences, int)
            or self.min_occurrences < 1
        ):
            raise _bad(where, "min_occurrences", self.min_occurrences, "an integer >= 1")
        if not isinstance(self.window_s, int | float) or not 0 < self.window_s <= 30 * 86400:
            raise _bad(
                where,
                "time_window_minutes",
                self.window_s / 60 if isinstance(self.window_s, int | float) else self.window_s,
                "a number of minutes in (0, 43200]",
            )
        if not self.name:
            object.__setattr__(self, "name", self.metric)

    def level_of(self, values: Sequence[float]) -> str | None:
        """``"critical"``, ``"warning"`` or None for the values of one series within the window, oldest first."""
        if not values:
            return None
        compare = COMPARISONS[self.comparison]
        for level, threshold in (("critical", self.critical), ("warning", self.warning)):
            if threshold is None or not compare(values[-1], threshold):
                continue
            if sum(1 for v in values if compare(v, threshold)) >= self.min_occurrences:
                return level
        return None

    def threshold_of(self, level: str) -> float:
        """The threshold of ``level``."""
        value = self.critical if level == "critical" else self.warning
        return float(value if value is not None else math.nan)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str, index: int) -> ThresholdRule:
        """A rule from the seed's JSON shape (``metric_name``, ``warning_threshold``, ``critical_threshold``,
        ``comparison_operator``, ``time_window_minutes``, ``min_occurrences``; plus ``name`` and ``tags``)."""
        where = f"alert_thresholds[{index}] from {source}"
        if not isinstance(data, Mapping):
            raise _bad(where, "", data, "a table with metric_name and a threshold")
        known: tuple[str, ...] = ("metric_name", "warning_threshold", "critical_threshold", "comparison_operator")
        known += ("time_window_minutes", "min_occurrences", "name", "tags")
        for key in data:
            if key not in known:
                raise _bad(where, str(key), data[key], "one of " + ", ".join(known), "is not a known key")
        metric = data.get("metric_name")
        if not isinstance(metric, str) or not metric:
            raise _bad(where, "metric_name", metric, "a metric name such as 'disk_usage_percent'")
        minutes = data.get("time_window_minutes", 5)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise _bad(where, "time_window_minutes", minutes, "a number of minutes in (0, 43200]")
        tags = data.get("tags")
        if tags is not None and not (isinstance(tags, Mapping) and all(isinstance(v, str) for v in tags.values())):
            raise _bad(where, "tags", tags, "a table of strings")
        try:
            return cls(
                metric=metric,
                warning=data.get("warning_threshold"),
                critical=data.get("critical_threshold"),
                comparison=data.get("comparison_operator", "greater_than"),
                window_s=float(minutes) * 60.0,
                min_occurrences=data.get("min_occurrences", 1),
                name=str(data.get("name") or metric),
                tags=dict(tags) if tags else None,
            )
        except ConfigError as error:
            raise ConfigError(
                f"{where}: {error}",
                field=f"alert_thresholds[{index}].{error.field}",
                value=error.value,
                source=source,
                allowed=error.allowed,
            ) from None


def _bad(where: str, key: str, value: Any, allowed: str, problem: str = "") -> ConfigError:
    what = problem or f"must be {allowed}"
    return ConfigError(
        f"{where}: {key}={value!r} {what}; fix: set {key} to {allowed}",
        field=key,
        value=value,
        source=where,
        allowed=allowed,
    )


def rules_from_config(config: ReliabilityConfig) -> list[ThresholdRule]:
    """The rules ``monitoring.alert_thresholds`` implies: each value is the critical level, warning at
    :data:`WARNING_FRACTION` of it, over ``health_check_interval_seconds`` x 5, three occurrences.

    >>> from resilience_core.config import ReliabilityConfig
    >>> [(r.metric, r.critical) for r in rules_from_config(ReliabilityConfig())][:2]
    [('error_rate', 0.1), ('response_time_ms', 5000.0)]
    """
    thresholds = config.monitoring.alert_thresholds
    window_s = config.monitoring.health_check_interval_seconds * 5
    return [
        ThresholdRule(metric, warning=value * WARNING_FRACTION, critical=value, window_s=window_s, min_occurrences=3)
        for metric, value in (
            ("error_rate", thresholds.error_rate),
            ("response_time_ms", thresholds.response_time_ms),
            ("memory_usage_percent", thresholds.memory_usage_percent),
            ("disk_usage_percent", thresholds.disk_usage_percent),
        )
    ]


@dataclass(frozen=True, slots=True)
class Breach:
    """One rule's verdict on one series now: ``level`` None means the series is fine."""

    rule: ThresholdRule
    tags: Mapping[str, str]
    level: str | None
    value: float | None
    occurrences: int

    @property
    def key(self) -> str:
        """What deduplicates alerts: the rule and the series."""
        return f"{self.rule.name}{json.dumps(dict(self.tags), sort_keys=True) if self.tags else ''}"


def evaluate_rules(store: MetricsStore, rules: Sequence[ThresholdRule], *, now: float) -> list[Breach]:
    """Every rule's verdict on every series of its metric seen within its window."""
    out: list[Breach] = []
    for rule in rules:
        samples = store.query(rule.metric, since=now - rule.window_s, until=now, tags=dict(rule.tags or {}))
        series: dict[str, list[float]] = {}
        tags_of: dict[str, Mapping[str, str]] = {}
        for sample in samples:
            key = json.dumps(dict(sample.tags), sort_keys=True)
            series.setdefault(key, []).append(sample.value)
            tags_of[key] = sample.tags
        for key, values in sorted(series.items()):
            level = rule.level_of(values)
            compare = COMPARISONS[rule.comparison]
            hits = [v for v in values if level is not None and compare(v, rule.threshold_of(level))]
            out.append(Breach(rule, tags_of[key], level, hits[-1] if hits else values[-1], len(hits)))
    return out
