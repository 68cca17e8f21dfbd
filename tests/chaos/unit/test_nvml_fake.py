"""The fake NVML library drives pynvml's own code and restores pynvml exactly on exit."""

from __future__ import annotations

import pynvml
import pytest

from chaos.faults.nvml_fake import FakeGpu, FakeNvmlLib

GIB = 1 << 30


def test_pynvml_calls_reach_the_fake_and_fill_structs() -> None:
    """Count, handles, names, memory (v1 and v2) and the driver version come from the fake GPUs."""
    with FakeNvmlLib([FakeGpu("G0", 8 * GIB, GIB), FakeGpu("G1", 4 * GIB, 0)], driver_version="1.2") as lib:
        pynvml.nvmlInit()
        assert pynvml.nvmlDeviceGetCount() == 2
        handle = pynvml.nvmlDeviceGetHandleByIndex(1)
        assert pynvml.nvmlDeviceGetName(handle) == "G1"
        memory = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0))
        assert (memory.total, memory.used, memory.free) == (8 * GIB, GIB, 7 * GIB)
        v2 = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
        assert (v2.free, v2.reserved) == (4 * GIB, 0)
        assert pynvml.nvmlSystemGetDriverVersion() == "1.2"
        pynvml.nvmlShutdown()
    assert "nvmlDeviceGetMemoryInfo_v2" in lib.calls


def test_changing_used_bytes_while_installed_changes_free_vram() -> None:
    """The VRAM fault exhausts memory by raising used_bytes on the installed fake."""
    with FakeNvmlLib([FakeGpu(total_bytes=8 * GIB)]) as lib:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        lib.gpus[0].used_bytes = 8 * GIB - 1
        assert pynvml.nvmlDeviceGetMemoryInfo(handle).free == 1
        pynvml.nvmlShutdown()


def test_errors_map_to_pynvml_exception_classes() -> None:
    """A configured return code raises pynvml's matching subclass; a missing symbol is FunctionNotFound."""
    with FakeNvmlLib([FakeGpu()], errors={"nvmlDeviceGetMemoryInfo": pynvml.NVML_ERROR_GPU_IS_LOST}):
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        with pytest.raises(pynvml.NVMLError_GpuIsLost):
            pynvml.nvmlDeviceGetMemoryInfo(handle)
        with pytest.raises(pynvml.NVMLError_FunctionNotFound):
            pynvml.nvmlDeviceGetPowerUsage(handle)
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetHandleByIndex(5)
        pynvml.nvmlShutdown()
    driver_missing = FakeNvmlLib([], errors={"nvmlInitWithFlags": pynvml.NVML_ERROR_DRIVER_NOT_LOADED})
    with driver_missing, pytest.raises(pynvml.NVMLError_DriverNotLoaded):
        pynvml.nvmlInit()


def test_calls_before_init_are_uninitialized() -> None:
    """Like the real library, a query before nvmlInit fails with Uninitialized."""
    with FakeNvmlLib([FakeGpu()]), pytest.raises(pynvml.NVMLError_Uninitialized):
        pynvml.nvmlDeviceGetCount()


def test_exit_restores_library_cache_and_refcount() -> None:
    """Leaving the block puts back nvmlLib, the function-pointer cache and the refcount, even on error."""
    before = (pynvml.nvmlLib, dict(pynvml._nvmlGetFunctionPointer_cache), pynvml._nvmlLib_refcount)
    seen = []

    def fail_inside() -> None:
        with FakeNvmlLib([FakeGpu()]):
            pynvml.nvmlInit()
            seen.append(pynvml.nvmlLib)
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fail_inside()
    assert isinstance(seen[0], FakeNvmlLib)
    assert (pynvml.nvmlLib, dict(pynvml._nvmlGetFunctionPointer_cache), pynvml._nvmlLib_refcount) == before


def test_only_one_fake_at_a_time() -> None:
    """Installing a second fake while one is active is refused (pynvml's globals are process-wide)."""
    with FakeNvmlLib([FakeGpu()]), pytest.raises(RuntimeError, match="already installed"), FakeNvmlLib([]):
        pass
    with FakeNvmlLib([]):
        pass  # the lock was released by both exits
