"""The "first load" step: will the weights plus one batch fit in VRAM?

The estimate reads only the safetensors headers (pure Python, through
:func:`resilience_core.state.integrity.validate_safetensors`): the bytes of every tensor, plus
``activation_bytes_per_sample * batch_size``. When it does not fit, it raises what PyTorch raises: an error
whose class is ``torch.OutOfMemoryError`` by name (``__module__ = "torch"``; torch is not imported) with the
real message format, so the runtime's categorizer and degrade strategy react exactly as they would to a real
CUDA OOM: ``batch_size`` halves until it fits, and the install ends ``recovered_degraded``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from resilience_core.state.integrity import validate_safetensors

__all__ = ["LoadPlan", "OutOfMemoryError", "estimate_weights_bytes", "first_load"]

_MIB = 1 << 20
_GIB = 1 << 30


class OutOfMemoryError(RuntimeError):
    """Shaped like ``torch.OutOfMemoryError`` (a RuntimeError, not a MemoryError); see the module docstring."""


# The categorizer matches on the class's qualified name; this is the name PyTorch >= 2.5 prints.
OutOfMemoryError.__module__ = "torch"
OutOfMemoryError.__qualname__ = "OutOfMemoryError"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What fit: the batch size, the weights and activation bytes, and the VRAM it was checked against."""

    batch_size: int
    weights_bytes: int
    activation_bytes: int
    vram_free_bytes: int | None


def estimate_weights_bytes(folders: Iterable[Path]) -> int:
    """Sum of tensor bytes over every ``*.safetensors`` file under ``folders`` (headers only)."""
    total = 0
    for folder in folders:
        for path in sorted(folder.rglob("*.safetensors")):
            for tensor in validate_safetensors(path).values():
                begin, end = tensor.data_offsets
                total += end - begin
    return total


def _size(value: int) -> str:
    return f"{value / _GIB:.2f} GiB" if value >= _GIB else f"{value / _MIB:.2f} MiB"


def _oom_message(tried: int, total: int, free: int, in_use: int) -> str:
    # The format of PyTorch >= 2.1's caching allocator (reference fault-backends §3).
    return (
        f"CUDA out of memory. Tried to allocate {_size(tried)}. GPU 0 has a total capacity of {_size(total)} of "
        f"which {_size(free)} is free. Process {os.getpid()} has {_size(in_use)} memory in use. Of the allocated "
        f"memory {_size(in_use)} is allocated by PyTorch, and 0 bytes is reserved by PyTorch but unallocated. "
        "If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True "
        "to avoid fragmentation.  See documentation for Memory Management  "
        "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
    )


def first_load(
    *,
    batch_size: int,
    folders: Iterable[Path],
    activation_bytes_per_sample: int,
    vram_total_bytes: int | None,
    vram_free_bytes: int | None,
) -> LoadPlan:
    """Check that the weights and a ``batch_size`` batch fit in free VRAM; raise :class:`OutOfMemoryError` if not.

    Without a VRAM figure (no GPU, no fake) the check is skipped and the plan says so (``vram_free_bytes=None``).
    """
    weights = estimate_weights_bytes(folders)
    activations = activation_bytes_per_sample * batch_size
    if vram_free_bytes is None:
        return LoadPlan(batch_size, weights, activations, None)
    total = vram_total_bytes if vram_total_bytes is not None else vram_free_bytes
    if weights > vram_free_bytes:
        raise OutOfMemoryError(_oom_message(weights, total, vram_free_bytes, total - vram_free_bytes))
    if weights + activations > vram_free_bytes:
        free_after_weights = vram_free_bytes - weights
        raise OutOfMemoryError(_oom_message(activations, total, free_after_weights, total - free_after_weights))
    return LoadPlan(batch_size, weights, activations, vram_free_bytes)
