"""The monitoring config file: the seed's ``production_monitoring_config.json`` shape, JSON or TOML.

.. code-block:: json

    {"enabled": true, "check_interval_seconds": 60, "metrics_retention_days": 30,
     "database": "logs/metrics.db", "disk_paths": ["/data/models"],
     "alert_thresholds": [{"metric_name": "error_rate", "warning_threshold": 0.05, "critical_threshold": 0.1,
                           "comparison_operator": "greater_than", "time_window_minutes": 5, "min_occurrences": 3}],
     "alert_channels": [{"name": "log", "type": "log", "enabled": true, "configuration": {"log_level": "ERROR"}}],
     "pushgateway": {"url": "http://127.0.0.1:9091", "job": "resilience"}}

Without ``alert_thresholds`` the rules come from the reliability config's ``monitoring.alert_thresholds``;
without ``check_interval_seconds`` from its ``monitoring.health_check_interval_seconds``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience_core.config.loader import read_config_file
from resilience_core.errors import ConfigError
from resilience_core.monitor.rules import ThresholdRule, rules_from_config

if TYPE_CHECKING:
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.monitor.alerts import Monitor
    from resilience_core.monitor.samples import Collector
    from resilience_core.monitor.store import MetricsStore

__all__ = ["MonitorSettings"]

_KEYS = (
    "enabled",
    "check_interval_seconds",
    "health_check_timeout_seconds",
    "metrics_retention_days",
    "database",
    "disk_paths",
    "alert_thresholds",
    "alert_channels",
    "pushgateway",
    "probes",
)


def _fail(key: str, value: Any, source: str, allowed: str) -> ConfigError:
    return ConfigError(
        f"{key}={value!r} from {source} must be {allowed}; fix: set {key} to {allowed}",
        field=key,
        value=value,
        source=source,
        allowed=allowed,
    )


def _number(data: Mapping[str, Any], key: str, default: float, lo: float, hi: float, source: str) -> float:  # noqa: PLR0917 -- a range check reads best positional
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _fail(key, value, source, f"a number in {lo:g}..{hi:g}")
    return float(value)


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """What the monitor runs with; build it with :meth:`load` or :meth:`from_mapping`.

    ``probes`` are HTTP endpoints to watch (``[{"name": "hub", "url": "http://127.0.0.1:8080/api/..."}]``).
    """

    enabled: bool = True
    check_interval_s: float = 60.0
    health_check_timeout_s: float = 30.0
    retention_s: float = 30 * 86400.0
    database: Path = Path("logs/metrics.db")
    disk_paths: tuple[str, ...] = (".",)
    rules: tuple[ThresholdRule, ...] = ()
    channels: tuple[Mapping[str, Any], ...] = ({"name": "log", "type": "log", "enabled": True},)
    pushgateway: Mapping[str, str] | None = None
    probes: tuple[Mapping[str, str], ...] = field(default_factory=tuple)
    source: str = "defaults"

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "argument",
        config: ReliabilityConfig | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> MonitorSettings:
        """Validate seed-shaped ``data``; relative paths are taken from ``base_dir`` (default: the cwd)."""
        if not isinstance(data, Mapping):
            raise _fail("<root>", data, source, "a table of monitoring settings")
        for key in data:
            if key not in _KEYS:
                raise ConfigError(
                    f"unknown key {key!r} in monitoring settings from {source}; known keys: {', '.join(_KEYS)}",
                    field=str(key),
                    value=data[key],
                    source=source,
                    allowed=", ".join(_KEYS),
                )
        from resilience_core.config.reliability import ReliabilityConfig

        cfg = config if config is not None else ReliabilityConfig.from_mapping({}, source="defaults", env={})
        enabled = data.get("enabled", cfg.monitoring.enable_health_monitoring)
        if not isinstance(enabled, bool):
            raise _fail("enabled", enabled, source, "true or false")
        interval = _number(
            data, "check_interval_seconds", cfg.monitoring.health_check_interval_seconds, 0.01, 86400, source
        )
        timeout = _number(data, "health_check_timeout_seconds", 30.0, 0.01, 3600, source)
        retention_days = _number(data, "metrics_retention_days", 30, 0.0001, 3650, source)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        database = data.get("database", "logs/metrics.db")
        if not isinstance(database, str) or not database:
            raise _fail("database", database, source, "a file path such as 'logs/metrics.db'")
        disk_paths = data.get("disk_paths", ["."])
        if not isinstance(disk_paths, list) or not all(isinstance(p, str) and p for p in disk_paths):
            raise _fail("disk_paths", disk_paths, source, "a list of directory paths")
        raw_rules = data.get("alert_thresholds")
        if raw_rules is None:
            rules = tuple(rules_from_config(cfg))
        elif isinstance(raw_rules, list):
            rules = tuple(ThresholdRule.from_mapping(r, source=source, index=i) for i, r in enumerate(raw_rules))
        else:
            raise _fail("alert_thresholds", raw_rules, source, "a list of rules")
        channels = data.get("alert_channels", [{"name": "log", "type": "log", "enabled": True}])
        if not isinstance(channels, list) or not all(isinstance(c, Mapping) for c in channels):
            raise _fail("alert_channels", channels, source, "a list of channel tables")
        names = [str(c.get("name") or c.get("type")) for c in channels]
        if len(set(names)) != len(names):
            raise _fail("alert_channels", names, source, "channels with distinct names")
        push = data.get("pushgateway")
        if push is not None and not (isinstance(push, Mapping) and isinstance(push.get("url"), str)):
            raise _fail("pushgateway", push, source, "a table with url (and job)")
        probes = data.get("probes", [])
        if not isinstance(probes, list) or not all(
            isinstance(p, Mapping)
            and isinstance(p.get("url"), str)
            and str(p["url"]).startswith(("http://", "https://"))
            for p in probes
        ):
            raise _fail("probes", probes, source, "a list of {name, url} tables with http(s) URLs")
        return cls(
            enabled=enabled,
            check_interval_s=interval,
            health_check_timeout_s=timeout,
            retention_s=retention_days * 86400.0,
            database=base / database,
            disk_paths=tuple(str(base / p) for p in disk_paths),
            rules=rules,
            channels=tuple(dict(c) for c in channels),
            pushgateway={"url": str(push["url"]), "job": str(push.get("job", "resilience"))} if push else None,
            probes=tuple({"name": str(p.get("name") or p["url"]), "url": str(p["url"])} for p in probes),
            source=source,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, *, config: ReliabilityConfig | None = None) -> MonitorSettings:
        """Read a ``.json`` or ``.toml`` monitoring config (None: defaults, rules from ``config``)."""
        if path is None:
            return cls.from_mapping({}, source="defaults", config=config)
        data, source = read_config_file(path, what="monitoring config", shape=None)
        return cls.from_mapping(data, source=source, config=config, base_dir=Path(path).parent)

    def store(self) -> MetricsStore:
        """The metrics store at ``database``, with ``metrics_retention_days`` retention."""
        from resilience_core.monitor.store import MetricsStore

        return MetricsStore(self.database, retention_s=self.retention_s)

    def build(self, *, collectors: Iterable[Collector] = (), instance: str = "") -> Monitor:
        """A :class:`~resilience_core.monitor.alerts.Monitor` with the machine probes (``disk_paths``), the HTTP
        ``probes``, ``collectors`` and the configured rules and channels."""
        from resilience_core.monitor.alerts import Monitor
        from resilience_core.monitor.channels import make_channel
        from resilience_core.monitor.samples import http_probe, system_collector

        probes: list[Collector] = [system_collector(self.disk_paths)]
        probes += [http_probe(p["url"], name=p["name"], timeout_s=self.health_check_timeout_s) for p in self.probes]
        channels = [make_channel(spec, index=i) for i, spec in enumerate(self.channels)]
        return Monitor(
            self.store(),
            [*probes, *collectors],
            self.rules,
            [c for c in channels if c is not None],
            instance=instance,
        )
