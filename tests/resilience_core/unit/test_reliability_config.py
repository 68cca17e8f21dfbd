"""ReliabilityConfig: the seed's shape from JSON or TOML, levels, env overrides, and one clear error per mistake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resilience_core import ConfigError, ReliabilityConfig, load_config
from resilience_core.config import LEVEL_PRESETS, RELIABILITY_LEVELS

SEED_CONFIG: dict[str, Any] = {
    "retry": {
        "max_retries": 3,
        "base_delay_seconds": 2.0,
        "max_delay_seconds": 60.0,
        "exponential_base": 2.0,
        "jitter_enabled": True,
        "user_prompt_after_first_failure": True,
        "allow_skip_retries": True,
    },
    "timeouts": {
        "model_download_seconds": 1800,
        "dependency_install_seconds": 600,
        "system_detection_seconds": 60,
        "validation_seconds": 300,
        "network_test_seconds": 30,
        "cleanup_seconds": 120,
        "context_multipliers": {"large_file": 2.0, "slow_network": 1.5, "retry_attempt": 1.2, "low_memory": 1.3},
    },
    "recovery": {
        "missing_method_recovery": True,
        "model_validation_recovery": True,
        "network_failure_recovery": True,
        "dependency_recovery": True,
        "automatic_cleanup": True,
        "fallback_implementations": True,
        "alternative_sources": ["https://huggingface.co", "https://hf-mirror.com", "https://mirror.huggingface.co"],
    },
    "monitoring": {
        "enable_health_monitoring": True,
        "enable_performance_tracking": True,
        "enable_predictive_analysis": False,
        "health_check_interval_seconds": 60,
        "performance_sample_rate": 0.1,
        "alert_thresholds": {
            "error_rate": 0.1,
            "response_time_ms": 5000,
            "memory_usage_percent": 90,
            "disk_usage_percent": 95,
        },
        "export_metrics": True,
        "metrics_export_format": "json",
    },
    "features": {
        "reliability_level": "standard",
        "enable_enhanced_error_context": True,
        "enable_missing_method_recovery": True,
        "enable_model_validation_recovery": True,
        "enable_network_failure_recovery": True,
        "enable_dependency_recovery": True,
        "enable_pre_installation_validation": True,
        "enable_diagnostic_monitoring": True,
        "enable_health_reporting": True,
        "enable_timeout_management": True,
        "enable_user_guidance_enhancements": True,
    },
    "deployment": {
        "environment": "development",
        "log_level": "INFO",
        "enable_debug_mode": False,
        "enable_telemetry": True,
        "support_contact": "support@wan22.com",
        "documentation_url": "https://docs.wan22.com",
        "enable_automatic_updates": False,
        "update_check_interval_hours": 24,
    },
}


def test_the_seed_file_loads_unchanged(tmp_path: Path) -> None:
    """The seed's reliability_config.json is valid as it stands and round-trips through to_dict()."""
    path = tmp_path / "reliability_config.json"
    path.write_text(json.dumps(SEED_CONFIG))
    cfg = load_config(path, env={})
    assert cfg.source == str(path)
    data = cfg.to_dict()
    for section, values in SEED_CONFIG.items():
        for key, value in values.items():
            assert data[section][key] == value, (section, key)
    assert cfg.timeouts.for_operation("model_download", "large_file") == 3600.0
    assert cfg.timeouts.for_operation("unknown_op") is None


def test_toml_is_read_too(tmp_path: Path) -> None:
    """A .toml file with the same sections works."""
    path = tmp_path / "reliability.toml"
    path.write_text("[retry]\nmax_retries = 6\n\n[monitoring.alert_thresholds]\nerror_rate = 0.5\n")
    cfg = ReliabilityConfig.load(path, env={})
    assert cfg.retry.max_retries == 6
    assert cfg.monitoring.alert_thresholds.error_rate == 0.5


@pytest.mark.parametrize("level", RELIABILITY_LEVELS)
def test_each_level_applies_its_preset_under_the_file(level: str) -> None:
    """The level's preset is applied, and a value in the file still wins over it."""
    cfg = ReliabilityConfig.from_mapping({"features": {"reliability_level": level}}, env={})
    assert cfg.features.reliability_level == level
    expected = LEVEL_PRESETS[level].get("retry", {}).get("max_retries", 3)
    assert cfg.retry.max_retries == expected
    explicit = ReliabilityConfig.from_mapping(
        {"features": {"reliability_level": level}, "retry": {"max_retries": 7}}, env={}
    )
    assert explicit.retry.max_retries == 7


