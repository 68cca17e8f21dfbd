"""``vram.exhaust``: the target finds only ``free_bytes`` of GPU memory (VRAM) free.

Backends (``backend="auto"`` takes ``cuda-hog`` where a CUDA driver and a device exist, else ``fake``):

``fake`` (any machine, no GPU needed)
    In-process targets (``ctx.target["kind"] == "inprocess"``): pynvml gets the fake NVML library
    (``chaos.faults.nvml_fake``) reporting one GPU of ``total_bytes`` with ``free_bytes`` free, and torch (if
    the target imports it) sees ``cuda.is_available()``, ``mem_get_info()`` and a real ``torch.OutOfMemoryError``
    from ``.to("cuda")``/``.cuda()`` once the budget is spent; both are undone on exit.
    Subprocess targets: :meth:`VramExhaust.wrap_command` puts ``chaos/faults/_vram_shim`` first on
    ``PYTHONPATH`` with ``FAKE_VRAM_TOTAL``/``FAKE_VRAM_FREE``/``FAKE_VRAM_DEVICE``; its ``sitecustomize.py``
    patches torch and pynvml in the child only if the child imports them, and then runs the ``sitecustomize``
    it hides. Reaches Python code using torch/pynvml; not CUDA kernels, ``torch.empty(device="cuda")``, JAX
    or CuPy.
``cuda-hog`` (a real NVIDIA GPU and ``libcuda.so.1``)
    This process allocates device memory through the CUDA driver API (ctypes; no torch) until only
    ``free_bytes`` are left on ``device``, and frees it on exit. Every process on that GPU meets the real
    shortage. The machines this project's CI runs on have no ``libcuda.so.1``: there the backend reports
    itself unavailable and tests skip with that reason.

``triggered``: fake: the target asked for free memory or an allocation was refused; cuda-hog: the GPU was
brought down to ``free_bytes`` (the shortage is real for every process from then on).

>>> VramExhaust(free_bytes=512 << 20, total_bytes=8 << 30).values["device"]
0
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from chaos.errors import FaultParamError, UnsupportedFault
from chaos.fault import ORDER_ENV, Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl

__all__ = ["SHIM_DIR", "CudaHog", "VramExhaust", "chaos_add_faults", "cuda_hog_availability"]

SHIM_DIR = pathlib.Path(__file__).with_name("_vram_shim")
_CHUNK_MAX = 1 << 30  # allocate in pieces of at most 1 GiB, so the last piece can land close to free_bytes
_CHUNK_MIN = 2 << 20  # below this the hog stops: the driver's own granularity makes finer steps meaningless
_CUDA_SUCCESS = 0
_CUDA_ERROR_OUT_OF_MEMORY = 2


def _shim() -> Any:
    """The shim module (imported by path: the shim dir is not a package, it is a PYTHONPATH entry)."""
    module = sys.modules.get("chaos_vram_shim")
    if module is None:
        spec = importlib.util.spec_from_file_location("chaos_vram_shim", SHIM_DIR / "chaos_vram_shim.py")
        assert spec is not None  # the file ships with this package
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["chaos_vram_shim"] = module
        spec.loader.exec_module(module)
    return module


def cuda_hog_availability() -> str | None:
    """None when the CUDA driver API and a device are usable here, else the reason (a skip reason)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "libcuda.so.1 is absent (no NVIDIA driver on this machine): the cuda-hog backend needs a real GPU"
    code = cuda.cuInit(0)
    if code != _CUDA_SUCCESS:
        return f"cuInit failed with CUDA error {code} (driver present but no usable GPU)"
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != _CUDA_SUCCESS or count.value == 0:
        return "the CUDA driver reports no device"
    return None


