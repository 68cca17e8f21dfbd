"""A fake NVML library for machines without an NVIDIA GPU (reference fault-backends §3).

``pynvml`` (nvidia-ml-py) keeps the loaded C library in the module global ``pynvml.nvmlLib`` and looks every
function up by its C name, caching the result in ``pynvml._nvmlGetFunctionPointer_cache``. Installing an
object with methods of the same C names (and clearing that cache) makes every ``pynvml`` call run pynvml's
own Python code against our fake GPUs: struct filling, error mapping (``NVMLError(code)`` picks the right
subclass) and all.

>>> import pynvml
>>> with FakeNvmlLib([FakeGpu(total_bytes=8 << 30, used_bytes=1 << 30)]):
...     pynvml.nvmlInit()
...     handle = pynvml.nvmlDeviceGetHandleByIndex(0)
...     pynvml.nvmlDeviceGetMemoryInfo(handle).free
7516192768

Errors: ``errors={"nvmlDeviceGetMemoryInfo": pynvml.NVML_ERROR_GPU_IS_LOST}`` makes that C function return the
code (pynvml raises ``NVMLError_GpuIsLost``); ``errors={"nvmlInitWithFlags": pynvml.NVML_ERROR_LIBRARY_NOT_FOUND}``
behaves like a machine with no driver. A C function the fake lacks raises ``NVMLError_FunctionNotFound``.
The fake's GPU list and errors may be changed while installed (``lib.gpus[0].used_bytes = ...``): the VRAM
fault does exactly that to exhaust memory.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

__all__ = ["FakeGpu", "FakeNvmlLib"]

_SUCCESS = 0
_ERROR_INVALID_ARGUMENT = 2
_ERROR_UNINITIALIZED = 1
_ERROR_INSUFFICIENT_SIZE = 7


@dataclass
class FakeGpu:
    """One fake GPU: its name and memory in bytes (``free = total - used``)."""

    name: str = "Fake NVIDIA GPU"
    total_bytes: int = 8 << 30
    used_bytes: int = 0

    @property
    def free_bytes(self) -> int:
        """Bytes not in use (never below zero)."""
        return max(0, self.total_bytes - self.used_bytes)


# Only one fake may be installed at a time per process: pynvml's globals are process-wide.
_INSTALL_LOCK = threading.Lock()


class FakeNvmlLib:
    """Stands in for ``CDLL("libnvidia-ml.so.1")``; a context manager installs it into ``pynvml``.

    ``gpus``: the fake devices. ``errors``: C function name -> NVML return code to fail with.
    ``driver_version``: what ``nvmlSystemGetDriverVersion`` reports. ``calls`` records C names called.
    """

    def __init__(
        self,
        gpus: Iterable[FakeGpu] = (),
        errors: Mapping[str, int] | None = None,
        *,
        driver_version: str = "999.99",
    ) -> None:
        self.gpus: list[FakeGpu] = list(gpus)
        self.errors: dict[str, int] = dict(errors or {})
        self.driver_version = driver_version
        self.calls: list[str] = []
        self.initialized = 0
        self._saved: tuple[Any, dict[str, Any], int] | None = None

    # -- installing ------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeNvmlLib:
        import pynvml

        if not _INSTALL_LOCK.acquire(blocking=False):
            raise RuntimeError("a FakeNvmlLib is already installed in this process; leave it first")
        with pynvml.libLoadLock:
            self._saved = (
                pynvml.nvmlLib,
                dict(pynvml._nvmlGetFunctionPointer_cache),
                pynvml._nvmlLib_refcount,
            )
            pynvml.nvmlLib = self
            pynvml._nvmlGetFunctionPointer_cache.clear()
            pynvml._nvmlLib_refcount = 0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import pynvml

        try:
            if self._saved is not None:
                lib, cache, refcount = self._saved
                with pynvml.libLoadLock:
                    pynvml.nvmlLib = lib
                    pynvml._nvmlGetFunctionPointer_cache.clear()
                    pynvml._nvmlGetFunctionPointer_cache.update(cache)
                    pynvml._nvmlLib_refcount = refcount
                self._saved = None
        finally:
            _INSTALL_LOCK.release()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _enter_call(self, name: str) -> int:
        self.calls.append(name)
        base = name.removesuffix("_v2")
        code = self.errors.get(name, self.errors.get(base, _SUCCESS))
        if code == _SUCCESS and base not in {"nvmlInitWithFlags", "nvmlInit"} and self.initialized <= 0:
            return _ERROR_UNINITIALIZED
        return code

    def _gpu(self, handle: Any) -> FakeGpu | None:
        index = (ctypes.cast(handle, ctypes.c_void_p).value or 0) - 1
        return self.gpus[index] if 0 <= index < len(self.gpus) else None

    # -- the C functions pynvml calls (names must match libnvidia-ml exactly) ---------------------------------

    def nvmlInitWithFlags(self, flags: Any) -> int:
        code = self._enter_call("nvmlInitWithFlags")
        if code == _SUCCESS:
            self.initialized += 1
        return code

    def nvmlInit_v2(self) -> int:
        return self.nvmlInitWithFlags(0)

    def nvmlShutdown(self) -> int:
        code = self._enter_call("nvmlShutdown")
        if code == _SUCCESS:
            self.initialized -= 1
        return code

    def nvmlSystemGetDriverVersion(self, buffer: Any, size: Any) -> int:
        code = self._enter_call("nvmlSystemGetDriverVersion")
        if code != _SUCCESS:
            return code
        data = self.driver_version.encode()
        if len(data) + 1 > ctypes.sizeof(buffer):
            return _ERROR_INSUFFICIENT_SIZE
        buffer.value = data
        return _SUCCESS

    def nvmlDeviceGetCount_v2(self, count_ref: Any) -> int:
        code = self._enter_call("nvmlDeviceGetCount_v2")
        if code == _SUCCESS:
            count_ref._obj.value = len(self.gpus)
        return code

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, handle_ref: Any) -> int:
        code = self._enter_call("nvmlDeviceGetHandleByIndex_v2")
        if code != _SUCCESS:
            return code
        value = index.value if isinstance(index, ctypes.c_uint) else int(index)
        if not 0 <= value < len(self.gpus):
            return _ERROR_INVALID_ARGUMENT
        # A handle is an opaque pointer; index + 1 keeps it non-NULL.
        ctypes.cast(handle_ref, ctypes.POINTER(ctypes.c_void_p))[0] = value + 1
        return _SUCCESS

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, size: Any) -> int:
        code = self._enter_call("nvmlDeviceGetName")
        gpu = self._gpu(handle)
        if code != _SUCCESS or gpu is None:
            return code or _ERROR_INVALID_ARGUMENT
        buffer.value = gpu.name.encode()[: ctypes.sizeof(buffer) - 1]
        return _SUCCESS

    def nvmlDeviceGetMemoryInfo(self, handle: Any, memory_ref: Any) -> int:
        return self._memory_info("nvmlDeviceGetMemoryInfo", handle, memory_ref)

    def nvmlDeviceGetMemoryInfo_v2(self, handle: Any, memory_ref: Any) -> int:
        return self._memory_info("nvmlDeviceGetMemoryInfo_v2", handle, memory_ref)

    def _memory_info(self, name: str, handle: Any, memory_ref: Any) -> int:
        code = self._enter_call(name)
        gpu = self._gpu(handle)
        if code != _SUCCESS or gpu is None:
            return code or _ERROR_INVALID_ARGUMENT
        memory = memory_ref._obj
        memory.total = gpu.total_bytes
        memory.used = min(gpu.used_bytes, gpu.total_bytes)
        memory.free = gpu.free_bytes
        if hasattr(memory, "reserved"):
            memory.reserved = 0
        return _SUCCESS