def test_levels_switch_strategies() -> None:
    """disabled turns recovery strategies off; maximum retries most."""
    disabled = ReliabilityConfig.from_mapping({}, env={}, level="disabled")
    assert not disabled.strategy_enabled("retry")
    assert not disabled.strategy_enabled("degrade")
    assert disabled.strategy_enabled("guidance")
    maximum = ReliabilityConfig.from_mapping({}, env={}, level="maximum")
    assert maximum.retry.max_retries == 10


def test_env_overrides_each_kind_of_value() -> None:
    """Ints, floats, bools, lists, nested tables and multipliers can all be overridden from the environment."""
    env = {
        "RESILIENCE_RETRY_MAX_RETRIES": "5",
        "RESILIENCE_RETRY_JITTER_ENABLED": "false",
        "RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES": "http://127.0.0.1:1, http://127.0.0.1:2",
        "RESILIENCE_MONITORING_ALERT_THRESHOLDS_ERROR_RATE": "0.25",
        "RESILIENCE_TIMEOUTS_CONTEXT_MULTIPLIERS_LARGE_FILE": "3",
        "RESILIENCE_DEPLOYMENT_LOG_LEVEL": "DEBUG",
        "RESILIENCE_LOG_DIR": "/not/a/config/key",
    }
    cfg = ReliabilityConfig.from_mapping({"retry": {"max_retries": 2}}, env=env)
    assert cfg.retry.max_retries == 5
    assert cfg.retry.jitter_enabled is False
    assert cfg.recovery.alternative_sources == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert cfg.monitoring.alert_thresholds.error_rate == 0.25
    assert cfg.timeouts.context_multipliers["large_file"] == 3.0
    assert cfg.timeouts.context_multipliers["slow_network"] == 1.5
    assert cfg.deployment.log_level == "DEBUG"


def test_env_level_beats_the_file_and_argument_beats_env() -> None:
    """RESILIENCE_FEATURES_RELIABILITY_LEVEL overrides the file; level= overrides both."""
    env = {"RESILIENCE_FEATURES_RELIABILITY_LEVEL": "basic"}
    data = {"features": {"reliability_level": "maximum"}}
    assert ReliabilityConfig.from_mapping(data, env=env).features.reliability_level == "basic"
    assert ReliabilityConfig.from_mapping(data, env=env, level="aggressive").features.reliability_level == "aggressive"


