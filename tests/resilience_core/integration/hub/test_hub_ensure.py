"""ensure_model / verify_model against a real local hub: layout, repair, mirrors, bad input, locks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from chaos.targets import HubServer
from resilience_core.errors import ConfigError, RecoveryFailed
from resilience_core.hub import ModelNotFoundError, ensure_model, verify_model
from resilience_core.recovery.runtime import Runtime
from resilience_core.recovery.taxonomy import FailureType

REPO = "acme/wan-mini"
SHARD = "diffusion_pytorch_model-00001-of-00002.safetensors"


def _files(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_result_loads_offline_with_huggingface_hub(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """After ensure_model, huggingface_hub finds every file with local_files_only=True, byte-identical."""
    from huggingface_hub import hf_hub_download, snapshot_download

    result = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert result.commit == hub.commit(REPO)
    folder = snapshot_download(REPO, revision="main", cache_dir=cache, local_files_only=True)
    assert Path(folder) == result.path
    for path, generated in hub.files(REPO).items():
        assert (result.path / path).read_bytes() == generated.read_bytes()
    config = hf_hub_download(REPO, "config.json", cache_dir=cache, local_files_only=True)
    assert Path(config).read_bytes() == hub.file(REPO, "config.json").read_bytes()
    assert verify_model(REPO, "main", cache_dir=cache).ok


def test_second_ensure_downloads_nothing(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """Files already present and verified are reused: no body bytes are served the second time."""
    ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    hub.reset_counters()
    again = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert again.downloaded_bytes == 0
    assert again.reused_bytes == again.total_bytes
    assert hub.total_served_bytes() == 0


def test_local_dir_layout(hub: HubServer, tmp_path: Path, runtime: Runtime) -> None:
    """With local_dir the files land at their repo paths and huggingface_hub accepts them offline."""
    from huggingface_hub import hf_hub_download

    target = tmp_path / "model"
    result = ensure_model(REPO, "v1", sources=[hub.url], local_dir=target, cache_dir=tmp_path / "c", runtime=runtime)
    assert result.path == target
    assert (target / SHARD).read_bytes() == hub.file(REPO, SHARD, revision="v1").read_bytes()
    found = hf_hub_download(REPO, SHARD, revision="v1", local_dir=target, local_files_only=True)
    assert Path(found) == target / SHARD
    assert verify_model(REPO, "v1", local_dir=target).ok


def test_corruption_on_disk_is_detected_and_repaired(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """A same-size bit flip written after download fails verify_model; ensure_model refetches only that file."""
    result = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    blob = (result.path / SHARD).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x40
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    report = verify_model(REPO, "main", cache_dir=cache)
    assert not report.ok
    assert [m.path for m in report.report.mismatched] == [SHARD]
    hub.reset_counters()
    repaired = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert repaired.repaired == (SHARD,)
    assert hub.total_served_bytes() == hub.file(REPO, SHARD).size_bytes
    assert verify_model(REPO, "main", cache_dir=cache).ok


def test_corruption_served_once_is_repaired(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """A body corrupted in transit once (same size) is rejected before it is visible and fetched again."""
    seen: list[object] = []
    runtime.add_hook(seen.append)
    hub.corrupt_next(REPO, SHARD, times=1)
    ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert verify_model(REPO, "main", cache_dir=cache).ok
    failures = [e for e in seen if type(e).__name__ == "FailureEvent"]
    assert [e.context.failure_type for e in failures] == [FailureType.MODEL_INTEGRITY_FAILURE]  # type: ignore[attr-defined]


def test_mirror_fallback_when_primary_is_down(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """With the primary refusing connections, the source strategy switches to the mirror and succeeds."""
    with hub.mirror() as mirror:
        dead = "http://127.0.0.1:9"  # discard port: connection refused on loopback
        result = ensure_model(REPO, "main", sources=[dead, mirror.url], cache_dir=cache, runtime=runtime)
        assert result.endpoint == mirror.url
    assert verify_model(REPO, "main", cache_dir=cache).ok


@pytest.mark.parametrize(
    ("repo_id", "revision", "field"),
    [("acme/does-not-exist", "main", "repo_id"), (REPO, "no-such-branch", "revision")],
)
def test_unknown_repo_or_revision_is_one_clear_error(
    hub: HubServer, cache: Path, runtime: Runtime, repo_id: str, revision: str, field: str
) -> None:
    """Unknown repo or revision: one ModelNotFoundError naming the field; nothing written to the cache."""
    with pytest.raises(ModelNotFoundError) as caught:
        ensure_model(repo_id, revision, sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert caught.value.field == field
    assert repr(caught.value.value).strip("'") in str(caught.value)
    assert _files(cache) == []


def test_unreachable_endpoint_is_one_clear_error(cache: Path, runtime: Runtime) -> None:
    """An endpoint nobody listens on: RecoveryFailed naming the endpoint and the cause; nothing written."""
    with pytest.raises(RecoveryFailed) as caught:
        ensure_model(REPO, "main", sources=["http://127.0.0.1:9"], cache_dir=cache, runtime=runtime)
    assert "http://127.0.0.1:9" in str(caught.value)
    assert caught.value.context.failure_type is FailureType.NETWORK_CONNECTIVITY_LOSS
    assert _files(cache) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"repo_id": "not a repo"}, "repo_id"),
        ({"revision": "../etc"}, "revision"),
        ({"sources": ["ftp://x.example"]}, "sources[0]"),
        ({"sources": []}, "sources"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_arguments_raise_config_error(cache: Path, kwargs: dict[str, object], field: str) -> None:
    """Bad arguments raise one ConfigError naming the field, before any network or disk access."""
    call: dict[str, object] = {"repo_id": REPO, "revision": "main", "sources": ["http://127.0.0.1:9"], **kwargs}
    with pytest.raises(ConfigError) as caught:
        ensure_model(cache_dir=cache, **call)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert _files(cache) == []


def test_held_lock_times_out_as_lock_contention(hub: HubServer, cache: Path) -> None:
    """A blob lock held by someone else is waited on for lock_timeout_s only, then reported as contention."""
    from filelock import FileLock

    from resilience_core.recovery.clock import FakeClock

    etag = hub.file(REPO, SHARD).etag
    lock_path = cache / ".locks" / "models--acme--wan-mini" / f"{etag}.lock"
    lock_path.parent.mkdir(parents=True)
    rt = Runtime(clock=FakeClock(), max_attempts=2)
    with FileLock(lock_path), pytest.raises(RecoveryFailed) as caught:
        ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=rt, lock_timeout_s=0.2)
    assert caught.value.context.failure_type is FailureType.LOCK_CONTENTION
    ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=rt)
    assert verify_model(REPO, "main", cache_dir=cache).ok


def test_orphan_incomplete_files_are_cleaned(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """Orphaned `.incomplete` files, stale lock files and foreign partials left by killed processes go away."""
    etag = hub.file(REPO, SHARD).etag
    blobs = cache / "models--acme--wan-mini" / "blobs"
    blobs.mkdir(parents=True)
    orphan = blobs / f"{etag}.1a2b3c4d.incomplete"
    orphan.write_bytes(b"\0" * 4096)
    foreign = blobs / ("e" * 64 + ".part")
    foreign.write_bytes(b"\0" * 100)
    stale_lock = cache / ".locks" / "models--acme--wan-mini" / ("e" * 64 + ".lock")
    stale_lock.parent.mkdir(parents=True)
    stale_lock.touch()
    os.utime(stale_lock, (time.time() - 7200, time.time() - 7200))  # older than recovery.stale_lock_age_seconds
    fresh_lock = stale_lock.with_name("f" * 64 + ".lock")
    fresh_lock.touch()
    ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    assert not orphan.exists()
    assert not foreign.exists()
    assert not stale_lock.exists()
    assert fresh_lock.exists()  # may be in use by a process that opened it a moment ago
    assert not [p for p in blobs.iterdir() if "." in p.name]


def test_preflight_disk_check_fails_clean(hub: HubServer, cache: Path, runtime: Runtime) -> None:
    """When the disk cannot hold the missing files the call fails before writing a byte, as disk-full."""
    huge = 1 << 60  # a reserve no disk has
    with pytest.raises(RecoveryFailed) as caught:
        ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime, reserve_bytes=huge)
    assert caught.value.context.failure_type is FailureType.STORAGE_SPACE_INSUFFICIENT
    blobs = cache / "models--acme--wan-mini" / "blobs"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    assert os.fspath(cache) in str(caught.value.context.error)


def test_concurrent_ensures_download_each_file_once(hub: HubServer, cache: Path) -> None:
    """Two ensure_model calls racing on one cache share the blob locks: every file crosses the wire once."""
    from concurrent.futures import ThreadPoolExecutor

    from resilience_core.recovery.clock import FakeClock

    hub.reset_counters()
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                ensure_model, REPO, "main", sources=[hub.url], cache_dir=cache, runtime=Runtime(clock=FakeClock())
            )
            for _ in range(2)
        ]
        results = [f.result(timeout=60) for f in futures]
    assert results[0].commit == results[1].commit
    assert hub.total_served_bytes() == results[0].total_bytes
    assert verify_model(REPO, "main", cache_dir=cache).ok
