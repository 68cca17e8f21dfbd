"""Fixtures for the reference installer: a local hub, a local package index, and config writing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from chaos.targets import HubServer, HubSpec, PackageIndex, model_repo

REPO = "acme/wan-mini"
SHARD_BYTES = 1_500_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub serving acme/wan-mini: two 1.5 MB safetensors shards plus configs and tokenizer files."""
    spec = HubSpec(repos=(model_repo(REPO, shards=2, shard_size_bytes=SHARD_BYTES, revisions=("main",)),), seed=11)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub"), cdn=False) as server:
        yield server


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """pypiserver over the default generated wheels (wan-app -> wan-core -> wan-utils)."""
    with PackageIndex(root=tmp_path_factory.mktemp("index")) as server:
        yield server


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write an app config (JSON) into tmp_path; keyword arguments override the defaults."""

    def write(endpoint: str, **overrides: Any) -> Path:
        body: dict[str, Any] = {
            "name": "wan-mini",
            "install_dir": "install",
            "batch_size": 8,
            "endpoints": [endpoint],
            "models": [{"repo_id": REPO, "revision": "main"}],
            "activation_bytes_per_sample": 1 << 20,
            "timeout_s": 5,
        }
        body.update(overrides)
        path = tmp_path / "app.json"
        path.write_text(json.dumps(body))
        return path

    return write


@pytest.fixture
def fake_vram(monkeypatch: pytest.MonkeyPatch) -> Callable[[int, int], None]:
    """Pin the VRAM figure the installer sees (total, free bytes) through its env override."""

    def pin(total: int, free: int) -> None:
        monkeypatch.setenv("INSTALLER_FAKE_VRAM_TOTAL", str(total))
        monkeypatch.setenv("INSTALLER_FAKE_VRAM_FREE", str(free))

    return pin
