"""Prometheus exposition of the store's newest samples and active alerts, through ``prometheus_client``.

Install the extra: ``pip install 'resilience-chaos[monitor]'``; the library is imported on first use only.
Each sample series becomes a gauge ``<prefix>_<name>`` labelled by its tags (``resilience_disk_usage_percent
{path="/data"}``); ``<prefix>_alerts_active{level=...}`` counts the active alerts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience_core.monitor.store import MetricsStore

__all__ = ["exposition", "metric_name", "push", "registry"]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(prefix: str, name: str) -> str:
    """A valid Prometheus metric name for sample ``name``.

    >>> metric_name("resilience", "disk-usage.percent")
    'resilience_disk_usage_percent'
    """
    cleaned = _INVALID.sub("_", f"{prefix}_{name}" if prefix else name)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"


class _StoreCollector:
    """A prometheus_client custom collector reading the store at every scrape."""

    def __init__(self, store: MetricsStore, prefix: str, lookback_s: float) -> None:
        self.store = store
        self.prefix = prefix
        self.lookback_s = lookback_s

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        families: dict[str, Any] = {}
        for sample in self.store.latest(since=time.time() - self.lookback_s):
            name = metric_name(self.prefix, sample.name)
            labels = sorted(_INVALID.sub("_", k) for k in sample.tags)
            family = families.get(name)
            if family is None:
                help_text = f"Newest {sample.name} sample ({sample.unit or 'value'})."
                family = families[name] = GaugeMetricFamily(name, help_text, labels=labels)
            values = [str(sample.tags.get(k, "")) for k in sorted(sample.tags)]
            if len(values) == len(family._labelnames):  # one label set per family
                family.add_metric(values, sample.value)  # no timestamp: a pushgateway refuses them
        yield from families.values()
        active = GaugeMetricFamily(
            metric_name(self.prefix, "alerts_active"), "Alerts raised and not resolved yet.", labels=["level"]
        )
        alerts = self.store.active_alerts()
        for level in ("warning", "critical"):
            active.add_metric([level], float(sum(1 for a in alerts if a.level == level)))
        yield active


def registry(store: MetricsStore, *, prefix: str = "resilience", lookback_s: float = 3600.0) -> Any:
    """A ``prometheus_client.CollectorRegistry`` exposing ``store`` (samples newer than ``lookback_s``)."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_StoreCollector(store, prefix, lookback_s))
    return reg


def exposition(store: MetricsStore, *, prefix: str = "resilience", extra: str = "") -> bytes:
    """The text format (``/metrics``) for ``store``; ``extra`` is appended (``RecoveryStats.to_prometheus()``)."""
    from prometheus_client import generate_latest

    body: bytes = generate_latest(registry(store, prefix=prefix))
    return body + extra.encode("utf-8")


def push(
    store: MetricsStore, gateway: str, *, job: str = "resilience", prefix: str = "resilience", timeout_s: float = 10.0
) -> None:
    """Push the store's gauges to a Prometheus pushgateway at ``gateway`` (``http://host:9091``)."""
    from prometheus_client import push_to_gateway

    push_to_gateway(gateway, job=job, registry=registry(store, prefix=prefix), timeout=timeout_s)
