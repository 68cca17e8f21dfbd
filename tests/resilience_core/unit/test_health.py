"""system_state() and preflight() on a GPU-less machine, with the fake NVML standing in for GPUs."""

from __future__ import annotations

import os
from pathlib import Path

import pynvml
import pytest

from chaos.faults.nvml_fake import FakeGpu, FakeNvmlLib
from resilience_core.errors import ConfigError
from resilience_core.health import Requirements, SystemState, preflight, system_state

GIB = 1 << 30


def test_reports_cpu_memory_and_disk_from_f_bavail(tmp_path: Path) -> None:
    """CPU count, available RAM and per-path free space (f_bavail x f_frsize) are reported."""
    state = system_state([tmp_path, tmp_path / "not" / "created" / "yet"], gpus=False)
    info = os.statvfs(tmp_path)
    assert state.cpu_count >= 1
    assert 0 < state.memory_available_bytes <= state.memory_total_bytes
    assert state.disks[0].total_bytes == info.f_blocks * info.f_frsize
    assert abs(state.disks[0].free_bytes - info.f_bavail * info.f_frsize) < 64 << 20
    assert state.disks[1].path.endswith("yet"), "a missing target is measured on its nearest existing parent"
    assert state.gpu_error == "not probed"
    assert state.to_dict()["disks"][0]["path"] == str(tmp_path)


def test_gpus_and_free_vram_come_from_nvml() -> None:
    """With (fake) NVML present, every GPU's name, total and free VRAM and the driver are reported."""
    gpus = [FakeGpu("Fake A100", 40 * GIB, 10 * GIB), FakeGpu("Fake T4", 16 * GIB, 15 * GIB)]
    with FakeNvmlLib(gpus, driver_version="550.54") as lib:
        state = system_state(gpus=True)
    assert [(g.index, g.name, g.total_bytes, g.free_bytes) for g in state.gpus] == [
        (0, "Fake A100", 40 * GIB, 30 * GIB),
        (1, "Fake T4", 16 * GIB, 1 * GIB),
    ]
    assert state.driver_version == "550.54"
    assert state.gpu_error is None
    assert lib.initialized == 0, "NVML was shut down after the probe"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "no NVIDIA driver"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "no NVIDIA driver"),
        (pynvml.NVML_ERROR_UNKNOWN, "NVML failed to start"),
    ],
)
def test_missing_driver_means_no_gpu_with_the_reason(code: int, reason: str) -> None:
    """LibraryNotFound / DriverNotLoaded (and other init errors) give no GPUs and say why."""
    with FakeNvmlLib([FakeGpu()], errors={"nvmlInitWithFlags": code}):
        state = system_state(gpus=True)
    assert state.gpus == ()
    assert state.gpu_error is not None
    assert state.gpu_error.startswith(reason)


def test_gpu_lost_mid_query_is_reported_not_raised() -> None:
    """A GPU falling off the bus during the query yields no GPUs and the NVML error text."""
    with FakeNvmlLib([FakeGpu()], errors={"nvmlDeviceGetMemoryInfo": pynvml.NVML_ERROR_GPU_IS_LOST}):
        state = system_state(gpus=True)
    assert state.gpus == ()
    assert state.gpu_error is not None
    assert "query failed" in state.gpu_error


def test_cgroup_v2_memory_limit_caps_available_memory(tmp_path: Path) -> None:
    """memory.max - memory.current bounds available memory; 'max' means no limit."""
    (tmp_path / "memory.max").write_text(f"{2 * GIB}\n")
    (tmp_path / "memory.current").write_text(f"{GIB + 5}\n")
    state = system_state(gpus=False, cgroup_root=str(tmp_path))
    assert state.cgroup_memory_max_bytes == 2 * GIB
    assert state.memory_available_bytes == GIB - 5
    (tmp_path / "memory.max").write_text("max\n")
    unlimited = system_state(gpus=False, cgroup_root=str(tmp_path))
    assert unlimited.cgroup_memory_max_bytes is None
    assert unlimited.memory_available_bytes > GIB - 5


def _state(**overrides: object) -> SystemState:
    base: dict[str, object] = {
        "cpu_count": 2,
        "load_average": None,
        "memory_total_bytes": 8 * GIB,
        "memory_available_bytes": 4 * GIB,
    }
    base.update(overrides)
    return SystemState(**base)  # type: ignore[arg-type]


def test_preflight_lists_every_unmet_requirement_with_a_fix(tmp_path: Path) -> None:
    """Disk, memory, GPU count, VRAM and CPU shortfalls each come back with numbers and a fix."""
    with FakeNvmlLib([FakeGpu("Fake T4", 16 * GIB, 14 * GIB)]):
        gpu_state = system_state([tmp_path], gpus=True)
    state = _state(disks=gpu_state.disks, gpus=gpu_state.gpus, cgroup_memory_max_bytes=6 * GIB)
    requirements = Requirements(
        disk_free_bytes={str(tmp_path): 1 << 62},
        memory_bytes=6 * GIB,
        vram_bytes=8 * GIB,
        gpu_count=2,
        cpu_count=4,
    )
    unmet = {u.name: u for u in preflight(requirements, state)}
    assert sorted(unmet) == ["cpu_count", f"disk_free_bytes[{tmp_path}]", "gpu_count", "memory_bytes", "vram_bytes"]
    disk = unmet[f"disk_free_bytes[{tmp_path}]"]
    assert disk.needed == 1 << 62
    assert "free" in disk.fix
    assert str(tmp_path) in disk.fix
    assert "cgroup" in unmet["memory_bytes"].fix
    assert unmet["vram_bytes"].available == 2 * GIB
    assert "smaller model" in unmet["vram_bytes"].fix
    assert "NVIDIA driver" in unmet["gpu_count"].fix


def test_preflight_passes_when_everything_fits(tmp_path: Path) -> None:
    """Modest requirements on this machine produce no unmet requirement (the state is probed itself)."""
    assert preflight(Requirements(disk_free_bytes={str(tmp_path): 1}, memory_bytes=1, cpu_count=1)) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"memory_bytes": -1}, "requirements.memory_bytes"),
        ({"vram_bytes": 1.5}, "requirements.vram_bytes"),
        ({"disk_free_bytes": {"/x": "10GB"}}, "requirements.disk_free_bytes[/x]"),
        ({"gpu_count": True}, "requirements.gpu_count"),
    ],
)
def test_bad_requirements_raise_config_error(kwargs: dict[str, object], field: str) -> None:
    """A negative, fractional, textual or boolean requirement raises ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        Requirements(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
