"""Preflight: free disk, available RAM, and VRAM (NVML, or a fake figure from the environment).

VRAM comes from, in order: ``INSTALLER_FAKE_VRAM_TOTAL`` / ``INSTALLER_FAKE_VRAM_FREE`` (bytes; set by tests
and chaos scenarios on machines without a GPU, and to pin a figure on machines with one), then pynvml
through :func:`resilience_core.health.system_state`. The installer never imports the chaos harness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from resilience_core.errors import ConfigError
from resilience_core.health import Requirements, preflight, system_state
from scenarios.installer.config import AppConfig

__all__ = ["PreflightFailed", "Vram", "probe_vram", "run_preflight"]

FAKE_TOTAL_ENV = "INSTALLER_FAKE_VRAM_TOTAL"
FAKE_FREE_ENV = "INSTALLER_FAKE_VRAM_FREE"


class PreflightFailed(RuntimeError):
    """The machine cannot take this install; the message lists each unmet requirement and its fix."""


@dataclass(frozen=True, slots=True)
class Vram:
    """The first GPU's memory and where the figure came from (``env``, ``nvml``)."""

    total_bytes: int
    free_bytes: int
    source: str


def _env_bytes(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"env:{name}={raw!r} must be a number of bytes >= 0",
            field=name,
            value=raw,
            source=f"env:{name}",
            allowed=">= 0",
        )
    return value


def probe_vram() -> Vram | None:
    """The VRAM the first load can use, or None when there is no GPU and no fake figure."""
    total, free = _env_bytes(FAKE_TOTAL_ENV), _env_bytes(FAKE_FREE_ENV)
    if total is not None or free is not None:
        total = total if total is not None else free or 0
        return Vram(total, free if free is not None else total, "env")
    state = system_state((), gpus=True)
    if state.gpus:
        gpu = state.gpus[0]
        return Vram(gpu.total_bytes, gpu.free_bytes, "nvml")
    return None


def run_preflight(config: AppConfig) -> dict[str, object]:
    """Check disk and RAM against the config's minimums; raise :class:`PreflightFailed` listing what is short."""
    probe_dir = config.install_dir
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    requirements = Requirements(
        disk_free_bytes={os.fspath(probe_dir): config.min_free_disk_bytes} if config.min_free_disk_bytes else {},
        memory_bytes=config.min_memory_bytes or None,
    )
    state = system_state([probe_dir], gpus=False)
    unmet = preflight(requirements, state)
    if unmet:
        raise PreflightFailed("; ".join(f"{u.name}: {u.fix}" for u in unmet))
    vram = probe_vram()
    return {
        "disk_free_bytes": state.disks[0].free_bytes if state.disks else None,
        "memory_available_bytes": state.memory_available_bytes,
        "vram_total_bytes": vram.total_bytes if vram else None,
        "vram_free_bytes": vram.free_bytes if vram else None,
        "vram_source": vram.source if vram else None,
    }
