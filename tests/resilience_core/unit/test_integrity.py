"""Hashes, manifests, and structural checks against real safetensors files and real corruption."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy
import xxhash

from resilience_core.errors import IntegrityError
from resilience_core.state.integrity import (
    Manifest,
    check_relative_path,
    hash_file,
    sniff_placeholder,
    validate_file,
    validate_json,
    validate_safetensors,
)

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 65848\n"
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Login</body></html>\n"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A real safetensors file written by the safetensors package (two tensors, metadata)."""
    path = tmp_path / "model.safetensors"
    tensors = {
        "embed.weight": np.arange(64 * 16, dtype=np.float32).reshape(64, 16),
        "head.bias": np.ones(16, dtype=np.float16),
    }
    safetensors.numpy.save_file(tensors, str(path), metadata={"format": "np"})
    return path


def header_of(path: Path) -> tuple[int, dict[str, object]]:
    """(header length, parsed header) of a safetensors file."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return length, json.loads(raw[8 : 8 + length])


def with_header(path: Path, header: dict[str, object]) -> None:
    """Rewrite ``path`` with ``header`` and the original data section."""
    length, _ = header_of(path)
    data = path.read_bytes()[8 + length :]
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def test_hash_file_matches_hashlib_and_xxhash(tmp_path: Path) -> None:
    """sha256 equals hashlib's over sizes around the buffer boundary; xxh3 equals xxhash's xxh3_128."""
    for size in (0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 << 20):
        path = tmp_path / f"f{size}"
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        path.write_bytes(data)
        assert hash_file(path) == hashlib.sha256(data).hexdigest()
        assert hash_file(path, "xxh3") == xxhash.xxh3_128(data).hexdigest()
    with pytest.raises(ValueError, match="md5"):
        hash_file(tmp_path / "f0", "md5")


def test_manifest_verify_reports_every_mismatch_missing_and_extra(tmp_path: Path) -> None:
    """verify() lists every size change, same-size content change, missing and extra file at once."""
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    for name in ("a.bin", "b.bin", "sub/c.json", "gone.txt"):
        (root / name).write_bytes(name.encode() * 10)
    manifest = Manifest.build(root)
    assert manifest.verify(root).ok
    (root / "a.bin").write_bytes(b"short")
    flipped = bytearray((root / "b.bin").read_bytes())
    flipped[3] ^= 1
    (root / "b.bin").write_bytes(bytes(flipped))
    (root / "gone.txt").unlink()
    (root / "extra.tmp").write_bytes(b"?")
    report = manifest.verify(root)
    assert [m.path for m in report.mismatched] == ["a.bin", "b.bin"]
    assert "size" in report.mismatched[0].reason
    assert "sha256" in report.mismatched[1].reason
    assert report.missing == ("gone.txt",)
    assert report.extra == ("extra.tmp",)
    with pytest.raises(IntegrityError, match=r"a\.bin.*and 3 more") as info:
        report.raise_if_failed()
    assert info.value.entry == "a.bin"


def test_manifest_json_round_trip_and_attacks(tmp_path: Path) -> None:
    """to_json/from_json round-trips; absolute, '..' and duplicate entries raise naming the entry."""
    (tmp_path / "f").write_bytes(b"1")
    manifest = Manifest.build(tmp_path, algorithm="xxh3")
    assert Manifest.from_json(manifest.to_json()) == manifest
    good = {"path": "f", "size_bytes": 1, "digest": "ab"}
    for bad, entry in (
        ({**good, "path": "/etc/shadow"}, "/etc/shadow"),
        ({**good, "path": "a/../../x"}, "a/../../x"),
        ({**good, "size_bytes": -1}, "f"),
        ({**good, "digest": ""}, "f"),
    ):
        with pytest.raises(IntegrityError) as info:
            Manifest.from_json(json.dumps({"files": [bad]}))
        assert info.value.entry == entry
    with pytest.raises(IntegrityError, match="twice"):
        Manifest.from_json(json.dumps({"files": [good, good]}))
    with pytest.raises(IntegrityError, match="not valid JSON"):
        Manifest.from_json("{")
    with pytest.raises(IntegrityError, match="algorithm"):
        Manifest.from_json(json.dumps({"algorithm": "crc", "files": []}))


@pytest.mark.parametrize("path", ["", "/abs", "a/..", "..", "a//b", "./a", "a\\b", "a\x00b", 7])
def test_check_relative_path_refuses_unsafe_paths(path: object) -> None:
    """Empty, absolute, '..', unnormalized, backslash and NUL paths are refused."""
    with pytest.raises(IntegrityError):
        check_relative_path(path)


def test_valid_safetensors_file_passes_with_its_tensors(weights: Path) -> None:
    """A file written by safetensors validates and reports each tensor's dtype, shape and offsets."""
    tensors = validate_safetensors(weights)
    assert tensors["embed.weight"].dtype == "F32"
    assert tensors["embed.weight"].shape == (64, 16)
    assert tensors["head.bias"].data_offsets[1] - tensors["head.bias"].data_offsets[0] == 32
    validate_file(weights, expected_size_bytes=weights.stat().st_size)


def _truncate_half(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _truncate_last_byte(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-1])


def _append_garbage(p: Path) -> None:
    p.write_bytes(p.read_bytes() + b"\x00garbage" * 12)


def _truncate_in_header(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:40])