class CudaHog:
    """Holds real device memory through the CUDA driver API until only ``free_bytes`` are left on ``device``."""

    def __init__(self, device: int, free_bytes: int) -> None:
        self.device = device
        self.free_bytes = free_bytes
        self.pointers: list[int] = []
        self.baseline_free = 0
        self.total = 0
        self.reached_free = 0
        self._cuda = ctypes.CDLL("libcuda.so.1")
        self._dev = ctypes.c_int(0)
        self._ctx = ctypes.c_void_p(0)
        cuda = self._cuda
        cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        cuda.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        cuda.cuMemGetInfo_v2.argtypes = [ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
        cuda.cuDevicePrimaryCtxRetain.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        cuda.cuDevicePrimaryCtxRelease_v2.argtypes = [ctypes.c_int]
        cuda.cuCtxPushCurrent_v2.argtypes = [ctypes.c_void_p]
        cuda.cuCtxPopCurrent_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p)]

    def _check(self, code: int, call: str) -> None:
        if code != _CUDA_SUCCESS:
            raise UnsupportedFault(f"vram.exhaust cuda-hog: {call} failed with CUDA error {code}")

    def mem_info(self) -> tuple[int, int]:
        """(free, total) bytes on the device, as the driver reports them (context must be current)."""
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self._check(self._cuda.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total)), "cuMemGetInfo")
        return free.value, total.value

    def acquire(self) -> None:
        """Allocate until free memory is at most ``free_bytes`` (+ the driver's granularity)."""
        cuda = self._cuda
        self._check(cuda.cuInit(0), "cuInit")
        self._check(cuda.cuDeviceGet(ctypes.byref(self._dev), self.device), f"cuDeviceGet({self.device})")
        self._check(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(self._ctx), self._dev), "cuDevicePrimaryCtxRetain")
        self._check(cuda.cuCtxPushCurrent_v2(self._ctx), "cuCtxPushCurrent")
        try:
            self.baseline_free, self.total = self.mem_info()
            free = self.baseline_free
            chunk = _CHUNK_MAX
            while free > self.free_bytes + _CHUNK_MIN and chunk >= _CHUNK_MIN:
                size = min(chunk, free - self.free_bytes)
                pointer = ctypes.c_uint64(0)
                code = cuda.cuMemAlloc_v2(ctypes.byref(pointer), size)
                if code == _CUDA_ERROR_OUT_OF_MEMORY:
                    chunk //= 2
                    continue
                self._check(code, f"cuMemAlloc({size})")
                self.pointers.append(pointer.value)
                free = self.mem_info()[0]
            self.reached_free = free
        finally:
            popped = ctypes.c_void_p(0)
            cuda.cuCtxPopCurrent_v2(ctypes.byref(popped))

    def release(self) -> None:
        """Free everything allocated and release the primary context."""
        cuda = self._cuda
        if not self._ctx.value:
            return
        cuda.cuCtxPushCurrent_v2(self._ctx)
        try:
            while self.pointers:
                cuda.cuMemFree_v2(self.pointers.pop())
        finally:
            popped = ctypes.c_void_p(0)
            cuda.cuCtxPopCurrent_v2(ctypes.byref(popped))
            cuda.cuDevicePrimaryCtxRelease_v2(self._dev)
            self._ctx = ctypes.c_void_p(0)


