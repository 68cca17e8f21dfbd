"""The monitor under faults: a disk that fills up and a hub that stops answering raise exactly the expected alerts,
once each, delivered once each to a webhook, also when the webhook's own link is down at first.

- **disk.full**: ``resilience monitor check`` runs in a private mount namespace whose data folder is a small
  tmpfs, filled until the kernel answers ENOSPC (backend ``tmpfs-namespace``; skipped with the reason where no
  namespace can be made). Three ticks there must raise one critical ``disk_usage_percent`` alert for that
  folder (two occurrences needed); one tick on the real disk afterwards resolves it.
- **network**: an in-process monitor probes the hub through the proxy ``hub`` while a seeded fault
  (``network.down``, ``network.timeout`` or ``network.reset_peer``) is armed on it, and delivers through the
  proxy ``alerts`` while that one is down. One critical ``endpoint_up`` alert is raised; it reaches the
  receiver once, on the first tick after the faults are lifted, which also resolves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from resilience_core.monitor import MetricsStore, Monitor, MonitorSettings, ThresholdRule, http_probe, make_channel
from scenarios.conftest import ROOT, VAE_REPO

BACKEND = "tmpfs-namespace"  # never "auto": the filler backend would fill the real filesystem
MIB = 1 << 20

# Runs inside the namespace: fill FOLDER until the disk refuses, then tick the monitor three times.
FILL_THEN_CHECK = r"""
import os, sys
from chaos.cli import main
folder, settings = sys.argv[1], sys.argv[2]
chunk, index = b"\xa5" * (1 << 20), 0
try:
    while True:
        with open(os.path.join(folder, f"ballast-{index}.bin"), "wb") as handle:
            handle.write(chunk)
        index += 1
except OSError:
    pass
sys.exit(main(["monitor", "check", "--monitoring", settings, "--count", "3", "--instance", "namespace"]))
"""


class AlertReceiver(ThreadingHTTPServer):
    """A webhook receiver keeping every alert body it was POSTed."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.alerts: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def received(self, ids: set[str]) -> list[str]:
        """The alert ids received among ``ids``, one entry per POST (duplicates kept)."""
        with self.lock:
            return [a["id"] for a in self.alerts if a["id"] in ids]


class _Receive(BaseHTTPRequestHandler):
    server: AlertReceiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's name
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            self.server.alerts.append(body["alert"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="session")
def alert_receiver() -> Iterator[AlertReceiver]:
    """The webhook receiver, for the whole session."""
    server = AlertReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def alerts_proxy(chaos_proxy: Any, alert_receiver: AlertReceiver) -> Any:
    """The proxy named ``alerts`` in front of the webhook receiver."""
    return chaos_proxy.create_proxy("alerts", upstream=f"127.0.0.1:{alert_receiver.server_address[1]}")


def _webhook(url: str) -> dict[str, Any]:
    return {"name": "hook", "type": "webhook", "configuration": {"url": url, "retries": 1, "retry_delay_seconds": 0.05}}


def _assert_delivered_once(store: MetricsStore, receiver: AlertReceiver) -> None:
    ids = {a.id for a in store.alerts()}
    received = receiver.received(ids)
    assert sorted(received) == sorted(ids), f"duplicates or misses: raised {sorted(ids)}, received {received}"


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
def test_disk_full_raises_one_disk_alert(chaos: Any, tmp_path: Path, alert_receiver: AlertReceiver) -> None:
    """A full data disk: one critical disk_usage_percent alert for it, delivered once, resolved once space is back."""
    data = tmp_path / "data"
    data.mkdir()
    settings = tmp_path / "monitoring.json"
    receiver_url = f"http://127.0.0.1:{alert_receiver.server_address[1]}/hook"
    rule = {"metric_name": "disk_usage_percent", "warning_threshold": 80.0, "critical_threshold": 95.0}
    rule |= {"time_window_minutes": 10, "min_occurrences": 2}
    settings.write_text(
        json.dumps(
            {
                "database": str(tmp_path / "metrics.db"),
                "disk_paths": [str(data)],
                "alert_thresholds": [rule],
                "alert_channels": [_webhook(receiver_url)],
            }
        )
    )
    free_bytes = (4 + chaos.rng.randrange(0, 4)) * MIB
    argv = [sys.executable, "-c", FILL_THEN_CHECK, str(data), str(settings)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with chaos.inject(
        "disk.full", path=str(data), free_bytes=free_bytes, backend=BACKEND, target={"kind": "subprocess"}
    ) as fault:
        argv, env = fault.wrap_command(argv, env)
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    ticks = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    chaos.note("ticks", raised=[len(t["raised"]) for t in ticks], free_bytes=free_bytes, backend=fault.backend)
    assert [len(t["raised"]) for t in ticks] == [0, 1, 0]
    (alert,) = ticks[1]["raised"]
    assert (alert["metric"], alert["level"], alert["tags"]) == ("disk_usage_percent", "critical", {"path": str(data)})
    chaos.mark_triggered()  # the namespace's own samples prove the disk was full (fanotify may not see it)
    after = MonitorSettings.load(settings).build().tick()  # the real disk: back below the thresholds
    assert [a.id for a in after.resolved] == [alert["id"]]
    store = MetricsStore(tmp_path / "metrics.db")
    assert [a.id for a in store.alerts()] == [alert["id"]]
    _assert_delivered_once(store, alert_receiver)


NETWORK_FAULTS: tuple[tuple[str, dict[str, int]], ...] = (
    ("network.down", {}),
    ("network.timeout", {"timeout_ms": 0}),
    ("network.reset_peer", {"after_bytes": 0}),
)


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
def test_network_faults_raise_one_endpoint_alert(
    chaos: Any,
    tmp_path: Path,
    hub_proxy: Any,
    alerts_proxy: Any,
    alert_receiver: AlertReceiver,
) -> None:
    """The hub unreachable through its proxy: one critical endpoint_up alert, delivered once after the alerts
    link comes back, resolved when the hub answers again."""
    name, params = NETWORK_FAULTS[chaos.index % len(NETWORK_FAULTS)]
    probe = http_probe(f"http://{hub_proxy.listen}/api/models/{VAE_REPO}", name="hub", timeout_s=0.5)
    channel = make_channel(_webhook(f"http://{alerts_proxy.listen}/hook"))
    assert channel is not None
    store = MetricsStore(tmp_path / "metrics.db")
    rule = ThresholdRule("endpoint_up", critical=1.0, comparison="less_than", min_occurrences=2, window_s=600.0)
    monitor = Monitor(store, [probe], [rule], [channel])
    assert monitor.tick().raised == ()  # the hub answers: no alert
    with chaos.inject(name, proxy="hub", **params), chaos.inject("network.down", proxy="alerts"):
        during = [monitor.tick() for _ in range(3)]
    after = monitor.tick()
    chaos.note(
        "ticks", fault=name, raised=[len(t.raised) for t in during], failed=[len(t.failed_deliveries) for t in during]
    )
    assert [len(t.raised) for t in during] == [0, 1, 0]
    (alert,) = during[1].raised
    assert (alert.metric, alert.level, alert.tags) == ("endpoint_up", "critical", {"endpoint": "hub"})
    assert [t.delivered for t in during] == [(), (), ()]  # the alerts link is down
    assert [a.id for a in after.resolved] == [alert.id]
    assert after.delivered == ((alert.id, "hook"),)
    _assert_delivered_once(store, alert_receiver)
