"""The reliability configuration: sections, levels, files, env overrides (facade only).

>>> cfg = ReliabilityConfig.from_mapping({"retry": {"max_retries": 5}}, env={})
>>> cfg.retry.max_retries
5
"""

from __future__ import annotations

from resilience_core.config.loader import read_config_file
from resilience_core.config.reliability import ReliabilityConfig, load_config
from resilience_core.config.sections import (
    LEVEL_PRESETS,
    RELIABILITY_LEVELS,
    AlertThresholds,
    DeploymentConfig,
    FeaturesConfig,
    MonitoringConfig,
    RecoveryConfig,
    RetryConfig,
    TimeoutsConfig,
)

__all__ = [
    "LEVEL_PRESETS",
    "RELIABILITY_LEVELS",
    "AlertThresholds",
    "DeploymentConfig",
    "FeaturesConfig",
    "MonitoringConfig",
    "RecoveryConfig",
    "ReliabilityConfig",
    "RetryConfig",
    "TimeoutsConfig",
    "load_config",
    "read_config_file",
]
