"""vram.exhaust for subprocess targets: the sitecustomize shim arms pynvml/torch in the child, chains, cleans up."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from chaos.fault import FaultContext
from chaos.faults.vram import SHIM_DIR, VramExhaust

pytestmark = pytest.mark.integration

GIB = 1 << 30
NVML_PROBE = """
import pynvml
pynvml.nvmlInit()
info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0))
print(info.total, info.free)
"""
TORCH_VICTIM = """
import torch
print("available", torch.cuda.is_available(), torch.cuda.mem_get_info())
model = torch.nn.Linear(1024, 1024)
try:
    model.to("cuda")
except torch.OutOfMemoryError as error:
    print("oom", type(error).__qualname__, str(error).split(".")[0])
"""


def _ctx(tmp_path: pathlib.Path) -> FaultContext:
    return FaultContext.for_seed(2, tmp_path, target={"kind": "subprocess"})


def _run(fault: VramExhaust, python: str, code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv, wrapped = fault.wrap_command([python, "-c", code], env)
    return subprocess.run(argv, env=wrapped, capture_output=True, text=True, timeout=120, check=False)


def test_child_pynvml_sees_the_fake_gpu(tmp_path: pathlib.Path) -> None:
    """A child that probes NVML gets total/free of the fake; its query makes the fault triggered."""
    pytest.importorskip("pynvml", reason="nvidia-ml-py (the gpu extra) is not installed")
    fault = VramExhaust(free_bytes=300 << 20, total_bytes=16 * GIB, backend="fake")
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        result = _run(fault, sys.executable, NVML_PROBE, dict(os.environ))
    assert result.stdout.split() == [str(16 * GIB), str(300 << 20)], result.stderr
    assert fault.triggered
    assert fault.verify_reverted(ctx) == []
    assert list(tmp_path.iterdir()) == []  # the status file is gone


def test_child_that_imports_nothing_is_untouched(tmp_path: pathlib.Path) -> None:
    """The shim imports neither torch nor pynvml itself; a child that does not use them is not triggered."""
    fault = VramExhaust(free_bytes=0, total_bytes=GIB, backend="fake")
    ctx = _ctx(tmp_path)
    code = "import sys; print('torch' in sys.modules, 'pynvml' in sys.modules)"
    with fault.inject(ctx):
        result = _run(fault, sys.executable, code, dict(os.environ))
    assert result.stdout.split() == ["False", "False"], result.stderr
    assert not fault.triggered


def test_shim_chains_to_the_sitecustomize_it_hides(tmp_path: pathlib.Path) -> None:
    """A sitecustomize already on PYTHONPATH still runs after ours (it would be hidden otherwise)."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.THEIRS_RAN = True\n")
    fault = VramExhaust(free_bytes=0, total_bytes=GIB, backend="fake")
    with fault.inject(_ctx(tmp_path)):
        argv, env = fault.wrap_command([sys.executable, "-c", "print(THEIRS_RAN)"], {"PYTHONPATH": str(theirs)})
        assert env["PYTHONPATH"].split(os.pathsep)[:2] == [str(SHIM_DIR), str(theirs)]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "True", result.stderr


def _torch_python() -> str | None:
    """An interpreter with torch: CHAOS_TEST_TORCH_PYTHON, or this one if torch is installed here."""
    candidate = os.environ.get("CHAOS_TEST_TORCH_PYTHON")
    if candidate:
        return candidate if shutil.which(candidate) or os.path.exists(candidate) else None
    try:
        import importlib.util

        return sys.executable if importlib.util.find_spec("torch") is not None else None
    except (ImportError, ValueError):
        return None


@pytest.mark.slow
def test_real_torch_raises_its_own_out_of_memory_error(tmp_path: pathlib.Path) -> None:
    """With real torch in the child, cuda looks available and moving a model raises torch.OutOfMemoryError."""
    python = _torch_python()
    if python is None:
        pytest.skip("torch is not installed (set CHAOS_TEST_TORCH_PYTHON to an interpreter that has it)")
    fault = VramExhaust(free_bytes=1 << 20, total_bytes=8 * GIB, backend="fake")
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        result = _run(fault, python, TORCH_VICTIM, {"PATH": os.environ.get("PATH", "")})
    assert f"available True ({1 << 20}, {8 * GIB})" in result.stdout, result.stderr
    assert "oom OutOfMemoryError CUDA out of memory" in result.stdout, result.stderr
    assert fault.triggered
    assert {"event": "vram.exhaust.observed", "queries": 1, "refused_allocations": 1} in ctx.events
