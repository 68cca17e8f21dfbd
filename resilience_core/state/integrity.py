"""Prove files are intact: streaming hashes, manifests, and structural checks of weights and configs.

The cheap detection ladder (reference fault-backends §4), cheapest first:

1. size against the expected size (``os.stat``, microseconds);
2. structure: :func:`validate_safetensors` (pure Python, ~30 us) / :func:`validate_json`, and
   :func:`sniff_placeholder` for an HTML page or git-LFS pointer saved in place of the weights;
3. :func:`hash_file` with ``algorithm="xxh3"`` for quick change checks (~7 GB/s);
4. full sha256 against a :class:`Manifest` (hashlib speed, ~0.8 s per GB warm): the only rung that catches a
   flipped bit inside tensor data.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "config.json").write_text('{"layers": 2}')
>>> manifest = Manifest.build(root)
>>> _ = (root / "config.json").write_text('{"layers": 3}')
>>> [m.path for m in manifest.verify(root).mismatched]
['config.json']
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience_core.errors import ConfigError, IntegrityError

__all__ = [
    "FileRecord",
    "Manifest",
    "Mismatch",
    "TensorInfo",
    "VerifyReport",
    "check_relative_path",
    "hash_file",
    "sniff_placeholder",
    "validate_file",
    "validate_json",
    "validate_safetensors",
]

_ALGORITHMS = ("sha256", "xxh3")
_SAFETENSORS_MAX_HEADER_BYTES = 100_000_000  # the limit safetensors itself enforces
# Bits per element, as safetensors 0.8 defines them.
_DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
_REDOWNLOAD = "delete it and download it again"
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".msgpack", ".h5")


# -- hashing -----------------------------------------------------------------------------------------------------


def hash_file(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, streamed in constant memory at hashlib speed (``hashlib.file_digest``).

    ``algorithm``: ``"sha256"`` (matches Hugging Face / git-LFS oids) or ``"xxh3"`` (xxh3_128, ~5x faster,
    for change detection only; needs the ``xxhash`` package).
    """
    if algorithm == "sha256":
        digest: Any = "sha256"
    elif algorithm == "xxh3":
        try:
            import xxhash
        except ModuleNotFoundError:
            raise ConfigError(
                "algorithm='xxh3' needs the xxhash package, which is not installed; "
                "fix: pip install 'resilience-chaos[fast]', or use algorithm='sha256'",
                field="algorithm",
                value=algorithm,
                source="argument",
                allowed="sha256, or xxh3 with xxhash installed",
            ) from None
        digest = xxhash.xxh3_128
    else:
        raise ValueError(f"algorithm={algorithm!r} is not supported; use one of {', '.join(_ALGORITHMS)}")
    with open(path, "rb") as stream:
        return str(hashlib.file_digest(stream, digest).hexdigest())


# -- relative paths (shared with the snapshot manifest) ------------------------------------------------------


def check_relative_path(path: object, *, where: str = "manifest") -> str:
    """Return ``path`` if it is a safe, normalized relative POSIX path inside a root; else IntegrityError.

    Refused: non-strings, empty, absolute paths, ``..``, ``.`` or empty components, backslashes, NUL bytes.
    """
    if not isinstance(path, str) or not path:
        raise IntegrityError(f"{where}: entry path {path!r} must be a non-empty string", entry=str(path))
    problem = ""
    parts = path.split("/")
    if "\x00" in path or "\\" in path:
        problem = "contains a NUL byte or a backslash"
    elif path.startswith("/"):
        problem = "is absolute"
    elif ".." in parts:
        problem = "contains '..'"
    elif "" in parts or "." in parts:
        problem = "is not normalized (empty or '.' component)"
    if problem:
        raise IntegrityError(
            f"{where}: entry {path!r} {problem}; entries must be relative paths inside the root", entry=path
        )
    return path


