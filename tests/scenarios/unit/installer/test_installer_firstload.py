"""The first-load step: a VRAM estimate from safetensors headers and a CUDA OOM the runtime recognizes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from resilience_core.recovery.categorize import categorize
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime
from resilience_core.recovery.taxonomy import FailureType, RecoveredEvent, RecoveryEvent
from scenarios.installer.firstload import OutOfMemoryError, estimate_weights_bytes, first_load

MIB = 1 << 20


def _safetensors(path: Path, tensor_bytes: int) -> None:
    header = json.dumps({"w": {"dtype": "U8", "shape": [tensor_bytes], "data_offsets": [0, tensor_bytes]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * tensor_bytes)


def test_oom_is_shaped_like_torch(tmp_path: Path) -> None:
    """The error is `torch.OutOfMemoryError` by name, a RuntimeError, with PyTorch's message; categorized as VRAM."""
    _safetensors(tmp_path / "m.safetensors", 3 * MIB)
    with pytest.raises(OutOfMemoryError) as caught:
        first_load(
            batch_size=8,
            folders=[tmp_path],
            activation_bytes_per_sample=MIB,
            vram_total_bytes=8 * MIB,
            vram_free_bytes=6 * MIB,
        )
    error = caught.value
    assert f"{type(error).__module__}.{type(error).__qualname__}" == "torch.OutOfMemoryError"
    assert isinstance(error, RuntimeError)
    assert not isinstance(error, MemoryError)
    assert str(error).startswith("CUDA out of memory. Tried to allocate 8.00 MiB. GPU 0 has a total capacity of")
    ctx = categorize(error, "model_loading")
    assert ctx.failure_type is FailureType.VRAM_EXHAUSTION
    assert ctx.details["bytes_needed"] == 8 * MIB


def test_degrade_halves_batch_until_it_fits(tmp_path: Path) -> None:
    """Through the runtime, OOM at batch 8 and 4 degrades to batch 2, which fits: a degraded recovery."""
    _safetensors(tmp_path / "m.safetensors", 3 * MIB)
    events: list[RecoveryEvent] = []
    rt = Runtime(clock=FakeClock(), hooks=[events.append])
    plan = rt.run(
        first_load,
        operation="model_loading",
        params={"batch_size": 8},
        folders=[tmp_path],
        activation_bytes_per_sample=MIB,
        vram_total_bytes=8 * MIB,
        vram_free_bytes=6 * MIB,
    )
    assert plan.batch_size == 2
    recovered = [e for e in events if isinstance(e, RecoveredEvent)]
    assert len(recovered) == 1
    assert recovered[0].degraded


def test_estimate_reads_headers_only(tmp_path: Path) -> None:
    """The weight estimate is the sum of tensor byte ranges over every safetensors file, nested folders too."""
    (tmp_path / "sub").mkdir()
    _safetensors(tmp_path / "a.safetensors", 1000)
    _safetensors(tmp_path / "sub" / "b.safetensors", 24)
    (tmp_path / "config.json").write_text("{}")
    assert estimate_weights_bytes([tmp_path]) == 1024


def test_no_vram_figure_skips_the_check(tmp_path: Path) -> None:
    """Without a GPU or a fake figure the load is not checked, and the plan says so."""
    _safetensors(tmp_path / "m.safetensors", 64)
    plan = first_load(
        batch_size=4, folders=[tmp_path], activation_bytes_per_sample=MIB, vram_total_bytes=None, vram_free_bytes=None
    )
    assert plan.vram_free_bytes is None
    assert plan.batch_size == 4