def _tiny(p: Path) -> None:
    p.write_bytes(b"\x01\x02\x03")


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _prefix_high_bit(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[7] ^= 0x80
    p.write_bytes(bytes(raw))


def _prefix_plus_one(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[0] += 1
    p.write_bytes(bytes(raw))


def _prefix_minus_one(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[0] -= 1
    p.write_bytes(bytes(raw))


def _flip_json_byte(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[raw.index(b"dtype")] ^= 0x20  # "dtype" -> "Dtype": a missing field
    p.write_bytes(bytes(raw))


def _zero_header(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    length = struct.unpack("<Q", raw[:8])[0]
    raw[8 : 8 + length] = bytes(length)
    p.write_bytes(bytes(raw))


def _all_zero(p: Path) -> None:
    p.write_bytes(bytes(p.stat().st_size))


def _html(p: Path) -> None:
    p.write_bytes(HTML_PAGE)


def _lfs(p: Path) -> None:
    p.write_bytes(LFS_POINTER)


def _unknown_dtype(p: Path) -> None:
    _, header = header_of(p)
    header["head.bias"]["dtype"] = "F99"  # type: ignore[index]
    with_header(p, header)


def _overlap(p: Path) -> None:
    _, header = header_of(p)
    header["head.bias"]["data_offsets"] = [0, 32]  # type: ignore[index]
    with_header(p, header)


def _beyond(p: Path) -> None:
    _, header = header_of(p)
    header["head.bias"]["shape"] = [32]  # type: ignore[index]
    with_header(p, header)


def _array_header(p: Path) -> None:
    encoded = b"[1,2,3]"
    p.write_bytes(struct.pack("<Q", len(encoded)) + encoded)


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated half": (_truncate_half, "truncated|exceeds"),
    "truncated last byte": (_truncate_last_byte, "truncated"),
    "trailing garbage": (_append_garbage, "trailing bytes"),
    "truncated inside header": (_truncate_in_header, "exceeds the file"),
    "smaller than 8 bytes": (_tiny, "too small"),
    "empty": (_empty, "empty file"),
    "length prefix high bit": (_prefix_high_bit, "exceeds the file"),
    "length prefix +1": (_prefix_plus_one, "not valid JSON"),
    "length prefix -1": (_prefix_minus_one, "not valid JSON|trailing bytes"),  # header padding may absorb it
    "bit flip in header JSON": (_flip_json_byte, "unknown dtype"),
    "zeroed header": (_zero_header, "not valid JSON"),
    "all zero at full size": (_all_zero, "all zero"),
    "html page": (_html, "HTML page"),
    "git-lfs pointer": (_lfs, "git-LFS pointer"),
    "unknown dtype": (_unknown_dtype, "unknown dtype 'F99'"),
    "overlapping offsets": (_overlap, "overlaps"),
    "offsets beyond the data": (_beyond, "needs 64 bytes"),
    "header is an array": (_array_header, "expected an object"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_structural_corruption_is_detected_like_safetensors(weights: Path, corruption: str) -> None:
    """Each corruption of reference §4 raises IntegrityError naming the file; safetensors agrees it is broken."""
    damage, reason = CORRUPTIONS[corruption]
    damage(weights)
    with pytest.raises(IntegrityError, match=reason) as info:
        validate_safetensors(weights)
    assert info.value.entry == str(weights)
    assert "download it again" in str(info.value)
    with pytest.raises(safetensors.SafetensorError):
        safetensors.numpy.load_file(str(weights))


def test_bit_flip_in_tensor_data_passes_structure_but_not_the_manifest(weights: Path) -> None:
    """A flipped data bit loads silently in safetensors and passes the header check; sha256 catches it."""
    manifest = Manifest.build(weights.parent)
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0x01
    weights.write_bytes(bytes(raw))
    validate_safetensors(weights)
    safetensors.numpy.load_file(str(weights))
    assert [m.path for m in manifest.verify(weights.parent).mismatched] == [weights.name]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"a": 1, "b": "unterminated', "not valid JSON"),
        (b"", "empty file"),
        (bytes(64), "all zero"),
        (b'{"a": 1}\n{"b": 2}', "not valid JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": "x\x01y"}', "not valid JSON"),
        (HTML_PAGE, "HTML page"),
        (LFS_POINTER, "git-LFS pointer"),
    ],
)
def test_json_corruption_is_detected(tmp_path: Path, content: bytes, reason: str) -> None:
    """Truncated, empty, zeroed, trailing-garbage, bad UTF-8, control-character, HTML and LFS JSON files fail."""
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(IntegrityError, match=reason):
        validate_json(path)
    with pytest.raises(IntegrityError):
        validate_file(path)


def test_validate_json_returns_the_value(tmp_path: Path) -> None:
    """A good JSON file returns its parsed value."""
    path = tmp_path / "config.json"
    path.write_text('{"layers": [1, 2]}')
    assert validate_json(path) == {"layers": [1, 2]}


def test_validate_file_checks_size_and_other_weight_formats(tmp_path: Path) -> None:
    """A wrong size, a missing file, and an LFS pointer saved as .bin weights are each refused."""
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(LFS_POINTER)
    with pytest.raises(IntegrityError, match="git-LFS pointer"):
        validate_file(path)
    with pytest.raises(IntegrityError, match="expected 10"):
        validate_file(path, expected_size_bytes=10)
    with pytest.raises(IntegrityError, match="missing"):
        validate_file(tmp_path / "nope.bin")
    readme = tmp_path / "README.md"
    readme.write_bytes(b"")
    validate_file(readme)  # an empty non-weight file is fine


def test_sniff_placeholder_names_each_kind() -> None:
    """LFS pointers, HTML pages, empty and all-zero heads are named; real bytes are not."""
    assert sniff_placeholder(LFS_POINTER) == "a git-LFS pointer"
    assert sniff_placeholder(b"\n  <html><body>502 Bad Gateway</body></html>") == "an HTML page"
    assert sniff_placeholder(b"") == "an empty file"
    assert sniff_placeholder(bytes(100)) == "all zero bytes"
    assert sniff_placeholder(b"\x10\x00\x00\x00\x00\x00\x00\x00{") is None