def error_for(data: Any, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.from_mapping(data, source="test.json", env=env or {})
    return info.value


# (data, field, allowed-substring) per section: wrong types, out-of-range values, bad choices.
BAD_VALUES = [
    ({"retry": {"max_retries": 11}}, "retry.max_retries", "0..10"),
    ({"retry": {"max_retries": -1}}, "retry.max_retries", "0..10"),
    ({"retry": {"max_retries": 2.5}}, "retry.max_retries", "an integer"),
    ({"retry": {"max_retries": True}}, "retry.max_retries", "an integer"),
    ({"retry": {"base_delay_seconds": "2"}}, "retry.base_delay_seconds", "a number"),
    ({"retry": {"exponential_base": 0.5}}, "retry.exponential_base", "1..10"),
    ({"retry": {"jitter_enabled": "yes"}}, "retry.jitter_enabled", "true or false"),
    ({"retry": {"max_delay_seconds": float("nan")}}, "retry.max_delay_seconds", "a number"),
    ({"retry": {"base_delay_seconds": 90.0, "max_delay_seconds": 60.0}}, "retry.base_delay_seconds", "at most"),
    ({"timeouts": {"model_download_seconds": 0}}, "timeouts.model_download_seconds", "1..604800"),
    ({"timeouts": {"context_multipliers": {"large_file": -2}}}, "timeouts.context_multipliers.large_file", "0.01..100"),
    ({"timeouts": {"context_multipliers": [1, 2]}}, "timeouts.context_multipliers", "a table of numbers"),
    ({"recovery": {"alternative_sources": "https://x"}}, "recovery.alternative_sources", "a list of strings"),
    ({"recovery": {"alternative_sources": ["ftp://x"]}}, "recovery.alternative_sources", "http:// or https://"),
    ({"recovery": {"breaker_failure_threshold": 0}}, "recovery.breaker_failure_threshold", "1..1000"),
    ({"monitoring": {"performance_sample_rate": 1.5}}, "monitoring.performance_sample_rate", "0..1"),
    (
        {"monitoring": {"alert_thresholds": {"disk_usage_percent": 101}}},
        "monitoring.alert_thresholds.disk_usage_percent",
        "0..100",
    ),
    ({"monitoring": {"alert_thresholds": 5}}, "monitoring.alert_thresholds", "a table of settings"),
    ({"monitoring": {"metrics_export_format": "xml"}}, "monitoring.metrics_export_format", "json, csv, prometheus"),
    ({"features": {"reliability_level": "ultra"}}, "features.reliability_level", "disabled, basic"),
    ({"features": {"enable_rollback": 1}}, "features.enable_rollback", "true or false"),
    ({"deployment": {"environment": "prod"}}, "deployment.environment", "production"),
    ({"deployment": {"log_level": "info"}}, "deployment.log_level", "INFO"),
    ({"deployment": {"update_check_interval_hours": 10000}}, "deployment.update_check_interval_hours", "0..8760"),
    ({"retry": 3}, "retry", "a table of settings"),
]


@pytest.mark.parametrize(
    ("data", "field", "allowed"), BAD_VALUES, ids=[b[1] + ":" + repr(b[0])[:30] for b in BAD_VALUES]
)
def test_invalid_values_name_field_value_source_and_range(data: Any, field: str, allowed: str) -> None:
    """Each bad value raises ConfigError with the dotted field, the value, the source and the allowed range."""
    error = error_for(data)
    assert error.field == field
    assert error.source == "test.json"
    assert allowed in error.allowed
    assert field in str(error)
    assert "test.json" in str(error)
    assert "fix:" in str(error)


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        ({"retry": {"max_retrys": 1}}, "retry.max_retrys", "max_retries"),
        ({"timeouts": {"model_downlaod_seconds": 5}}, "timeouts.model_downlaod_seconds", "model_download_seconds"),
        ({"recovery": {"alternate_sources": []}}, "recovery.alternate_sources", "alternative_sources"),
        ({"monitoring": {"alert_thresholds": {"error_rat": 1}}}, "monitoring.alert_thresholds.error_rat", "error_rate"),
        ({"features": {"enable_rolback": True}}, "features.enable_rolback", "enable_rollback"),
        ({"deployment": {"enviroment": "testing"}}, "deployment.enviroment", "environment"),
        ({"retri": {}}, "retri", "retry"),
    ],
)
def test_unknown_keys_suggest_the_closest_known_key(data: Any, field: str, suggestion: str) -> None:
    """An unknown key (per section, nested, or a whole section) says which known key was probably meant."""
    error = error_for(data)
    assert error.field == field
    assert f"did you mean {suggestion!r}" in str(error)


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("RESILIENCE_RETRY_MAX_RETRIES", "many", "retry.max_retries"),
        ("RESILIENCE_RETRY_MAX_RETRIES", "99", "retry.max_retries"),
        ("RESILIENCE_RETRY_JITTER_ENABLED", "maybe", "retry.jitter_enabled"),
        ("RESILIENCE_TIMEOUTS_CLEANUP_SECONDS", "-1", "timeouts.cleanup_seconds"),
        ("RESILIENCE_MONITORING_ALERT_THRESHOLDS_ERROR_RATE", "2", "monitoring.alert_thresholds.error_rate"),
        ("RESILIENCE_FEATURES_RELIABILITY_LEVEL", "max", "features.reliability_level"),
        ("RESILIENCE_DEPLOYMENT_ENVIRONMENT", "moon", "deployment.environment"),
        ("RESILIENCE_RECOVERY_SOURCE_SWITCH_AFTER_FAILURES", "0", "recovery.source_switch_after_failures"),
    ],
)
def test_bad_env_overrides_name_the_variable(name: str, value: str, field: str) -> None:
    """A bad override names the field, the value and env:VARIABLE as its source."""
    error = error_for({}, {name: value})
    assert error.field == field
    assert error.value == value
    assert error.source == f"env:{name}"
    assert name in str(error)


def test_unknown_env_key_in_a_known_section_suggests() -> None:
    """RESILIENCE_RETRY_MAX_RETRYS is a typo of a config key, not someone else's variable."""
    error = error_for({}, {"RESILIENCE_RETRY_MAX_RETRYS": "3"})
    assert "did you mean 'max_retries'" in str(error)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    """A missing file, broken JSON, broken TOML and a non-object file each give one clear ConfigError."""
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.json", env={})
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"retry": ')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad_json, env={})
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[retry\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad_toml, env={})
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold an object"):
        load_config(array, env={})


def test_defaults_are_independent_copies() -> None:
    """Mutable defaults are not shared between two configs."""
    a, b = ReliabilityConfig(), ReliabilityConfig()
    a.timeouts.context_multipliers["large_file"] = 99.0
    assert b.timeouts.context_multipliers["large_file"] == 2.0
