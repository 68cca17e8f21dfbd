"""vram.exhaust, fake backend in-process: pynvml and torch see the budget; everything is undone on exit."""

from __future__ import annotations

import pathlib
import sys
import types
from typing import Any

import pytest

from chaos.errors import UnsupportedFault
from chaos.fault import FaultContext
from chaos.faults import vram
from chaos.faults.vram import VramExhaust, cuda_hog_availability

pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py (the gpu extra) is not installed")

GIB = 1 << 30


def _ctx(tmp_path: pathlib.Path) -> FaultContext:
    return FaultContext.for_seed(5, tmp_path, target={"kind": "inprocess"})


def _free_reported() -> tuple[int, int]:
    pynvml.nvmlInit()
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0))
        return int(info.free), int(info.total)
    finally:
        pynvml.nvmlShutdown()


def test_pynvml_sees_the_exhausted_fake_gpu_and_the_fault_triggers(tmp_path: pathlib.Path) -> None:
    """Inside the block NVML reports total/free of the fake; the query counts as the fault firing."""
    fault = VramExhaust(free_bytes=256 << 20, total_bytes=8 * GIB, backend="fake")
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        assert _free_reported() == (256 << 20, 8 * GIB)
    assert fault.backend == "fake"
    assert fault.triggered
    assert {"event": "vram.exhaust.observed", "queries": 1, "refused_allocations": 0} in ctx.events
    assert fault.verify_reverted(ctx) == []


def test_after_the_block_pynvml_is_back_to_no_driver(tmp_path: pathlib.Path) -> None:
    """On this GPU-less machine NVML raises LibraryNotFound again once the fault is reverted."""
    fault = VramExhaust(free_bytes=0, total_bytes=GIB, backend="fake")
    with fault.inject(_ctx(tmp_path)):
        pass
    assert not fault.triggered  # nobody asked: the fault did not fire
    if cuda_hog_availability() is not None:
        with pytest.raises(pynvml.NVMLError):
            pynvml.nvmlInit()


def test_torch_hook_is_installed_only_for_the_block(tmp_path: pathlib.Path) -> None:
    """Without torch imported, a meta-path hook waits for it during the block and is gone afterwards."""
    if "torch" in sys.modules:
        pytest.skip("torch is already imported in this process; the hook path is not used")
    fault = VramExhaust(free_bytes=0, total_bytes=GIB, backend="fake")
    with fault.inject(_ctx(tmp_path)):
        assert fault._hook in sys.meta_path
    assert fault._hook not in sys.meta_path


def _stand_in_torch() -> Any:
    """A few lines standing in for torch's API surface the shim touches (torch itself is not installed here)."""

    class OutOfMemoryError(RuntimeError):
        pass

    class Tensor:
        def __init__(self, count: int) -> None:
            self.count = count
            self.device = "cpu"

        def element_size(self) -> int:
            return 4

        def nelement(self) -> int:
            return self.count

        def to(self, *args: Any, **kwargs: Any) -> Any:
            return ("real to", args, kwargs)

        def cuda(self) -> Any:
            raise AssertionError("Torch not compiled with CUDA enabled")

    class Module:
        def __init__(self, *tensors: Tensor) -> None:
            self.tensors = tensors

        def parameters(self) -> tuple[Tensor, ...]:
            return self.tensors

        def buffers(self) -> tuple[Tensor, ...]:
            return ()

        def to(self, *args: Any, **kwargs: Any) -> Any:
            return ("real module to", args)

    def is_available() -> bool:
        return False

    cuda = types.SimpleNamespace(is_available=is_available, device_count=lambda: 0, mem_get_info=None)
    return types.SimpleNamespace(
        OutOfMemoryError=OutOfMemoryError, Tensor=Tensor, nn=types.SimpleNamespace(Module=Module), cuda=cuda
    )


def test_shim_counts_cuda_moves_and_raises_torchs_oom_with_its_message() -> None:
    """Moves to cuda draw the budget down; the one that does not fit raises OutOfMemoryError like torch 2.5+."""
    shim = vram._shim()
    torch = _stand_in_torch()
    budget = shim.VramBudget(GIB, 1000, device=0)
    undo = shim.patch_torch(torch, budget)
    try:
        assert torch.cuda.is_available()
        assert torch.cuda.mem_get_info() == (1000, GIB)
        small = torch.Tensor(100)  # 400 bytes
        assert small.to("cuda:0") is small
        assert small.to(torch.Tensor(1))[0] == "real to"  # like another tensor: dtype/device of that one
        assert small.to(dtype="float64")[0] == "real to"
        assert small.to("cpu")[0] == "real to"
        with pytest.raises(torch.OutOfMemoryError, match=r"^CUDA out of memory\. Tried to allocate 0\.00 MiB\. GPU 0"):
            torch.nn.Module(torch.Tensor(200)).to("cuda")  # 800 bytes > 600 left
        assert small.cuda() is small  # 400 more still fit
        assert budget.refused == 1
    finally:
        undo()
    assert not torch.cuda.is_available()
    assert torch.Tensor(1).to("cuda")[0] == "real to"
    assert torch.nn.Module().to("cuda")[0] == "real module to"


def test_function_patch_fallback_reports_the_same_numbers() -> None:
    """Where chaos is not importable the shim patches pynvml's functions: same totals, recorded queries."""
    shim = vram._shim()
    budget = shim.VramBudget(4 * GIB, GIB, device=0)
    original = pynvml.nvmlDeviceGetMemoryInfo
    undo = shim._patch_pynvml_functions(pynvml, budget)
    try:
        assert _free_reported() == (GIB, 4 * GIB)
        assert budget.queries == 1
    finally:
        undo()
    assert pynvml.nvmlDeviceGetMemoryInfo is original


def test_leaky_variant_leaves_the_fake_nvml_and_is_caught(tmp_path: pathlib.Path) -> None:
    """A fault that forgets to undo its pynvml patch is reported by verify_reverted."""
    leaked: list[Any] = []

    class LeakyVram(VramExhaust):
        def _patch_in_process(self, shim: Any) -> None:
            leaked.append(shim.patch_pynvml(pynvml, self._budget))  # the undo is kept out of self._undo

    fault = LeakyVram(free_bytes=0, total_bytes=GIB, backend="fake")
    ctx = _ctx(tmp_path)
    try:
        with fault.inject(ctx):
            pass
        assert fault.verify_reverted(ctx) == ["vram.exhaust: pynvml still has the fake NVML library installed"]
    finally:
        for undo in leaked:
            undo()
    assert fault.verify_reverted(ctx) == []


def test_cuda_hog_availability_names_the_missing_driver(tmp_path: pathlib.Path) -> None:
    """Without libcuda.so.1 the hog backend says why, and backend=cuda-hog refuses to arm."""
    reason = cuda_hog_availability()
    if reason is None:
        pytest.skip("a CUDA driver and device are present: the hog is usable here")
    assert "libcuda.so.1" in reason or "CUDA" in reason
    fault = VramExhaust(backend="cuda-hog")
    with pytest.raises(UnsupportedFault, match="cuda-hog"), fault.inject(_ctx(tmp_path)):
        pass
