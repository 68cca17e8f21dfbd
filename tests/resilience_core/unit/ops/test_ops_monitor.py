"""The monitor over a real SQLite store: retention, deduplicated alerts, escalation, resolution, redelivery."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import pytest

from resilience_core.errors import ConfigError
from resilience_core.monitor import (
    ENTRY_POINT_GROUP,
    LogChannel,
    MetricsStore,
    Monitor,
    Sample,
    ThresholdRule,
    channel_types,
    make_channel,
    system_collector,
)
from resilience_core.monitor.store import Alert

T0 = time.time()


class Recorder:
    """A channel keeping what it was sent; fails the first ``fail_first`` sends."""

    def __init__(self, name: str = "recorder", fail_first: int = 0) -> None:
        self.name = name
        self.fail_first = fail_first
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionRefusedError(111, "receiver down")
        self.sent.append(alert)


def _feed(values: list[float], metric: str = "disk_usage_percent", tags: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    readings = iter(values)

    def collect(now: float) -> list[Sample]:
        return [Sample(metric, next(readings), "percent", now, tags or {})]

    return collect


def test_store_keeps_samples_in_order_and_filters_tags(tmp_path: Path) -> None:
    """Samples come back oldest first, by time range and by tag; latest() has one per series."""
    store = MetricsStore(tmp_path / "m.db")
    store.write([Sample("d", float(i), ts=T0 + i, tags={"path": "/a" if i % 2 else "/b"}) for i in range(6)])
    assert [s.value for s in store.query("d", since=T0 + 2)] == [2, 3, 4, 5]
    assert [s.value for s in store.query("d", since=T0, until=T0 + 3, tags={"path": "/a"})] == [1, 3]
    assert sorted((dict(s.tags)["path"], s.value) for s in store.latest()) == [("/a", 5.0), ("/b", 4.0)]
    assert store.integrity_check() == "ok"


def test_retention_is_bounded_by_age_and_rows(tmp_path: Path) -> None:
    """Samples older than retention_s and rows beyond max_rows are pruned, oldest first."""
    store = MetricsStore(tmp_path / "m.db", retention_s=100.0, max_rows=5)
    store.write([Sample("x", float(i), ts=T0 - 1000 + i) for i in range(3)])  # pruned on write: too old
    assert store.count() == 0
    store.write([Sample("x", float(i), ts=T0 + i) for i in range(8)])
    store.prune(now=T0)
    assert [s.value for s in store.query("x", since=0)] == [3, 4, 5, 6, 7]


def test_a_persisting_breach_raises_one_alert_then_resolves(tmp_path: Path) -> None:
    """Five breaching ticks raise one alert (min_occurrences=2), a normal sample resolves it; the channel got one."""
    channel = Recorder()
    rule = ThresholdRule("disk_usage_percent", warning=85, critical=95, min_occurrences=2)
    monitor = Monitor(MetricsStore(tmp_path / "m.db"), [_feed([97, 97, 97, 97, 97, 40])], [rule], [channel])
    results = [monitor.tick(now=T0 + i) for i in range(6)]
    assert [len(r.raised) for r in results] == [0, 1, 0, 0, 0, 0]
    assert [len(r.resolved) for r in results] == [0, 0, 0, 0, 0, 1]
    assert [a.level for a in channel.sent] == ["critical"]
    assert monitor.store.active_alerts() == []
    (alert,) = monitor.store.alerts()
    assert alert.resolved == T0 + 5
    assert "97" in alert.message
    assert "critical threshold 95" in alert.message


def test_escalation_and_de_escalation_are_new_alerts(tmp_path: Path) -> None:
    """warning -> critical -> warning raises three alerts, each resolving the one before."""
    channel = Recorder()
    rule = ThresholdRule("cpu", warning=70, critical=90, min_occurrences=1, window_s=1.5)
    monitor = Monitor(MetricsStore(tmp_path / "m.db"), [_feed([75, 95, 80], "cpu")], [rule], [channel])
    for i in range(3):
        monitor.tick(now=T0 + i)
    assert [a.level for a in channel.sent] == ["warning", "critical", "warning"]
    assert [a.level for a in monitor.store.active_alerts()] == ["warning"]


def test_each_series_alerts_on_its_own(tmp_path: Path) -> None:
    """Two disks: only the full one alerts, and its key names the path."""
    store = MetricsStore(tmp_path / "m.db")

    def disks(now: float) -> list[Sample]:
        return [
            Sample("disk_usage_percent", 99, ts=now, tags={"path": "/full"}),
            Sample("disk_usage_percent", 10, ts=now, tags={"path": "/fine"}),
        ]

    monitor = Monitor(store, [disks], [ThresholdRule("disk_usage_percent", critical=95)], [Recorder()])
    (alert,) = monitor.tick(now=T0).raised
    assert alert.tags == {"path": "/full"}
    assert "/full" in alert.key


def test_a_failed_delivery_is_retried_next_tick_and_never_duplicated(tmp_path: Path) -> None:
    """A channel that is down for two ticks still gets the alert exactly once; the store counts the attempts."""
    channel = Recorder(fail_first=2)
    rule = ThresholdRule("disk_usage_percent", critical=95)
    monitor = Monitor(MetricsStore(tmp_path / "m.db"), [_feed([99] * 4)], [rule], [channel])
    results = [monitor.tick(now=T0 + i) for i in range(4)]
    assert [len(r.failed_deliveries) for r in results] == [1, 1, 0, 0]
    assert [len(r.delivered) for r in results] == [0, 0, 1, 0]
    assert len(channel.sent) == 1
    (delivery,) = monitor.store.deliveries()
    assert delivery["attempts"] == 3
    assert delivery["delivered"] is not None


def test_two_monitors_on_one_store_raise_one_alert(tmp_path: Path) -> None:
    """Dedup lives in the store: a second monitor process seeing the same breach raises nothing new."""
    rule = ThresholdRule("disk_usage_percent", critical=95)
    first = Monitor(MetricsStore(tmp_path / "m.db"), [_feed([99])], [rule])
    second = Monitor(MetricsStore(tmp_path / "m.db"), [_feed([99])], [rule])
    assert len(first.tick(now=T0).raised) == 1
    assert second.tick(now=T0 + 1).raised == ()


def test_a_broken_collector_is_reported_not_fatal(tmp_path: Path) -> None:
    """One collector raising does not stop the others; its error is in the tick result."""

    def broken(now: float) -> list[Sample]:
        raise RuntimeError("probe exploded")

    monitor = Monitor(MetricsStore(tmp_path / "m.db"), [broken, _feed([1.0])])
    result = monitor.tick(now=T0)
    assert result.samples == 1
    assert "probe exploded" in result.collector_errors[0]


def test_system_collector_samples_the_machine(tmp_path: Path) -> None:
    """psutil probes: cpu, memory and the disk of each path, tagged by path."""
    names = {(s.name, s.tags.get("path")) for s in system_collector([tmp_path])(T0)}
    assert {("cpu_usage_percent", None), ("memory_usage_percent", None)} <= names
    assert ("disk_usage_percent", str(tmp_path)) in names


def test_log_channel_logs_the_alert(caplog: pytest.LogCaptureFixture) -> None:
    """The log channel writes one record at ERROR for critical alerts, with the alert as extra."""
    alert = Alert("id1", "k", "disk", "disk", "critical", 99.0, 95.0, "disk full", {}, "", T0, None)
    with caplog.at_level(logging.WARNING, logger="resilience_core.monitor.alerts"):
        LogChannel.from_config("log", {}).send(alert)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.alert["id"] == "id1"


def test_channels_are_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution registering under resilience.alert_channels adds a channel type, like the built-ins."""
    dist = tmp_path / "pager_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pager-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\npager = pager_plugin:PagerChannel\n")
    (tmp_path / "pager_plugin.py").write_text(
        "class PagerChannel:\n"
        "    def __init__(self, name, number):\n        self.name, self.number = name, number\n"
        "    @classmethod\n"
        "    def from_config(cls, name, configuration):\n        return cls(name, configuration['number'])\n"
        "    def send(self, alert):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"log", "webhook", "email", "pager"} <= set(channel_types())
    channel = make_channel({"name": "oncall", "type": "pager", "configuration": {"number": "555"}})
    assert (channel.name, channel.number) == ("oncall", "555")  # type: ignore[union-attr]
    sys.modules.pop("pager_plugin", None)


def test_make_channel_errors_name_the_channel() -> None:
    """An unknown type lists the known ones; a bad option names its channel; enabled=false is no channel."""
    with pytest.raises(ConfigError, match=r"known: .*email.*log.*webhook"):
        make_channel({"name": "x", "type": "carrier-pigeon"})
    with pytest.raises(ConfigError, match=r"alert_channels\['hook'\].configuration.url"):
        make_channel({"name": "hook", "type": "webhook", "configuration": {}})
    with pytest.raises(ConfigError, match="to_emails"):
        make_channel(
            {
                "name": "mail",
                "type": "email",
                "configuration": {"smtp_server": "h", "from_email": "a@b", "to_emails": []},
            }
        )
    assert make_channel({"name": "off", "type": "log", "enabled": False}) is None


def test_alert_json_shape(tmp_path: Path) -> None:
    """What channels send: every field of the alert, JSON-ready."""
    monitor = Monitor(
        MetricsStore(tmp_path / "m.db"), [_feed([99])], [ThresholdRule("disk_usage_percent", critical=95)]
    )
    (alert,) = monitor.tick(now=T0).raised
    data = json.loads(json.dumps(alert.to_dict()))
    assert set(data) == {
        "id",
        "key",
        "rule",
        "metric",
        "level",
        "value",
        "threshold",
        "message",
        "tags",
        "instance",
        "raised",
        "resolved",
    }
