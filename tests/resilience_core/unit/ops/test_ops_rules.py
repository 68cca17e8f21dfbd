"""Threshold rules: levels, comparisons, windows, min_occurrences, the seed's JSON shape and the config's values."""

from __future__ import annotations

import pytest

from resilience_core.config import ReliabilityConfig
from resilience_core.errors import ConfigError
from resilience_core.monitor.rules import WARNING_FRACTION, ThresholdRule, rules_from_config


def test_levels_need_min_occurrences_and_a_current_breach() -> None:
    """Critical beats warning; too few breaches, or a newest sample back in range, is no alert."""
    rule = ThresholdRule("cpu", warning=70, critical=90, min_occurrences=2)
    assert rule.level_of([95, 96]) == "critical"
    assert rule.level_of([95, 80]) == "warning"  # newest only at warning level, two above 70
    assert rule.level_of([95]) is None
    assert rule.level_of([95, 96, 10]) is None
    assert rule.level_of([]) is None


@pytest.mark.parametrize(
    ("comparison", "values", "level"),
    [("less_than", [0, 0], "critical"), ("greater_equal", [1, 1], "critical"), ("equals", [0.5, 0.5], None)],
)
def test_comparisons(comparison: str, values: list[float], level: str | None) -> None:
    """Every seed comparison operator works the way its name says."""
    assert ThresholdRule("up", critical=1, comparison=comparison, min_occurrences=2).level_of(values) == level


def test_seed_shape_parses_and_converts_minutes() -> None:
    """The seed's alert_thresholds entry becomes a rule with its window in seconds."""
    rule = ThresholdRule.from_mapping(
        {
            "metric_name": "error_rate",
            "warning_threshold": 0.05,
            "critical_threshold": 0.1,
            "comparison_operator": "greater_than",
            "time_window_minutes": 5,
            "min_occurrences": 3,
        },
        source="monitoring.json",
        index=0,
    )
    assert (rule.name, rule.window_s, rule.min_occurrences) == ("error_rate", 300.0, 3)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"metric_name": "x", "critical_threshold": 1, "comparison_operator": "bigger"}, "comparison_operator"),
        ({"metric_name": "x"}, "warning_threshold"),
        ({"metric_name": "x", "critical_threshold": 1, "min_occurrences": 0}, "min_occurrences"),
        ({"metric_name": "x", "critical_threshold": 1, "time_window_minutes": -1}, "time_window_minutes"),
        ({"critical_threshold": 1}, "metric_name"),
        ({"metric_name": "x", "critical_threshold": 1, "windw": 3}, "windw"),
    ],
)
def test_bad_rules_name_the_field(data: dict[str, object], field: str) -> None:
    """A bad rule is one ConfigError naming the rule's index and the key to fix."""
    with pytest.raises(ConfigError) as caught:
        ThresholdRule.from_mapping(data, source="monitoring.json", index=2)
    assert field in caught.value.field
    assert "alert_thresholds[2]" in str(caught.value)


def test_config_alert_thresholds_become_rules() -> None:
    """monitoring.alert_thresholds are wired in: each is the critical level, warning at WARNING_FRACTION."""
    config = ReliabilityConfig.from_mapping({"monitoring": {"alert_thresholds": {"disk_usage_percent": 90}}}, env={})
    rules = {r.metric: r for r in rules_from_config(config)}
    assert rules["disk_usage_percent"].critical == 90
    assert rules["disk_usage_percent"].warning == pytest.approx(90 * WARNING_FRACTION)
    assert set(rules) == {"error_rate", "response_time_ms", "memory_usage_percent", "disk_usage_percent"}
