"""What the machine offers right now, and whether that is enough: ``system_state()`` and ``preflight()``.

>>> state = system_state(["."])
>>> state.cpu_count >= 1 and state.disks[0].free_bytes > 0
True
>>> preflight(Requirements(disk_free_bytes={".": 1 << 60}), state)[0].name
'disk_free_bytes[.]'

Disk space is ``f_bavail`` (what an unprivileged process may use), never ``f_bfree``. Memory is psutil's
``available``, capped by the cgroup v2 ``memory.max`` when the process runs in a limited container (psutil
reports host RAM there). GPUs come from NVML (``pynvml``) when it is installed and a driver is loaded; a
missing library or driver means "no GPU", with the reason kept in ``gpu_error``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from resilience_core.errors import ConfigError

__all__ = [
    "DiskState",
    "GpuState",
    "HealthCheck",
    "Requirements",
    "SystemState",
    "UnmetRequirement",
    "preflight",
    "system_state",
]

_GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class DiskState:
    """Free space for ``path`` (on the filesystem holding it, or its nearest existing parent)."""

    path: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True, slots=True)
class GpuState:
    """One GPU as NVML reports it."""

    index: int
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True, slots=True)
class SystemState:
    """A snapshot of the machine's resources; ``to_dict()`` fits ``ErrorContext.system_state``."""

    cpu_count: int
    load_average: tuple[float, float, float] | None
    memory_total_bytes: int
    memory_available_bytes: int
    disks: tuple[DiskState, ...] = ()
    gpus: tuple[GpuState, ...] = ()
    gpu_error: str | None = None
    driver_version: str | None = None
    cgroup_memory_max_bytes: int | None = None
    cgroup_memory_current_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def _disk(path: str) -> DiskState:
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)  # a target not created yet lands on its parent's filesystem
    info = os.statvfs(probe)
    return DiskState(path, info.f_blocks * info.f_frsize, info.f_bavail * info.f_frsize)


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as stream:
            text = stream.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # "max" means no limit


def _cgroup_memory(cgroup_root: str) -> tuple[int | None, int | None]:
    """cgroup v2 memory.max / memory.current of this process's cgroup, where present."""
    relative = ""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("0::"):
                    relative = line[3:].strip().lstrip("/")
    except OSError:
        pass
    for directory in (os.path.join(cgroup_root, relative), cgroup_root):
        limit = _read_int(os.path.join(directory, "memory.max"))
        current = _read_int(os.path.join(directory, "memory.current"))
        if limit is not None or current is not None:
            return limit, current
    return None, None


def _memory() -> tuple[int, int]:
    try:
        import psutil
    except ImportError:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        available = os.sysconf("SC_AVPHYS_PAGES") * page_size
        return pages * page_size, available
    memory = psutil.virtual_memory()
    return int(memory.total), int(memory.available)


