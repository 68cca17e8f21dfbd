"""ReliabilityConfig: the seed's ``reliability_config.json`` shape, from JSON or TOML, with env overrides.

Precedence, lowest first: built-in defaults, the preset of ``features.reliability_level``
(disabled / basic / standard / aggressive / maximum), the file, then ``RESILIENCE_<SECTION>_<KEY>`` variables
(``RESILIENCE_RETRY_MAX_RETRIES=5``, ``RESILIENCE_MONITORING_ALERT_THRESHOLDS_ERROR_RATE=0.2``; lists are
comma-separated). Every problem raises one :class:`ConfigError` naming the field, the value, its source and the
allowed range; an unknown key suggests the closest known one.

>>> cfg = ReliabilityConfig.from_mapping({"retry": {"max_retries": 5}}, env={})
>>> cfg.retry.max_retries, cfg.features.reliability_level
(5, 'standard')
"""

# Nested sections are built by a small helper around dataclasses.field(), which RUF009 cannot see through.
# ruff: noqa: RUF009
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience_core.config.loader import build_sections, read_config_file
from resilience_core.config.sections import (
    DeploymentConfig,
    FeaturesConfig,
    MonitoringConfig,
    RecoveryConfig,
    RetryConfig,
    TimeoutsConfig,
)

__all__ = ["ReliabilityConfig", "load_config"]


def _nested(cls: type) -> Any:
    return field(default_factory=cls)


@dataclass(frozen=True, slots=True)
class ReliabilityConfig:
    """The whole configuration; build it with :meth:`load`, :meth:`from_mapping` or :func:`load_config`."""

    retry: RetryConfig = _nested(RetryConfig)
    timeouts: TimeoutsConfig = _nested(TimeoutsConfig)
    recovery: RecoveryConfig = _nested(RecoveryConfig)
    monitoring: MonitoringConfig = _nested(MonitoringConfig)
    features: FeaturesConfig = _nested(FeaturesConfig)
    deployment: DeploymentConfig = _nested(DeploymentConfig)
    source: str = field(default="defaults", compare=False)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
    ) -> ReliabilityConfig:
        """Load ``path`` (``.json`` or ``.toml``; None: defaults only) and apply env overrides."""
        return load_config(path, env=env)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "argument",
        env: Mapping[str, str] | None = None,
        level: str | None = None,
    ) -> ReliabilityConfig:
        """Validate ``data`` (the JSON shape); ``env`` defaults to ``os.environ``; ``level`` beats the file's."""
        sections = build_sections(data, source=source, env=os.environ if env is None else env, level=level)
        return cls(**sections, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-ready data (lists for tuples)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "source":
                out[f.name] = _plain(getattr(self, f.name))
        return out

    def strategy_enabled(self, name: str) -> bool:
        """Whether ``features.*`` lets the built-in strategy ``name`` run."""
        feats = self.features
        switch = {
            "retry": feats.enable_network_failure_recovery or self.retry.max_retries > 0,
            "source": feats.enable_network_failure_recovery,
            "breaker": feats.enable_circuit_breaker,
            "disk": feats.enable_disk_cleanup and self.recovery.automatic_cleanup,
            "repair": feats.enable_model_validation_recovery and self.recovery.model_validation_recovery,
            "degrade": feats.enable_graceful_degradation,
            "rollback": feats.enable_rollback,
            "guidance": True,
        }
        return switch.get(name, True)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> ReliabilityConfig:
    """Read a JSON or TOML reliability config (None: defaults) and apply ``RESILIENCE_*`` overrides."""
    if path is None:
        return ReliabilityConfig.from_mapping({}, source="defaults", env=env)
    data, source = read_config_file(path)
    return ReliabilityConfig.from_mapping(data, source=source, env=env)
