"""Deterministic file contents for generated repos: real safetensors, config.json, tokenizer files, text, bytes.

The safetensors format is written here by hand (8-byte little-endian header length, a JSON header padded with
spaces to 8 bytes, then the tensor data), so chaos does not need the safetensors package at import time.
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
    """Lay out tensors so that the file is exactly ``size_bytes`` long (a trailing U8 tensor takes the rest)."""
    elem = dtype_size(dtype)
    row_bytes = _HIDDEN * elem
    tensor_bytes = max(_HIDDEN * row_bytes // 2, (size_bytes // 64) // row_bytes * row_bytes)
    header_guess = 160 + 96 * (size_bytes // tensor_bytes + 2)
    budget = max(0, size_bytes - 8 - header_guess)
    while True:
        tensors: list[tuple[str, str, list[int], int]] = []
        index = first_index
        used = 0
        while budget - used >= row_bytes:
            nbytes = min(tensor_bytes, (budget - used) // row_bytes * row_bytes)
            layer, proj = divmod(index, len(_PROJECTIONS))
            name = f"blocks.{layer}.{_PROJECTIONS[proj]}.weight"
            tensors.append((name, dtype, [nbytes // row_bytes, _HIDDEN], nbytes))
            used += nbytes
            index += 1
        pad_name = f"blocks.pad_{first_index}"
        slack = 8
        for _ in range(4):
            target = _header_len(tensors, pad_name, 0, used) + slack
            target += -target % 8
            pad = size_bytes - 8 - target - used
            if pad < 0:
                break
            body = _header_json(tensors, pad_name, pad, used)
            if len(body) <= target:
                header = struct.pack("<Q", target) + body + b" " * (target - len(body))
                names = (*(t[0] for t in tensors), pad_name)
                return SafetensorsPlan(header, used + pad, names, index)
            slack += 8
        if not tensors:
            raise ValueError(f"size_bytes={size_bytes} is too small for a safetensors header")
        budget = used - tensors[-1][3]  # give the header room: drop the last tensor and lay out again


def _header_json(tensors: list[tuple[str, str, list[int], int]], pad_name: str, pad: int, used: int) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "generator": "resilience-chaos"}}
    offset = 0
    for name, dtype, shape, nbytes in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header[pad_name] = {"dtype": "U8", "shape": [pad], "data_offsets": [used, used + pad]}
    return json.dumps(header, separators=(",", ":")).encode()


def _header_len(tensors: list[tuple[str, str, list[int], int]], pad_name: str, pad: int, used: int) -> int:
    return len(_header_json(tensors, pad_name, pad, used)) + 2 * len(str(1 << 40))  # room for pad's digits


def file_chunks(
    file: FileSpec,
    seed: int,
    *,
    repo_id: str,
    plan: SafetensorsPlan | None = None,
    weight_map: Mapping[str, str] | None = None,
    total_tensor_bytes: int = 0,
) -> tuple[int, Iterator[bytes]]:
    """(size in bytes, the content in chunks) for one file; safetensors files need their ``plan``."""
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
        kind, file, seed=seed, repo_id=repo_id, weight_map=weight_map or {}, total_tensor_bytes=total_tensor_bytes
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
            "torch_dtype": "bfloat16",
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
