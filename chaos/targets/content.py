"""Deterministic file contents for generated repos: real safetensors, config.json, tokenizer files, text, bytes.

The safetensors format is written here by hand (8-byte little-endian header length, a JSON header padded with
spaces to 8 bytes, then the tensor data), so chaos does not need the safetensors package at import time. Every
tensor of a file has the file's dtype and the tensors cover the data exactly (no filler tensor).
Everything derives from a per-file seed: the same seed gives the same bytes on every machine and Python.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.targets.spec import FileSpec, dtype_size, resolved_kind

__all__ = ["SafetensorsPlan", "file_chunks", "plan_safetensors"]

_CHUNK_BYTES = 4 << 20
_HIDDEN = 256
_PROJECTIONS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "ffn.0", "ffn.2")
_SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
_WORDS = (
    *("video", "frame", "motion", "latent", "prompt", "scene", "light", "camera", "shadow", "river", "mountain"),
    *("city", "night", "morning", "robot", "forest", "ocean", "dance", "slow", "fast", "wide", "close", "color"),
    *("texture", "noise", "step", "guide", "scale", "seed", "model", "weight"),
)


@dataclass(frozen=True, slots=True)
class SafetensorsPlan:
    """The header of one generated shard; ``data_bytes`` of seeded data follow it."""

    header: bytes  # the full prefix: 8-byte length + padded JSON
    data_bytes: int
    tensor_names: tuple[str, ...]
    next_index: int  # tensor counter to continue from in the next shard

    @property
    def size_bytes(self) -> int:
        """Total file size."""
        return len(self.header) + self.data_bytes


def plan_safetensors(size_bytes: int, dtype: str, first_index: int) -> SafetensorsPlan:
    """Lay out tensors so that the file is exactly ``size_bytes`` long, every tensor of ``dtype``.

    Weights are ``[rows, 256]`` matrices; what is left after the last whole row is one 1-D tensor (a bias), so
    no filler tensor of another dtype exists. The header is padded with spaces to a multiple of 8 (as the
    safetensors writer does), which keeps every tensor aligned. ``size_bytes`` must be a multiple of the
    dtype's size (the spec checks it).
    """
    elem = dtype_size(dtype)
    if size_bytes % elem:
        raise ValueError(f"size_bytes={size_bytes} is not a multiple of {elem} ({dtype})")
    row_bytes = _HIDDEN * elem
    tensor_bytes = max(_HIDDEN * row_bytes // 2, (size_bytes // 64) // row_bytes * row_bytes)
    header_len = 0
    for _ in range(16):
        data_bytes = size_bytes - 8 - header_len
        if data_bytes < 0:
            break
        tensors, next_index = _layout(data_bytes, dtype, elem, tensor_bytes, first_index)
        body = _header_json(tensors)
        needed = len(body) + -len(body) % 8
        if needed <= header_len:
            header = struct.pack("<Q", header_len) + body + b" " * (header_len - len(body))
            return SafetensorsPlan(header, data_bytes, tuple(t[0] for t in tensors), next_index)
        header_len = needed  # the header grew: fewer data bytes, lay out again (converges: digits change slowly)
    raise ValueError(f"size_bytes={size_bytes} is too small for a safetensors header")


def _layout(
    data_bytes: int, dtype: str, elem: int, tensor_bytes: int, first_index: int
) -> tuple[list[tuple[str, str, list[int], int]], int]:
    """Tensors (name, dtype, shape, bytes) filling exactly ``data_bytes``, and the next tensor index."""
    row_bytes = _HIDDEN * elem
    tensors: list[tuple[str, str, list[int], int]] = []
    index = first_index
    left = data_bytes
    while left >= row_bytes:
        nbytes = min(tensor_bytes, left // row_bytes * row_bytes)
        tensors.append((_tensor_name(index, "weight"), dtype, [nbytes // row_bytes, _HIDDEN], nbytes))
        left -= nbytes
        index += 1
    if left:
        tensors.append((_tensor_name(index, "bias"), dtype, [left // elem], left))
        index += 1
    return tensors, index


def _tensor_name(index: int, kind: str) -> str:
    layer, proj = divmod(index, len(_PROJECTIONS))
    return f"blocks.{layer}.{_PROJECTIONS[proj]}.{kind}"


def _header_json(tensors: list[tuple[str, str, list[int], int]]) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "generator": "resilience-chaos"}}
    offset = 0
    for name, dtype, shape, nbytes in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    return json.dumps(header, separators=(",", ":")).encode()


def file_chunks(
    file: FileSpec,
    seed: int,
    *,
    repo_id: str,
    plan: SafetensorsPlan | None = None,
    weight_map: Mapping[str, str] | None = None,
    total_tensor_bytes: int = 0,
    torch_dtype: str = "bfloat16",
) -> tuple[int, Iterator[bytes]]:
    """(size in bytes, the content in chunks) for one file; safetensors files need their ``plan``.

    ``torch_dtype`` is what a generated config.json says the weights are (the dtype of the repo's safetensors).
    """
    kind = resolved_kind(file)
    if file.content is not None:
        data = file.content.encode()
        return len(data), iter((data,))
    if kind == "safetensors":
        assert plan is not None
        return plan.size_bytes, _chain(plan.header, _random_chunks(seed, plan.data_bytes))
    if kind == "bytes":
        size = file.size_bytes or 0
        return size, _random_chunks(seed, size)
    if kind == "text":
        data = _text(seed, repo_id, file.size_bytes)
        return len(data), iter((data,))
    obj = _json_object(
        kind,
        file,
        seed=seed,
        repo_id=repo_id,
        weight_map=weight_map or {},
        total_tensor_bytes=total_tensor_bytes,
        torch_dtype=torch_dtype,
    )
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    return len(data), iter((data,))


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _random_chunks(seed: int, size_bytes: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    remaining = size_bytes
    while remaining > 0:
        n = min(_CHUNK_BYTES, remaining)
        yield rng.randbytes(n)
        remaining -= n


def _text(seed: int, repo_id: str, size_bytes: int | None) -> bytes:
    rng = random.Random(seed)
    head = f"# {repo_id}\n\nA generated repo served by resilience-chaos's local hub.\n\n"
    words = " ".join(rng.choice(_WORDS) for _ in range(48))
    text = (head + words + "\n").encode()
    if size_bytes is None:
        return text
    while len(text) < size_bytes:
        text += (" ".join(rng.choice(_WORDS) for _ in range(64)) + "\n").encode()
    return text[:size_bytes]


def _json_object(
    kind: str,
    file: FileSpec,
    *,
    seed: int,
    repo_id: str,
    weight_map: Mapping[str, str],
    total_tensor_bytes: int,
    torch_dtype: str,
) -> dict[str, Any]:
    if kind == "config":
        layers = max(1, len(weight_map) // len(_PROJECTIONS))
        config: dict[str, Any] = {
            "_class_name": "WanTransformer3DModel",
            "_name_or_path": repo_id,
            "model_type": "wan",
            "dim": _HIDDEN,
            "ffn_dim": 4 * _HIDDEN,
            "num_heads": 4,
            "num_layers": layers,
            "patch_size": [1, 2, 2],
            "text_len": 512,
            "torch_dtype": torch_dtype,
        }
        return {**config, **dict(file.data or {})}
    if kind == "json":
        return dict(file.data or {"seed": seed % 1000})
    if kind == "safetensors_index":
        directory = file.path.rsplit("/", 1)[0] + "/" if "/" in file.path else ""
        local = {name: shard[len(directory) :] for name, shard in weight_map.items() if shard.startswith(directory)}
        return {"metadata": {"total_size": total_tensor_bytes}, "weight_map": dict(sorted(local.items()))}
    if kind == "special_tokens_map":
        return {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    if kind == "tokenizer_config":
        return {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "model_max_length": 512,
            "pad_token": "<pad>",
            "tokenizer_class": "PreTrainedTokenizerFast",
            "unk_token": "<unk>",
        }
    return _tokenizer(seed, file.vocab_size)


def _tokenizer(seed: int, vocab_size: int) -> dict[str, Any]:
    """A minimal WordLevel tokenizer.json in the `tokenizers` library's format."""
    rng = random.Random(seed)
    vocab: dict[str, int] = {token: i for i, token in enumerate(_SPECIAL_TOKENS)}
    while len(vocab) < vocab_size:
        word = rng.choice(_WORDS) + ("" if rng.random() < 0.3 else str(rng.randrange(10_000)))
        vocab.setdefault(word, len(vocab))
    flags = dict.fromkeys(("single_word", "lstrip", "rstrip", "normalized"), False)
    added = [{"id": i, "content": t, **flags, "special": True} for i, t in enumerate(_SPECIAL_TOKENS)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