def _gpus() -> tuple[tuple[GpuState, ...], str | None, str | None]:
    """(gpus, why there are none, driver version) through NVML, imported only here."""
    try:
        import pynvml
    except ImportError:
        return (), "nvidia-ml-py (pynvml) is not installed", None
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded) as error:
        return (), f"no NVIDIA driver: {error}", None
    except pynvml.NVMLError as error:
        return (), f"NVML failed to start: {error}", None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuState(
                    index,
                    name.decode() if isinstance(name, bytes) else str(name),
                    int(memory.total),
                    int(memory.free),
                )
            )
        return tuple(gpus), None, driver.decode() if isinstance(driver, bytes) else str(driver)
    except pynvml.NVMLError as error:
        return (), f"NVML query failed: {error}", None
    finally:
        # Shutting down a half-broken NVML must not hide the probe's answer.
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def system_state(
    paths: Iterable[str | os.PathLike[str]] = (".",), *, gpus: bool = True, cgroup_root: str = "/sys/fs/cgroup"
) -> SystemState:
    """CPU count and load, RAM, free disk per path, GPUs and free VRAM, cgroup memory limit."""
    total, available = _memory()
    limit, current = _cgroup_memory(cgroup_root)
    if limit is not None:
        available = min(available, max(0, limit - (current or 0)))
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    gpu_states, gpu_error, driver = _gpus() if gpus else ((), "not probed", None)
    return SystemState(
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        load_average=load,
        memory_total_bytes=total,
        memory_available_bytes=available,
        disks=tuple(_disk(os.fspath(p)) for p in paths),
        gpus=gpu_states,
        gpu_error=gpu_error,
        driver_version=driver,
        cgroup_memory_max_bytes=limit,
        cgroup_memory_current_bytes=current,
    )


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an install needs. ``disk_free_bytes`` maps a target path to the bytes it needs free there;
    ``vram_bytes`` is free VRAM on at least one GPU; zero or None means "no requirement"."""

    disk_free_bytes: Mapping[str, int] = field(default_factory=dict)
    memory_bytes: int | None = None
    vram_bytes: int | None = None
    gpu_count: int | None = None
    cpu_count: int | None = None

    def __post_init__(self) -> None:
        checks: dict[str, int | None] = {f"disk_free_bytes[{k}]": v for k, v in self.disk_free_bytes.items()}
        checks |= {"memory_bytes": self.memory_bytes, "vram_bytes": self.vram_bytes}
        checks |= {"gpu_count": self.gpu_count, "cpu_count": self.cpu_count}
        for name, value in checks.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(
                    f"requirements.{name}={value!r} must be an int >= 0 (bytes or a count), or None",
                    field=f"requirements.{name}",
                    value=value,
                    source="argument",
                    allowed="int >= 0 or None",
                )


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One check: ``ok``, what was seen (``detail``) and, when not ok, what to do (``fix``)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class UnmetRequirement:
    """One requirement the machine does not meet: what, how much is needed, how much there is, and the fix."""

    name: str
    needed: int
    available: int
    fix: str


def _gib(value: int) -> str:
    return f"{value / _GIB:.2f} GiB"


def preflight(requirements: Requirements, state: SystemState | None = None) -> list[UnmetRequirement]:
    """Every unmet requirement (empty list: good to go), each with what would fix it."""
    if state is None:
        state = system_state(
            list(requirements.disk_free_bytes), gpus=bool(requirements.vram_bytes or requirements.gpu_count)
        )
    unmet = []
    disks = {d.path: d for d in state.disks}
    for path, needed in requirements.disk_free_bytes.items():
        disk = disks.get(path) or _disk(path)
        if disk.free_bytes < needed:
            short = needed - disk.free_bytes
            unmet.append(
                UnmetRequirement(
                    f"disk_free_bytes[{path}]",
                    needed,
                    disk.free_bytes,
                    f"free {_gib(short)} on the filesystem holding {path} (it has {_gib(disk.free_bytes)} of the "
                    f"{_gib(needed)} needed), or install to a disk with more space",
                )
            )
    if requirements.memory_bytes and state.memory_available_bytes < requirements.memory_bytes:
        where = " (the container's cgroup memory.max caps it)" if state.cgroup_memory_max_bytes is not None else ""
        unmet.append(
            UnmetRequirement(
                "memory_bytes",
                requirements.memory_bytes,
                state.memory_available_bytes,
                f"close other programs or raise the memory limit{where}: {_gib(requirements.memory_bytes)} needed, "
                f"{_gib(state.memory_available_bytes)} available",
            )
        )
    if requirements.gpu_count and len(state.gpus) < requirements.gpu_count:
        reason = f" ({state.gpu_error})" if state.gpu_error else ""
        unmet.append(
            UnmetRequirement(
                "gpu_count",
                requirements.gpu_count,
                len(state.gpus),
                f"{requirements.gpu_count} GPU(s) needed, {len(state.gpus)} found{reason}; install the NVIDIA driver "
                "and nvidia-ml-py, or choose a CPU profile",
            )
        )
    if requirements.vram_bytes:
        best = max((g.free_bytes for g in state.gpus), default=0)
        if best < requirements.vram_bytes:
            unmet.append(
                UnmetRequirement(
                    "vram_bytes",
                    requirements.vram_bytes,
                    best,
                    f"{_gib(requirements.vram_bytes)} of free VRAM needed, the best GPU has {_gib(best)}: close other "
                    "GPU programs, or use a smaller model, lower precision or CPU offload",
                )
            )
    if requirements.cpu_count and state.cpu_count < requirements.cpu_count:
        unmet.append(
            UnmetRequirement(
                "cpu_count",
                requirements.cpu_count,
                state.cpu_count,
                f"{requirements.cpu_count} CPUs needed, {state.cpu_count} usable: raise the container's CPU limit",
            )
        )
    return unmet
