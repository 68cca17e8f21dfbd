"""The health endpoint over a real model cache: 200, then 503 once file.corrupt damages a weight file, then 200
after ensure repairs it; /health/models and /metrics alongside."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import chaos
from chaos.targets import HubServer, HubSpec, model_repo
from resilience_core.config import ReliabilityConfig
from resilience_core.errors import ConfigError
from resilience_core.hub import ensure_model
from resilience_core.hub.catalog import Catalog, CorruptionMarks, ModelRef, ModelWatch
from resilience_core.monitor import HealthServer, HealthService, MetricsStore, Sample, exposition
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime

REPO = "acme/ops-mini"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub serving one small model (a 300 kB safetensors shard and its configs)."""
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=300_000),), seed=3)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub")) as server:
        yield server


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _ensure(hub: HubServer, cache: Path) -> Any:
    return ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=Runtime(clock=FakeClock()))


def test_health_flips_to_503_on_a_corrupted_model_and_back_after_ensure(hub: HubServer, tmp_path: Path) -> None:
    """The issue's bar, with the chaos fault file.corrupt against a cache that ensure_model filled."""
    cache = tmp_path / "cache"
    snapshot = _ensure(hub, cache).path
    catalog = Catalog(models=(ModelRef(REPO),), cache_dir=cache, sources=(hub.url,))
    store = MetricsStore(tmp_path / "metrics.db")
    config = ReliabilityConfig.from_mapping(
        {"monitoring": {"alert_thresholds": {"disk_usage_percent": 99.9, "memory_usage_percent": 99.9}}}, env={}
    )
    service = HealthService.from_config(config, disk_paths=[cache], models=ModelWatch(catalog), store=store)
    with HealthServer(service, port=0, metrics=lambda: exposition(store)) as server:
        status, body = _get(server.url + "/health")
        assert status == 200, body
        assert json.loads(body)["status"] == "healthy"
        with chaos.inject(
            "file.corrupt", root=str(snapshot), glob="*.safetensors", mode="bitflip", when="before"
        ) as fault:
            assert fault.triggered
        status, body = _get(server.url + "/health")
        assert status == 503
        failing = [c for c in json.loads(body)["checks"] if not c["ok"]]
        assert [c["name"] for c in failing] == [f"model[{REPO}@main]"]
        assert "sha256" in failing[0]["detail"]
        assert "models ensure --only" in failing[0]["fix"]
        status, body = _get(server.url + "/health/models")
        assert status == 503
        assert json.loads(body)["summary"] == {"total": 1, "healthy": 0, "states": {"failed": 1}, "status": "unhealthy"}
        repaired = _ensure(hub, cache)
        assert repaired.repaired
        status, body = _get(server.url + "/health")
        assert status == 200, body
        store.write([Sample("disk_usage_percent", 12.5, "percent", time.time(), {"path": str(cache)})])
        status, metrics = _get(server.url + "/metrics")
        assert status == 200
        assert f'resilience_disk_usage_percent{{path="{cache}"}} 12.5' in metrics.decode()


def test_a_marked_model_is_unhealthy_until_ensured(hub: HubServer, tmp_path: Path) -> None:
    """mark-corrupted makes /health 503 even though the bytes verify; clearing the mark (ensure) gives 200."""
    cache = tmp_path / "cache"
    _ensure(hub, cache)
    catalog = Catalog(models=(ModelRef(REPO),), cache_dir=cache)
    service = HealthService(models=ModelWatch(catalog), disk_usage_percent=100.0, memory_usage_percent=100.0)
    with HealthServer(service, port=0) as server:
        CorruptionMarks(cache).mark([ModelRef(REPO)], reason="operator saw NaNs")
        status, body = _get(server.url + "/health")
        assert status == 503
        assert b"operator saw NaNs" in body
        CorruptionMarks(cache).clear([ModelRef(REPO)])
        assert _get(server.url + "/health")[0] == 200
        assert _get(server.url + "/nowhere")[0] == 404


def test_binding_beyond_loopback_needs_allow_remote() -> None:
    """0.0.0.0 is refused with the fix named; with allow_remote it is accepted (not started here)."""
    service = HealthService()
    with pytest.raises(ConfigError, match="--allow-remote"):
        HealthServer(service, host="0.0.0.0")
    assert HealthServer(service, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    with HealthServer(service, host="::1", port=0) as server:
        assert server.url.startswith("http://[::1]:")
