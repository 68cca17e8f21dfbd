"""Fixtures for resilience_core.hub: a real local hub (and mirror) serving small generated repositories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# huggingface_hub reads these at import time (reference §7); set them before any test imports it.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from chaos.targets import HubServer, HubSpec, model_repo
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime

REPO = "acme/wan-mini"
SHARD_BYTES = 1_500_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub serving acme/wan-mini (2 safetensors shards of 1.5 MB, configs, tokenizer), revisions main and v1."""
    spec = HubSpec(repos=(model_repo(REPO, shards=2, shard_size_bytes=SHARD_BYTES, revisions=("main", "v1")),), seed=7)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub"), cdn=False) as server:
        yield server


@pytest.fixture
def runtime() -> Runtime:
    """A runtime whose backoff waits go through a fake clock (no real sleeping)."""
    return Runtime(clock=FakeClock())


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A fresh huggingface_hub cache folder."""
    return tmp_path / "cache"
