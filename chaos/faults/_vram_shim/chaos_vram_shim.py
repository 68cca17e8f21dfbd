"""Fake VRAM for ``vram.exhaust``: a budget, and patches that make torch and pynvml see it.

Standard library only, so it also runs inside a subprocess target through ``sitecustomize.py`` (this
directory is put first on ``PYTHONPATH``). Nothing is patched unless the target imports torch or pynvml.

- pynvml: the fake NVML library of ``chaos.faults.nvml_fake`` is installed (when ``chaos`` is importable),
  else ``nvmlInit``/``nvmlDeviceGetCount``/``nvmlDeviceGetHandleByIndex``/``nvmlDeviceGetMemoryInfo`` are
  replaced; either way one GPU with ``FAKE_VRAM_TOTAL`` bytes, ``FAKE_VRAM_FREE`` of them free.
- torch: ``cuda.is_available()`` is True, ``mem_get_info()`` reports the budget, and ``Tensor.to/cuda`` and
  ``nn.Module.to/cuda`` towards a CUDA device count bytes and raise a real ``torch.OutOfMemoryError`` (same
  message format as torch 2.5+) once the budget is spent. Tensors stay on the CPU; ``torch.empty(device=
  "cuda")`` and kernels are not patched (reference fault-backends §3).

Every observation the target makes is appended to the status file (``CHAOS_VRAM_STATUS``): ``query`` lines
when it asks for free memory, ``oom <bytes>`` when an allocation is refused. That is how the fault knows it
fired.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["VramBudget", "budget_from_env", "install_import_hook", "patch_pynvml", "patch_torch"]

_GIB = 1 << 30
_MIB = 1 << 20


def _human(size_bytes: int) -> str:
    return f"{size_bytes / _GIB:.2f} GiB" if size_bytes >= _GIB else f"{size_bytes / _MIB:.2f} MiB"


class VramBudget:
    """``total_bytes`` of fake VRAM on ``device``, ``free_bytes`` of it free; allocations draw it down."""

    def __init__(self, total_bytes: int, free_bytes: int, *, device: int = 0, status_path: str = "") -> None:
        self.total_bytes = total_bytes
        self.free_bytes = min(free_bytes, total_bytes)
        self.device = device
        self.status_path = status_path
        self.queries = 0
        self.refused = 0
        self._lock = threading.Lock()

    def record(self, line: str) -> None:
        """Append one observation to the status file (and count it)."""
        with self._lock:
            if line.startswith("oom"):
                self.refused += 1
            else:
                self.queries += 1
            if self.status_path:
                with open(self.status_path, "a") as status:
                    status.write(line + "\n")

    def query(self) -> tuple[int, int]:
        """``(free, total)`` as a memory query reports it; recorded as an observation."""
        self.record("query")
        return self.free_bytes, self.total_bytes

    def allocate(self, size_bytes: int) -> str | None:
        """Take ``size_bytes``; None when it fits, else the out-of-memory message (recorded as a refusal)."""
        with self._lock:
            if size_bytes <= self.free_bytes:
                self.free_bytes -= size_bytes
                return None
        self.record(f"oom {size_bytes}")
        used = self.total_bytes - self.free_bytes
        return (
            f"CUDA out of memory. Tried to allocate {_human(size_bytes)}. GPU {self.device} has a total capacity of "
            f"{_human(self.total_bytes)} of which {_human(self.free_bytes)} is free. Including non-PyTorch memory, "
            f"this process has {_human(used)} memory in use. If reserved but unallocated memory is large try "
            "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."
        )


def budget_from_env(environ: dict[str, str] | None = None) -> VramBudget | None:
    """The budget described by ``FAKE_VRAM_TOTAL``/``FAKE_VRAM_FREE``/``FAKE_VRAM_DEVICE``, or None if unset."""
    env = os.environ if environ is None else environ
    if "FAKE_VRAM_FREE" not in env:
        return None
    total = int(env.get("FAKE_VRAM_TOTAL", str(8 * _GIB)))
    return VramBudget(
        total,
        int(env["FAKE_VRAM_FREE"]),
        device=int(env.get("FAKE_VRAM_DEVICE", "0")),
        status_path=env.get("CHAOS_VRAM_STATUS", ""),
    )


def _is_cuda(device: Any) -> bool:
    if device is None:
        return False
    if isinstance(device, int) and not isinstance(device, bool):
        return True  # a bare index means a CUDA device in torch
    kind = getattr(device, "type", None)
    text = kind if isinstance(kind, str) else device if isinstance(device, str) else ""
    return text.split(":")[0] == "cuda"


def _target_device(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if "device" in kwargs:
        return kwargs["device"]
    for arg in args[:1]:
        if isinstance(arg, str | int) or hasattr(arg, "type"):
            return arg
    return None


def _tensor_bytes(tensor: Any) -> int:
    return int(tensor.element_size()) * int(tensor.nelement())


def patch_torch(torch: Any, budget: VramBudget) -> Callable[[], None]:
    """Make ``torch`` believe in one CUDA device with ``budget``; returns the function that undoes it."""
    cuda = torch.cuda
    tensor_cls = torch.Tensor
    module_cls = torch.nn.Module
    error_cls: Any = getattr(torch, "OutOfMemoryError", None) or getattr(cuda, "OutOfMemoryError", RuntimeError)
    missing = object()  # marks an attribute inherited, not set on the owner itself: undo deletes ours
    saved: list[tuple[Any, str, Any]] = []

    def replace(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, vars(owner).get(name, missing)))
        setattr(owner, name, value)

    def take(size_bytes: int) -> None:
        message = budget.allocate(size_bytes)
        if message is not None:
            raise error_cls(message)

    tensor_to = tensor_cls.to
    module_to = module_cls.to

    def fake_tensor_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_cuda(_target_device(args, kwargs)):
            take(_tensor_bytes(self))
            return self
        return tensor_to(self, *args, **kwargs)

    def fake_tensor_cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
        take(_tensor_bytes(self))
        return self

    def module_bytes(module: Any) -> int:
        return sum(_tensor_bytes(t) for t in (*module.parameters(), *module.buffers()))

    def fake_module_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_cuda(_target_device(args, kwargs)):
            take(module_bytes(self))
            return self
        return module_to(self, *args, **kwargs)

    def fake_module_cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
        take(module_bytes(self))
        return self

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        return budget.query()

    replace(cuda, "is_available", lambda: True)
    replace(cuda, "device_count", lambda: budget.device + 1)
    replace(cuda, "mem_get_info", mem_get_info)
    replace(cuda, "get_device_name", lambda device=None: "Fake NVIDIA GPU (chaos vram.exhaust)")
    replace(tensor_cls, "to", fake_tensor_to)
    replace(tensor_cls, "cuda", fake_tensor_cuda)
    replace(module_cls, "to", fake_module_to)
    replace(module_cls, "cuda", fake_module_cuda)

    def undo() -> None:
        for owner, name, value in reversed(saved):
            if value is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        saved.clear()

    return undo


def patch_pynvml(pynvml: Any, budget: VramBudget) -> Callable[[], None]:
    """Make ``pynvml`` report one GPU with ``budget``; returns the function that undoes it."""
    try:
        from chaos.faults.nvml_fake import FakeGpu, FakeNvmlLib
    except ImportError:
        return _patch_pynvml_functions(pynvml, budget)

    class ObservedNvml(FakeNvmlLib):
        def _memory_info(self, name: str, handle: Any, memory_ref: Any) -> int:
            budget.record("query")
            self.gpus[budget.device].used_bytes = budget.total_bytes - budget.free_bytes
            return super()._memory_info(name, handle, memory_ref)

    gpus = [FakeGpu(total_bytes=budget.total_bytes) for _ in range(budget.device + 1)]
    gpus[budget.device].used_bytes = budget.total_bytes - budget.free_bytes
    lib = ObservedNvml(gpus)
    lib.__enter__()
    return lambda: lib.__exit__(None, None, None)


def _patch_pynvml_functions(pynvml: Any, budget: VramBudget) -> Callable[[], None]:
    from types import SimpleNamespace

    names = ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMemoryInfo")
    saved = {name: getattr(pynvml, name) for name in names}

    def memory_info(handle: Any, version: Any = None) -> Any:
        free, total = budget.query()
        return SimpleNamespace(total=total, free=free, used=total - free, reserved=0)

    pynvml.nvmlInit = lambda: None
    pynvml.nvmlShutdown = lambda: None
    pynvml.nvmlDeviceGetCount = lambda: budget.device + 1
    pynvml.nvmlDeviceGetHandleByIndex = lambda index: index
    pynvml.nvmlDeviceGetMemoryInfo = memory_info

    def undo() -> None:
        for name, value in saved.items():
            setattr(pynvml, name, value)

    return undo


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches torch / pynvml right after their module code ran (never imports them itself)."""

    def __init__(self, budget: VramBudget) -> None:
        self.budget = budget
        self.patchers: dict[str, Callable[[Any, VramBudget], Callable[[], None]]] = {
            "torch": patch_torch,
            "pynvml": patch_pynvml,
        }

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        patcher = self.patchers.get(fullname)
        if patcher is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module
        budget = self.budget

        def patched_exec(module: ModuleType) -> None:
            exec_module(module)
            patcher(module, budget)

        loader.exec_module = patched_exec  # type: ignore[method-assign]  # wrap this one spec's loader only
        return spec


def install_import_hook(budget: VramBudget) -> None:
    """Patch torch and pynvml with ``budget`` when (and if) the process imports them."""
    for name, patcher in (("torch", patch_torch), ("pynvml", patch_pynvml)):
        module = sys.modules.get(name)
        if module is not None:
            patcher(module, budget)
    sys.meta_path.insert(0, _PatchOnImport(budget))
