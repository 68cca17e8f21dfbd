"""The transfer engine: Range resume from a recorded partial, ETag-guarded, verified before it is visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.targets import HubServer
from resilience_core.errors import IntegrityError
from resilience_core.hub import ChecksumMismatch, ModelNotFoundError, RemoteFile, download_blob
from resilience_core.hub.transfer import file_digest, partial_paths

SHARD = "diffusion_pytorch_model-00001-of-00002.safetensors"


def _remote(hub: HubServer, path: str = SHARD) -> tuple[str, RemoteFile, bytes]:
    generated = hub.file("acme/wan-mini", path)
    commit = hub.commit("acme/wan-mini")
    remote = RemoteFile(
        path=path,
        size_bytes=generated.size_bytes,
        etag=generated.etag,
        sha256=generated.sha256 if generated.lfs else None,
    )
    return f"{hub.url}/acme/wan-mini/resolve/{commit}/{path}", remote, generated.read_bytes()


def _seed_partial(blob: Path, data: bytes, etag: str, size: int) -> None:
    part, meta = partial_paths(blob)
    blob.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    meta.write_text(json.dumps({"format": 1, "etag": etag, "size_bytes": size, "url": "x"}))


def test_download_verifies_and_publishes_atomically(hub: HubServer, tmp_path: Path) -> None:
    """A full download lands at the blob path with the exact bytes; no partial or record is left."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    stats = download_blob(url, blob, remote, timeout_s=5)
    assert blob.read_bytes() == data
    assert stats.received_bytes == len(data)
    assert stats.resumed_from_bytes == 0
    assert sorted(p.name for p in blob.parent.iterdir()) == [remote.etag]


def test_resume_fetches_only_the_missing_tail(hub: HubServer, tmp_path: Path) -> None:
    """A partial whose recorded ETag matches is resumed with Range: only the missing bytes cross the wire."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    _seed_partial(blob, data[:600_000], remote.etag, remote.size_bytes)
    hub.reset_counters()
    stats = download_blob(url, blob, remote, timeout_s=5)
    assert blob.read_bytes() == data
    assert stats.resumed_from_bytes == 600_000
    assert hub.served_bytes("acme/wan-mini", SHARD) == len(data) - 600_000
    assert any(r.range == "bytes=600000-" for r in hub.requests)


def test_partial_with_another_etag_is_discarded(hub: HubServer, tmp_path: Path) -> None:
    """A partial recorded for a different ETag is never appended to: the download restarts at byte 0."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    _seed_partial(blob, b"\xff" * 1000, "0" * 64, remote.size_bytes)
    stats = download_blob(url, blob, remote, timeout_s=5)
    assert stats.resumed_from_bytes == 0
    assert blob.read_bytes() == data


def test_corrupt_partial_is_detected_and_removed(hub: HubServer, tmp_path: Path) -> None:
    """Same-size damage inside a resumed partial fails the sha256 check; nothing becomes visible."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    damaged = bytearray(data[:500_000])
    damaged[1234] ^= 0x01
    _seed_partial(blob, bytes(damaged), remote.etag, remote.size_bytes)
    with pytest.raises(ChecksumMismatch) as caught:
        download_blob(url, blob, remote, timeout_s=5)
    assert isinstance(caught.value, IntegrityError)
    assert caught.value.expected == remote.sha256
    assert not blob.exists()
    assert not any(p.exists() for p in partial_paths(blob))


def test_corruption_served_once_is_caught(hub: HubServer, tmp_path: Path) -> None:
    """A body with one flipped byte (same size) raises ChecksumMismatch; the next call gets good bytes."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    hub.corrupt_next("acme/wan-mini", SHARD, times=1)
    with pytest.raises(ChecksumMismatch):
        download_blob(url, blob, remote, timeout_s=5)
    download_blob(url, blob, remote, timeout_s=5)
    assert blob.read_bytes() == data


def test_partial_changed_on_disk_while_downloading_is_caught(hub: HubServer, tmp_path: Path) -> None:
    """The bytes that arrived were right, but the partial on disk changed under the download (another process,
    a bad sector): the digest is of the file, so nothing becomes visible and the next call gets good bytes."""
    url, remote, data = _remote(hub)
    blob = tmp_path / "blobs" / remote.etag
    part, _meta = partial_paths(blob)
    flipped: list[int] = []

    def flip_once(_count: int) -> None:
        if not flipped and part.stat().st_size > 4096:
            with part.open("r+b") as handle:  # a real bit flip in the file, through another descriptor
                handle.seek(100)
                byte = handle.read(1)[0]
                handle.seek(100)
                handle.write(bytes([byte ^ 0x10]))
            flipped.append(100)

    with pytest.raises(ChecksumMismatch):
        download_blob(url, blob, remote, timeout_s=5, on_bytes=flip_once)
    assert flipped == [100]
    assert not blob.exists()
    download_blob(url, blob, remote, timeout_s=5)
    assert blob.read_bytes() == data


def test_regular_file_is_checked_by_git_sha1(hub: HubServer, tmp_path: Path) -> None:
    """A non-LFS file is verified against its git blob sha1 (the ETag huggingface_hub names it by)."""
    url, remote, data = _remote(hub, "config.json")
    assert remote.sha256 is None
    assert remote.algorithm == "git-sha1"
    blob = tmp_path / remote.etag
    download_blob(url, blob, remote, timeout_s=5)
    assert file_digest(blob, remote) == remote.etag
    assert blob.read_bytes() == data


def test_missing_file_is_a_clear_not_found(hub: HubServer, tmp_path: Path) -> None:
    """A 404 for a file names it as a filename problem (not retryable) and leaves no partial."""
    url, remote, _ = _remote(hub)
    bad = RemoteFile(path="nope.bin", size_bytes=10, etag="1" * 64, sha256="1" * 64)
    blob = tmp_path / "blobs" / bad.etag
    with pytest.raises(ModelNotFoundError) as caught:
        download_blob(url.replace(SHARD, "nope.bin"), blob, bad, timeout_s=5)
    assert caught.value.field == "filename"
    assert not blob.parent.exists() or list(blob.parent.iterdir()) == []
    del remote