# -- manifests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of a :class:`Manifest`: its relative path, size and digest."""

    path: str
    size_bytes: int
    digest: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A file whose size or digest differs from the manifest; ``reason`` says how."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Everything :meth:`Manifest.verify` found: every mismatch, missing and extra file (sorted)."""

    mismatched: tuple[Mismatch, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is mismatched, missing or extra."""
        return not (self.mismatched or self.missing or self.extra)

    def raise_if_failed(self) -> None:
        """Raise IntegrityError naming the first problem and counting the rest."""
        problems = [f"{m.path}: {m.reason}" for m in self.mismatched]
        problems += [f"{p}: missing" for p in self.missing]
        problems += [f"{p}: not in the manifest" for p in self.extra]
        if problems:
            first = (self.mismatched[0].path if self.mismatched else (self.missing or self.extra)[0]) or ""
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(f"verification failed: {problems[0]}{more}", entry=first)


def _walk_files(root: Path) -> list[str]:
    found: list[str] = []
    for directory, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        for name in files:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            found.append(rel.replace(os.sep, "/"))
    found.sort()
    return found


@dataclass(frozen=True, slots=True)
class Manifest:
    """Expected files of a tree: relative path -> (size, digest).

    ``Manifest.build(root)`` records a tree; ``manifest.verify(root)`` returns a :class:`VerifyReport` with every
    problem; ``to_json``/``from_json`` round-trip it, refusing absolute paths, ``..`` and duplicates.
    """

    algorithm: str = "sha256"
    files: Mapping[str, FileRecord] = field(default_factory=dict)

    @classmethod
    def build(cls, root: str | os.PathLike[str], *, algorithm: str = "sha256") -> Manifest:
        """Hash every regular file under ``root`` (symlinks to files are followed)."""
        base = Path(root)
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm={algorithm!r} is not supported; use one of {', '.join(_ALGORITHMS)}")
        records = {}
        for rel in _walk_files(base):
            full = base / rel
            records[rel] = FileRecord(rel, full.stat().st_size, hash_file(full, algorithm))
        return cls(algorithm, records)

    def verify(self, root: str | os.PathLike[str], *, check_extra: bool = True) -> VerifyReport:
        """Compare ``root`` with the manifest: sizes first (cheap), then digests of same-size files."""
        base = Path(root)
        mismatched: list[Mismatch] = []
        missing: list[str] = []
        for rel, record in sorted(self.files.items()):
            full = base / rel
            try:
                size = full.stat().st_size
            except FileNotFoundError:
                missing.append(rel)
                continue
            if size != record.size_bytes:
                mismatched.append(Mismatch(rel, f"size {size} bytes, expected {record.size_bytes}"))
                continue
            digest = hash_file(full, self.algorithm)
            if digest != record.digest:
                mismatched.append(Mismatch(rel, f"{self.algorithm} {digest[:16]}..., expected {record.digest[:16]}..."))
        extra: list[str] = []
        if check_extra and base.is_dir():
            extra = [rel for rel in _walk_files(base) if rel not in self.files]
        return VerifyReport(tuple(mismatched), tuple(missing), tuple(extra))

    def to_json(self) -> str:
        """The manifest as JSON: ``{"algorithm": ..., "files": [{"path", "size_bytes", "digest"}, ...]}``."""
        files = [
            {"path": r.path, "size_bytes": r.size_bytes, "digest": r.digest}
            for r in sorted(self.files.values(), key=lambda r: r.path)
        ]
        return json.dumps({"algorithm": self.algorithm, "files": files}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse and validate a manifest; IntegrityError names the first bad entry."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise IntegrityError(f"manifest is not valid JSON: {error}", entry="manifest") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise IntegrityError("manifest must be an object with a 'files' list", entry="manifest")
        algorithm = data.get("algorithm", "sha256")
        if algorithm not in _ALGORITHMS:
            raise IntegrityError(f"manifest algorithm={algorithm!r} must be one of {_ALGORITHMS}", entry="algorithm")
        records: dict[str, FileRecord] = {}
        for item in data["files"]:
            if not isinstance(item, dict):
                raise IntegrityError(f"manifest entry {item!r} must be an object", entry=str(item))
            rel = check_relative_path(item.get("path"))
            size, digest = item.get("size_bytes"), item.get("digest")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise IntegrityError(f"manifest entry {rel!r}: size_bytes={size!r} must be an int >= 0", entry=rel)
            if not isinstance(digest, str) or not digest:
                raise IntegrityError(f"manifest entry {rel!r}: digest={digest!r} must be a hex string", entry=rel)
            if rel in records:
                raise IntegrityError(f"manifest entry {rel!r} appears twice", entry=rel)
            records[rel] = FileRecord(rel, size, digest)
        return cls(algorithm, records)


# -- structural checks -----------------------------------------------------------------------------------------

_LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body")


def sniff_placeholder(head: bytes) -> str | None:
    """Name what ``head`` (a file's first bytes; 1 KiB is plenty) is if it is not real content, else None.

    Detects a git-LFS pointer, an HTML page (an error or login page saved as the file), an empty file, and an
    all-zero block (preallocated then crashed).
    """
    if not head:
        return "an empty file"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(_LFS_PREFIX):
        return "a git-LFS pointer"
    lowered = stripped[:1024].lower()
    if lowered.startswith(b"<") and any(marker in lowered for marker in _HTML_MARKERS):
        return "an HTML page"
    if head.count(0) == len(head):
        return "all zero bytes"
    return None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor of a safetensors header: dtype, shape and byte offsets into the data section."""

    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int]


def _bad(path: str, reason: str) -> IntegrityError:
    return IntegrityError(f"{path}: {reason}; {_REDOWNLOAD}", entry=path)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_safetensors(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """Check a safetensors file's structure without importing safetensors; return its tensors.

    Checks the 8-byte little-endian header length, the JSON header (an object of tensors plus optional
    ``__metadata__``), every dtype, shape/byte-count agreement, and that the offsets cover the data section
    exactly (no gap, no overlap, nothing missing or trailing). Raises IntegrityError naming the file and the
    reason. A flipped bit inside tensor data passes: only a hash catches that.
    """
    name = os.fspath(path)
    size = os.stat(name).st_size
    with open(name, "rb") as stream:
        prefix = stream.read(8)
        placeholder = sniff_placeholder(prefix + stream.read(1016))
        if placeholder is not None and placeholder != "all zero bytes":
            raise _bad(name, f"is {placeholder}, not safetensors weights")
        if len(prefix) < 8:
            raise _bad(name, f"is {size} bytes, too small for a safetensors header (8-byte length prefix)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len == 0 and placeholder == "all zero bytes":
            raise _bad(name, "is all zero bytes (preallocated and never written)")
        if header_len > _SAFETENSORS_MAX_HEADER_BYTES or header_len > size - 8:
            raise _bad(
                name, f"header length {header_len} exceeds the file ({size} bytes): truncated or not safetensors"
            )
        if header_len < 2:
            raise _bad(name, f"header length {header_len} is too small for a JSON object")
        stream.seek(8)
        raw = stream.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _bad(name, f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise _bad(name, f"header is a JSON {type(header).__name__}, expected an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(name, "__metadata__ must be an object of strings")
    data_bytes = size - 8 - header_len
    tensors: dict[str, TensorInfo] = {}
    for tensor, spec in header.items():
        if not isinstance(spec, dict):
            raise _bad(name, f"tensor {tensor!r}: entry must be an object")
        dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
        if dtype not in _DTYPE_BITS:
            raise _bad(name, f"tensor {tensor!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise _bad(name, f"tensor {tensor!r}: shape {shape!r} must be a list of ints >= 0")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise _bad(name, f"tensor {tensor!r}: data_offsets {offsets!r} must be [begin, end] with begin <= end")
        bits = math.prod(shape) * _DTYPE_BITS[str(dtype)]
        if bits % 8 or offsets[1] - offsets[0] != bits // 8:
            raise _bad(
                name,
                f"tensor {tensor!r}: {dtype} {shape} needs {bits / 8:g} bytes, offsets give {offsets[1] - offsets[0]}",
            )
        tensors[tensor] = TensorInfo(str(dtype), tuple(shape), (offsets[0], offsets[1]))
    position = 0
    for tensor, info in sorted(tensors.items(), key=lambda item: item[1].data_offsets):
        begin, end = info.data_offsets
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else f"leaves a gap at byte {position}"
            raise _bad(name, f"tensor {tensor!r}: offsets {list(info.data_offsets)} {kind}")
        position = end
    if position != data_bytes:
        state = "truncated" if position > data_bytes else "has trailing bytes"
        raise _bad(name, f"offsets cover {position} data bytes but the file holds {data_bytes}: {state}")
    return tensors


def validate_json(path: str | os.PathLike[str]) -> object:
    """Parse a JSON file as UTF-8 and return its value; IntegrityError names the file and the reason."""
    name = os.fspath(path)
    with open(name, "rb") as stream:
        raw = stream.read()
    placeholder = sniff_placeholder(raw[:1024])
    if placeholder is not None:
        raise _bad(name, f"is {placeholder}, not JSON")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _bad(name, f"is not UTF-8 ({error})") from None
    except ValueError as error:
        raise _bad(name, f"is not valid JSON ({error})") from None


def validate_file(path: str | os.PathLike[str], *, expected_size_bytes: int | None = None) -> None:
    """Run the cheap checks that fit the file: size, then structure (safetensors, JSON), or for other weight
    files (``.bin``, ``.pt``, ``.gguf``...) placeholder sniffing. Raises IntegrityError naming the file."""
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
    except FileNotFoundError:
        raise IntegrityError(f"{name}: missing; {_REDOWNLOAD}", entry=name) from None
    if expected_size_bytes is not None and size != expected_size_bytes:
        raise _bad(name, f"is {size} bytes, expected {expected_size_bytes}")
    if name.endswith(".safetensors"):
        validate_safetensors(name)
    elif name.endswith(".json"):
        validate_json(name)
    elif name.endswith(_WEIGHT_SUFFIXES):
        with open(name, "rb") as stream:
            placeholder = sniff_placeholder(stream.read(1024))
        if placeholder is not None:
            raise _bad(name, f"is {placeholder}, not weights")
