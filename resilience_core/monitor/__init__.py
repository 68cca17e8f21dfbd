"""resilience_core.monitor: metrics in SQLite, threshold rules, deduplicated alerts, channels, health endpoint.

>>> from resilience_core.monitor import MetricsStore, Monitor, ThresholdRule, system_collector
>>> rules = [ThresholdRule("disk_usage_percent", warning=85, critical=95, min_occurrences=3)]
>>> monitor = Monitor(MetricsStore("logs/metrics.db"), [system_collector(["/data/models"])], rules)  # doctest: +SKIP
>>> monitor.tick().raised  # doctest: +SKIP
()

Facade only; importing it loads neither psutil, sqlite3 nor prometheus_client (each is imported on first use).
"""

from __future__ import annotations

from resilience_core.hosts import is_loopback
from resilience_core.monitor.alerts import Monitor, TickResult
from resilience_core.monitor.channels import (
    ENTRY_POINT_GROUP,
    AlertChannel,
    EmailChannel,
    LogChannel,
    WebhookChannel,
    channel_types,
    make_channel,
)
from resilience_core.monitor.health import HealthCheck, HealthService
from resilience_core.monitor.prometheus import exposition, push
from resilience_core.monitor.rules import (
    COMPARISONS,
    WARNING_FRACTION,
    Breach,
    ThresholdRule,
    evaluate_rules,
    rules_from_config,
)
from resilience_core.monitor.samples import Collector, Sample, http_probe, runtime_collector, system_collector
from resilience_core.monitor.server import HealthServer
from resilience_core.monitor.settings import MonitorSettings
from resilience_core.monitor.store import Alert, MetricsStore

__all__ = [
    "COMPARISONS",
    "ENTRY_POINT_GROUP",
    "WARNING_FRACTION",
    "Alert",
    "AlertChannel",
    "Breach",
    "Collector",
    "EmailChannel",
    "HealthCheck",
    "HealthServer",
    "HealthService",
    "LogChannel",
    "MetricsStore",
    "Monitor",
    "MonitorSettings",
    "Sample",
    "ThresholdRule",
    "TickResult",
    "WebhookChannel",
    "channel_types",
    "evaluate_rules",
    "exposition",
    "http_probe",
    "is_loopback",
    "make_channel",
    "push",
    "rules_from_config",
    "runtime_collector",
    "system_collector",
]
