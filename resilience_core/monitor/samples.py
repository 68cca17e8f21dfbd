"""Metric samples and the collectors that take them: machine probes (psutil), the runtime's stats, HTTP probes.

A collector is any callable taking the wall-clock time (Unix seconds) and returning samples; the monitor
calls each once per tick. Custom collectors are plain functions:

>>> def queue_size(now: float) -> list[Sample]:
...     return [Sample("queue_size", 3.0, unit="count", ts=now)]
>>> queue_size(0.0)[0].name
'queue_size'
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resilience_core.analytics import ErrorAnalytics
    from resilience_core.recovery.runtime import Runtime

__all__ = ["Collector", "Sample", "http_probe", "runtime_collector", "system_collector"]

_GB = 1e9


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement: ``name`` (``disk_usage_percent``), ``value``, ``unit``, when (``ts``, Unix seconds)
    and ``tags`` that tell series apart (``{"path": "/data/models"}``)."""

    name: str
    value: float
    unit: str = ""
    ts: float = 0.0
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.value, int | float) or not math.isfinite(self.value):
            raise ValueError(f"sample {self.name!r}={self.value!r} needs a name and a finite number")


Collector = Callable[[float], Iterable[Sample]]
"""A callable taking the tick's wall-clock time and returning samples."""


def system_collector(paths: Sequence[str | os.PathLike[str]] = (".",)) -> Collector:
    """CPU, memory, network and, for each of ``paths``, disk usage (psutil, imported on the first tick).

    Disk usage is what an unprivileged process sees: used / (used + available), the way ``df`` reports it.
    """
    watched = [os.fspath(p) for p in paths]

    def collect(now: float) -> list[Sample]:
        import psutil

        memory = psutil.virtual_memory()
        out = [
            Sample("cpu_usage_percent", float(psutil.cpu_percent(interval=None)), "percent", now),
            Sample("memory_usage_percent", float(memory.percent), "percent", now),
            Sample("memory_available_gb", memory.available / _GB, "GB", now),
        ]
        for path in watched:
            probe = os.path.abspath(path)
            while not os.path.exists(probe) and os.path.dirname(probe) != probe:
                probe = os.path.dirname(probe)
            usage = psutil.disk_usage(probe)
            tags = {"path": path}
            out.append(Sample("disk_usage_percent", float(usage.percent), "percent", now, tags))
            out.append(Sample("disk_free_gb", usage.free / _GB, "GB", now, tags))
        net = psutil.net_io_counters()
        if net is not None:
            out.append(Sample("network_bytes_sent", float(net.bytes_sent), "bytes", now))
            out.append(Sample("network_bytes_recv", float(net.bytes_recv), "bytes", now))
        return out

    return collect


def runtime_collector(runtime: Runtime, analytics: ErrorAnalytics | None = None) -> Collector:
    """The runtime's recovery figures: failed attempts, calls recovered and given up, ``error_rate`` (the share of
    failed calls that were not recovered, 0..1), ``recovery_rate``, open breakers, and with ``analytics`` the
    ``errors_per_minute``."""

    def collect(now: float) -> list[Sample]:
        stats = runtime.stats.to_dict()
        calls = stats["calls"]
        failed = calls["failed"]
        out = [
            Sample("failed_attempts_total", float(stats["failures"]), "count", now),
            Sample("calls_recovered_total", float(calls["recovered"]), "count", now),
            Sample("calls_gave_up_total", float(calls["gave_up"]), "count", now),
            Sample("error_rate", calls["gave_up"] / failed if failed else 0.0, "ratio", now),
            Sample("recovery_rate", calls["recovered"] / failed if failed else 1.0, "ratio", now),
        ]
        breakers = runtime.breakers.states()
        out.append(Sample("circuit_breakers_open", float(sum(s != "closed" for s in breakers.values())), "count", now))
        if analytics is not None:
            out.append(Sample("errors_per_minute", analytics.error_rate_per_minute(), "per_minute", now))
        return out

    return collect


def http_probe(url: str, *, name: str = "endpoint", timeout_s: float = 5.0) -> Collector:
    """``endpoint_up`` (1 when ``url`` answers below 500 within ``timeout_s``, else 0) and ``response_time_ms``,
    tagged ``{"endpoint": name}``. No retry: a probe reports what a single request sees."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        from resilience_core.errors import ConfigError

        raise ConfigError(
            f"http_probe url={url!r} must start with http:// or https://",
            field="url",
            value=url,
            source="argument",
            allowed="an http(s) URL",
        )

    def collect(now: float) -> list[Sample]:
        started = time.monotonic()
        up = 0.0
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 -- scheme checked above
                response.read(1 << 16)
                up = 1.0 if response.status < 500 else 0.0
        except urllib.error.HTTPError as error:
            up = 1.0 if error.code < 500 else 0.0
        except (OSError, ValueError):
            up = 0.0
        elapsed_ms = (time.monotonic() - started) * 1000.0
        tags = {"endpoint": name}
        return [
            Sample("endpoint_up", up, "bool", now, tags),
            Sample("response_time_ms", elapsed_ms, "ms", now, tags),
        ]

    return collect
