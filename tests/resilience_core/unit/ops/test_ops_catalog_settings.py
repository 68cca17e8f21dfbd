"""The model catalog, model lists, corruption marks, and the monitoring settings file (the seed's shape)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience_core.config import ReliabilityConfig
from resilience_core.errors import ConfigError
from resilience_core.hub.catalog import Catalog, CorruptionMarks, ModelRef, parse_model_list
from resilience_core.monitor.settings import MonitorSettings

SEED_MONITORING = {
    "enabled": True,
    "check_interval_seconds": 60,
    "health_check_timeout_seconds": 30,
    "metrics_retention_days": 30,
    "alert_thresholds": [
        {
            "metric_name": "error_rate",
            "warning_threshold": 0.05,
            "critical_threshold": 0.1,
            "comparison_operator": "greater_than",
            "time_window_minutes": 5,
            "min_occurrences": 3,
        }
    ],
    "alert_channels": [
        {"name": "log", "type": "log", "enabled": True, "configuration": {"log_level": "ERROR"}},
        {
            "name": "email",
            "type": "email",
            "enabled": False,
            "configuration": {
                "smtp_server": "localhost",
                "smtp_port": 587,
                "from_email": "alerts@wan22.com",
                "to_emails": ["admin@wan22.com"],
            },
        },
    ],
}


def test_the_seed_monitoring_config_loads(tmp_path: Path) -> None:
    """The guide's production_monitoring_config.json is accepted as is; relative paths follow the file."""
    path = tmp_path / "production_monitoring_config.json"
    path.write_text(json.dumps(SEED_MONITORING))
    settings = MonitorSettings.load(path)
    assert settings.check_interval_s == 60
    assert settings.retention_s == 30 * 86400
    assert [r.name for r in settings.rules] == ["error_rate"]
    assert settings.database == tmp_path / "logs" / "metrics.db"
    monitor = settings.build()
    assert sorted(monitor.channels) == ["log"]  # the disabled email channel is not built


def test_without_rules_the_config_thresholds_apply() -> None:
    """No alert_thresholds in the file: the reliability config's monitoring.alert_thresholds are the rules."""
    config = ReliabilityConfig.from_mapping({"monitoring": {"alert_thresholds": {"memory_usage_percent": 75}}}, env={})
    rules = {r.metric: r for r in MonitorSettings.from_mapping({}, config=config).rules}
    assert rules["memory_usage_percent"].critical == 75


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"check_interval_seconds": -1}, "check_interval_seconds"),
        ({"alert_channel": []}, "unknown key 'alert_channel'"),
        ({"alert_channels": [{"name": "a", "type": "log"}, {"name": "a", "type": "log"}]}, "distinct names"),
        ({"probes": [{"url": "ftp://x"}]}, "probes"),
        ({"alert_thresholds": {"metric_name": "x"}}, "alert_thresholds"),
    ],
)
def test_bad_monitoring_settings_name_the_key(data: dict[str, object], needle: str) -> None:
    """Each bad value is one ConfigError naming the key to change."""
    with pytest.raises(ConfigError, match=needle):
        MonitorSettings.from_mapping(data)


def test_catalog_and_model_list(tmp_path: Path) -> None:
    """A TOML catalog and a model-list file (comments, blank lines) give the same refs; bad lines name the line."""
    (tmp_path / "catalog.toml").write_text(
        'cache_dir = "models"\nsources = ["http://127.0.0.1:1"]\n'
        '[[models]]\nrepo_id = "wan-ai/t2v"\n[[models]]\nrepo_id = "wan-ai/vae"\nrevision = "v1"\ncritical = false\n'
    )
    catalog = Catalog.load(tmp_path / "catalog.toml")
    assert [m.label for m in catalog.models] == ["wan-ai/t2v@main", "wan-ai/vae@v1"]
    assert catalog.cache_dir == tmp_path / "models"
    assert [m.label for m in catalog.select(critical_only=True)] == ["wan-ai/t2v@main"]
    (tmp_path / "list.txt").write_text("# corrupted\nwan-ai/vae@v1\n\nwan-ai/t2v  # the big one\n")
    assert [m.label for m in parse_model_list(tmp_path / "list.txt")] == ["wan-ai/vae@v1", "wan-ai/t2v@main"]
    (tmp_path / "bad.txt").write_text("ok/model\n../../etc@main\n")
    with pytest.raises(ConfigError, match=r"bad.txt:2"):
        parse_model_list(tmp_path / "bad.txt")
    selected = catalog.select([ModelRef.parse("wan-ai/vae@v1")])
    assert selected[0].critical is False  # the catalog's entry, not a bare ref


def test_corruption_marks_round_trip(tmp_path: Path) -> None:
    """Marks are kept in the cache, survive a new object, and clear only what was marked."""
    refs = [ModelRef.parse("a/b@main"), ModelRef.parse("c/d@v2")]
    CorruptionMarks(tmp_path).mark(refs, reason="bitflip found")
    marks = CorruptionMarks(tmp_path).marked()
    assert sorted(marks) == ["a/b@main", "c/d@v2"]
    assert marks["a/b@main"]["reason"] == "bitflip found"
    assert CorruptionMarks(tmp_path).clear([refs[0], ModelRef.parse("x/y")]) == ["a/b@main"]
    assert sorted(CorruptionMarks(tmp_path).marked()) == ["c/d@v2"]