class VramExhaust(Fault):
    """Leave the target ``free_bytes`` of VRAM: a fake GPU (NVML + torch shim) or a real allocation hog."""

    name = "vram.exhaust"
    wraps_command = True
    command_order = ORDER_ENV
    summary = "Leave only free_bytes of GPU memory: fake NVML + torch shim (no GPU needed), or a real CUDA hog."
    params = (
        Param("free_bytes", int, 0, "VRAM left free for the target", minimum=0),
        Param("total_bytes", int, 24 << 30, "fake backend: the fake GPU's total memory", minimum=1),
        Param("device", int, 0, "GPU index", minimum=0, maximum=63),
        Param("backend", str, "auto", "auto, fake or cuda-hog", choices=("auto", "fake", "cuda-hog")),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.values["free_bytes"] > self.values["total_bytes"]:
            message = (
                f"vram.exhaust.free_bytes={self.values['free_bytes']} must be <= total_bytes="
                f"{self.values['total_bytes']}; fix: lower free_bytes or raise total_bytes"
            )
            raise FaultParamError(message, fault=self.name, field="free_bytes", value=self.values["free_bytes"])
        self._status: pathlib.Path | None = None
        self._budget: Any = None
        self._undo: list[Callable[[], None]] = []
        self._hook: Any = None
        self._hog: CudaHog | None = None

    @classmethod
    def backends(cls) -> dict[str, str | None]:
        """Each backend and why it cannot run here (None: it can)."""
        return {"fake": None, "cuda-hog": cuda_hog_availability()}

    def _choose(self) -> str:
        wanted = str(self.values["backend"])
        if wanted == "cuda-hog":
            reason = cuda_hog_availability()
            if reason is not None:
                raise UnsupportedFault(f"vram.exhaust backend cuda-hog: {reason}")
        if wanted == "auto":
            return "cuda-hog" if cuda_hog_availability() is None else "fake"
        return wanted

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Arm the backend; for subprocess targets the fake takes effect through :meth:`wrap_command`."""
        self.backend = self._choose()
        ctx.note("vram.exhaust.armed", backend=self.backend, free_bytes=self.values["free_bytes"])
        arm = self._arm_hog if self.backend == "cuda-hog" else self._arm_fake
        with arm(ctx):
            yield

    @contextlib.contextmanager
    def _arm_fake(self, ctx: FaultContext) -> Iterator[None]:
        shim = _shim()
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="chaos-vram-", suffix=".status", dir=ctx.workdir)
        os.close(handle)
        self._status = pathlib.Path(name)
        self._budget = shim.VramBudget(
            self.values["total_bytes"], self.values["free_bytes"], device=self.values["device"], status_path=name
        )
        try:
            if ctx.target.get("kind", "inprocess") == "inprocess":
                self._patch_in_process(shim)
            yield
        finally:
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()
            if self._hook is not None:
                with contextlib.suppress(ValueError):
                    sys.meta_path.remove(self._hook)
            lines = self._status.read_text().split() if self._status.exists() else []
            queries, refused = lines.count("query"), lines.count("oom")
            self.triggered = queries + refused > 0
            ctx.note("vram.exhaust.observed", queries=queries, refused_allocations=refused)
            self._status.unlink(missing_ok=True)

    def fired_now(self) -> bool:
        """Fake backend: whether the target asked for free memory or was refused an allocation so far."""
        if self.triggered or self._status is None:
            return self.triggered
        with contextlib.suppress(OSError):
            return bool(set(self._status.read_text().split()) & {"query", "oom"})
        return False

    def _patch_in_process(self, shim: Any) -> None:
        budget = self._budget
        for module_name, patcher in (("torch", shim.patch_torch), ("pynvml", shim.patch_pynvml)):
            module = sys.modules.get(module_name)
            if module is None and module_name == "pynvml":
                with contextlib.suppress(ImportError):
                    # Cheap, pure Python: import it now so probes that already hold the module see the fake.
                    module = importlib.import_module("pynvml")
            if module is not None:
                self._undo.append(patcher(module, budget))
        # torch is heavy: never imported here; patched if the target imports it inside the block.
        if "torch" not in sys.modules:
            self._hook = _TorchHook(shim, budget, self._undo)
            sys.meta_path.insert(0, self._hook)

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Give a Python subprocess the fake GPU: the shim dir first on PYTHONPATH plus the FAKE_VRAM_* values."""
        if self.backend != "fake" or self._status is None:
            return argv, env
        # chaos itself is not added: where the child cannot import chaos.faults.nvml_fake, the shim patches
        # pynvml's functions instead (same numbers, without pynvml's struct and error plumbing).
        paths = [str(SHIM_DIR), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
        wrapped = dict(env)
        wrapped.update(
            PYTHONPATH=os.pathsep.join(paths),
            FAKE_VRAM_TOTAL=str(self.values["total_bytes"]),
            FAKE_VRAM_FREE=str(self.values["free_bytes"]),
            FAKE_VRAM_DEVICE=str(self.values["device"]),
            CHAOS_VRAM_STATUS=str(self._status),
        )
        return argv, wrapped

    @contextlib.contextmanager
    def _arm_hog(self, ctx: FaultContext) -> Iterator[None]:
        self._hog = CudaHog(self.values["device"], self.values["free_bytes"])
        try:
            self._hog.acquire()
            self.triggered = self._hog.reached_free <= self.values["free_bytes"] + _CHUNK_MIN
            ctx.note(
                "vram.exhaust.cuda_hog",
                baseline_free=self._hog.baseline_free,
                total=self._hog.total,
                reached_free=self._hog.reached_free,
                allocations=len(self._hog.pointers),
            )
            yield
        finally:
            self._hog.release()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: patches still in place, the import hook still installed, the status file, hog memory."""
        residue = []
        if self._undo:
            residue.append(f"vram.exhaust: {len(self._undo)} patch(es) of torch/pynvml not undone")
        if self._hook is not None and self._hook in sys.meta_path:
            residue.append("vram.exhaust: the torch import hook is still in sys.meta_path")
        if self._status is not None and self._status.exists():
            residue.append(f"vram.exhaust: status file {self._status} was not removed")
        pynvml = sys.modules.get("pynvml")
        if pynvml is not None and type(getattr(pynvml, "nvmlLib", None)).__name__ == "ObservedNvml":
            residue.append("vram.exhaust: pynvml still has the fake NVML library installed")
        if self._hog is not None and self._hog.pointers:
            residue.append(f"vram.exhaust: {len(self._hog.pointers)} CUDA allocation(s) not freed")
        return residue


class _TorchHook:
    """Meta-path hook: patches torch when the in-process target imports it, registering the undo."""

    def __init__(self, shim: Any, budget: Any, undo: list[Callable[[], None]]) -> None:
        self._shim = shim
        self._budget = budget
        self._undo = undo

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "torch":
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        shim, budget, undo = self._shim, self._budget, self._undo

        def patched(module: Any) -> None:
            exec_module(module)
            undo.append(shim.patch_torch(module, budget))

        spec.loader.exec_module = patched  # type: ignore[method-assign]  # this spec's loader only
        return spec


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``vram.exhaust``."""
    registry.register(VramExhaust)
