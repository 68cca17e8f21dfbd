"""seal() formats file entries itself for speed; its bytes must stay exactly those of json.dumps."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from resilience_core.state._manifest import seal, unseal

NAMES = ["plain.bin", 'q"uote', "back\\slash", "ünï", "\udcff-undecodable", "tab\tnew\nline", "日本/語", "a/b/c"]


def file_entry(path: str, **extra: Any) -> dict[str, Any]:
    """A file record in the shape snapshot() writes."""
    entry = {"path": path, "type": "file", "size": 2**40 + 3, "mode": 0o644, "mtime_ns": 2**62 + 7, "ino": 12345}
    return {**entry, "share": "hardlink", **extra}


def body_with(entries: list[Any]) -> dict[str, Any]:
    """A manifest body whose first root holds ``entries``."""
    return {
        "schema": "resilience-core/snapshot@1",
        "id": "20260101T000000000000Z-0123abcd",
        "label": 'ünï "label"',
        "created": 1767225600.25,
        "state": {"step": "x", "nested": [1, 2.5, None, {"k": "v"}]},
        "roots": [
            {"path": "/tree", "kind": "dir", "mode": 0o755, "entries": entries},
            {"path": "/gone", "kind": "absent", "entries": []},
            {"path": "/one", "kind": "file", "file": {k: v for k, v in file_entry("x").items() if k != "path"}},
        ],
    }


def expected(body: Any) -> bytes:
    """The manifest bytes as plain json.dumps makes them."""
    raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return b'{"checksum":"' + hashlib.sha256(raw).hexdigest().encode() + b'","body":' + raw + b"}"


ODD_ENTRIES: dict[str, list[Any]] = {
    "file records": [file_entry(name) for name in NAMES],
    "with sha256": [file_entry(name, sha256="ab" * 32) for name in NAMES],
    "dirs and symlinks": [{"path": "d", "type": "dir", "mode": 0o700}, {"path": "l", "type": "symlink", "target": "d"}],
    "bool size": [{**file_entry("b"), "size": True}],
    "float mtime": [{**file_entry("f"), "mtime_ns": 1.5}],
    "keys reordered": [{"type": "file", **file_entry("r")}, dict(reversed(file_entry("s").items()))],
    "not objects": [1, "x", None, [file_entry("n")]],
}


@pytest.mark.parametrize("entries", ODD_ENTRIES.values(), ids=ODD_ENTRIES.keys())
def test_seal_bytes_equal_json_dumps(entries: list[Any]) -> None:
    """Whatever the entries look like, seal() writes json.dumps's bytes, and unseal reads the same body back."""
    body = body_with(entries)
    assert seal(body) == expected(body)
    assert json.loads(seal(body))["body"] == json.loads(json.dumps(body))


@pytest.mark.parametrize("body", [{"roots": []}, {"a": 1}, {"roots": "x", "b": 2}, {"roots": [], "after": 1}])
def test_seal_of_unusual_bodies_equals_json_dumps(body: dict[str, Any]) -> None:
    """Bodies without a trailing roots list go through json.dumps unchanged."""
    assert seal(body) == expected(body)


def test_sealed_manifest_unseals() -> None:
    """A sealed real-shaped body passes unseal's checksum and validation."""
    body = body_with([file_entry(name) for name in ("plain.bin", "ünï", 'q"uote', "日本/語")])
    assert unseal(seal(body), "manifest.json")["roots"][0]["entries"][0]["path"] == "plain.bin"
