"""The sections of the reliability configuration: the seed's ``reliability_config.json`` shape, as frozen dataclasses.

Each field carries its allowed range in its metadata (``lo``, ``hi``, ``choices``); :mod:`.loader` reads it to
validate values. ``LEVEL_PRESETS`` says what each reliability level changes on top of the defaults.
"""

# Field specs are built by small helpers around dataclasses.field(), which RUF009 cannot see through.
# ruff: noqa: RUF009
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "LEVEL_PRESETS",
    "RELIABILITY_LEVELS",
    "SECTIONS",
    "AlertThresholds",
    "DeploymentConfig",
    "FeaturesConfig",
    "MonitoringConfig",
    "RecoveryConfig",
    "RetryConfig",
    "TimeoutsConfig",
]

RELIABILITY_LEVELS = ("disabled", "basic", "standard", "aggressive", "maximum")
ENV_PREFIX = "RESILIENCE_"


def _spec(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] = (),
    urls: bool = False,
) -> Any:
    metadata = {"lo": lo, "hi": hi, "choices": choices, "urls": urls}
    if isinstance(default, (dict, list, tuple)):
        return field(default_factory=lambda: dict(default) if isinstance(default, dict) else default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _nested(cls: type) -> Any:
    return field(default_factory=cls)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retry behaviour (seed: retry)."""

    max_retries: int = _spec(3, lo=0, hi=10)
    base_delay_seconds: float = _spec(2.0, lo=0.0, hi=3600.0)
    max_delay_seconds: float = _spec(60.0, lo=0.0, hi=86400.0)
    exponential_base: float = _spec(2.0, lo=1.0, hi=10.0)
    jitter_enabled: bool = True
    user_prompt_after_first_failure: bool = True
    allow_skip_retries: bool = True
    budget_capacity: float = _spec(100.0, lo=1.0, hi=1e6)
    budget_refill_per_second: float = _spec(1.0, lo=0.0, hi=1e6)


@dataclass(frozen=True, slots=True)
class TimeoutsConfig:
    """Per-operation deadlines; ``<operation>_seconds`` is the deadline of ``Runtime.run(operation=...)``."""

    model_download_seconds: float = _spec(1800.0, lo=1.0, hi=604800.0)
    dependency_install_seconds: float = _spec(600.0, lo=1.0, hi=604800.0)
    system_detection_seconds: float = _spec(60.0, lo=1.0, hi=604800.0)
    validation_seconds: float = _spec(300.0, lo=1.0, hi=604800.0)
    network_test_seconds: float = _spec(30.0, lo=1.0, hi=604800.0)
    cleanup_seconds: float = _spec(120.0, lo=1.0, hi=604800.0)
    context_multipliers: dict[str, float] = _spec(
        {"large_file": 2.0, "slow_network": 1.5, "retry_attempt": 1.2, "low_memory": 1.3}, lo=0.01, hi=100.0
    )

    def for_operation(self, operation: str | None, *contexts: str) -> float | None:
        """The deadline for ``operation`` scaled by the named context multipliers, or None if not configured."""
        if operation is None:
            return None
        base = getattr(self, f"{operation}_seconds", None)
        if not isinstance(base, float):
            return None
        for name in contexts:
            base *= self.context_multipliers.get(name, 1.0)
        return base


@dataclass(frozen=True, slots=True)
class RecoveryConfig:
    """Recovery switches and the knobs of the built-in strategies (seed: recovery, plus strategy settings)."""

    missing_method_recovery: bool = True
    model_validation_recovery: bool = True
    network_failure_recovery: bool = True
    dependency_recovery: bool = True
    automatic_cleanup: bool = True
    fallback_implementations: bool = True
    alternative_sources: tuple[str, ...] = _spec(
        ("https://huggingface.co", "https://hf-mirror.com", "https://mirror.huggingface.co"), urls=True
    )
    source_switch_after_failures: int = _spec(2, lo=1, hi=100)
    cleanup_roots: tuple[str, ...] = _spec(())
    stale_lock_age_seconds: float = _spec(3600.0, lo=0.0, hi=31536000.0)
    breaker_failure_threshold: int = _spec(5, lo=1, hi=1000)
    breaker_success_threshold: int = _spec(2, lo=1, hi=1000)
    breaker_open_timeout_seconds: float = _spec(60.0, lo=0.0, hi=86400.0)


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """When monitoring raises an alert."""

    error_rate: float = _spec(0.1, lo=0.0, hi=1.0)
    response_time_ms: float = _spec(5000.0, lo=0.0, hi=3.6e6)
    memory_usage_percent: float = _spec(90.0, lo=0.0, hi=100.0)
    disk_usage_percent: float = _spec(95.0, lo=0.0, hi=100.0)


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    """Health monitoring and metrics export (seed: monitoring)."""

    enable_health_monitoring: bool = True
    enable_performance_tracking: bool = True
    enable_predictive_analysis: bool = False
    health_check_interval_seconds: float = _spec(60.0, lo=1.0, hi=86400.0)
    performance_sample_rate: float = _spec(0.1, lo=0.0, hi=1.0)
    alert_thresholds: AlertThresholds = _nested(AlertThresholds)
    export_metrics: bool = True
    metrics_export_format: str = _spec("json", choices=("json", "csv", "prometheus"))


@dataclass(frozen=True, slots=True)
class FeaturesConfig:
    """Feature switches; the ``enable_*_recovery`` flags switch the built-in strategies on and off."""

    reliability_level: str = _spec("standard", choices=RELIABILITY_LEVELS)
    enable_enhanced_error_context: bool = True
    enable_missing_method_recovery: bool = True
    enable_model_validation_recovery: bool = True
    enable_network_failure_recovery: bool = True
    enable_dependency_recovery: bool = True
    enable_pre_installation_validation: bool = True
    enable_diagnostic_monitoring: bool = True
    enable_health_reporting: bool = True
    enable_timeout_management: bool = True
    enable_user_guidance_enhancements: bool = True
    enable_disk_cleanup: bool = True
    enable_graceful_degradation: bool = True
    enable_circuit_breaker: bool = True
    enable_rollback: bool = True


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    """Where and how the installer runs (seed: deployment)."""

    environment: str = _spec("development", choices=("development", "testing", "staging", "production"))
    log_level: str = _spec("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    enable_debug_mode: bool = False
    enable_telemetry: bool = True
    support_contact: str = "support@example.com"
    documentation_url: str = "https://example.com/docs"
    enable_automatic_updates: bool = False
    update_check_interval_hours: float = _spec(24.0, lo=0.0, hi=8760.0)


_OFF = dict.fromkeys(
    (
        "enable_missing_method_recovery",
        "enable_model_validation_recovery",
        "enable_network_failure_recovery",
        "enable_dependency_recovery",
        "enable_disk_cleanup",
        "enable_graceful_degradation",
        "enable_circuit_breaker",
        "enable_rollback",
    ),
    False,
)

# What each level changes on top of the defaults (seed 000: "Reliability Levels").
LEVEL_PRESETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "disabled": {"retry": {"max_retries": 0}, "features": _OFF, "recovery": {"automatic_cleanup": False}},
    "basic": {
        "retry": {"max_retries": 2, "base_delay_seconds": 1.0},
        "features": {**_OFF, "enable_network_failure_recovery": True},
    },
    "standard": {},
    "aggressive": {
        "retry": {"max_retries": 5, "max_delay_seconds": 120.0},
        "monitoring": {"enable_predictive_analysis": True},
    },
    "maximum": {
        "retry": {"max_retries": 10, "base_delay_seconds": 1.0, "max_delay_seconds": 30.0},
        "monitoring": {"enable_predictive_analysis": True, "health_check_interval_seconds": 15.0},
        "recovery": {"source_switch_after_failures": 1},
    },
}


SECTIONS: Mapping[str, type] = {
    "retry": RetryConfig,
    "timeouts": TimeoutsConfig,
    "recovery": RecoveryConfig,
    "monitoring": MonitoringConfig,
    "features": FeaturesConfig,
    "deployment": DeploymentConfig,
}
"""The top-level sections by name, in the order files and reports list them."""
