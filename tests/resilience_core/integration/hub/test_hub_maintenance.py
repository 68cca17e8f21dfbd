"""gc and status: orphaned temp files and unheld locks go, held ones stay; status reports from disk only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chaos.targets import HubServer
from resilience_core import hub as hub_api
from resilience_core.hub import ModelState, ensure_model, gc, status
from resilience_core.recovery.runtime import Runtime

REPO = "acme/wan-mini"
SHARD = "diffusion_pytorch_model-00001-of-00002.safetensors"


def test_gc_removes_orphans_and_spares_held_locks(tmp_path: Path) -> None:
    """gc deletes .incomplete files and unheld lock files, skips a locked blob's temp file, keeps .part files."""
    from filelock import FileLock

    cache = tmp_path / "cache"
    blobs = cache / "models--acme--m" / "blobs"
    locks = cache / ".locks" / "models--acme--m"
    blobs.mkdir(parents=True)
    locks.mkdir(parents=True)
    orphan = blobs / ("a" * 64 + ".1234abcd.incomplete")
    orphan.write_bytes(b"x" * 100)
    busy = blobs / ("b" * 64 + ".5678abcd.incomplete")
    busy.write_bytes(b"y" * 10)
    ours = blobs / ("c" * 64 + ".part")
    ours.write_bytes(b"z" * 10)
    (blobs / ("c" * 64 + ".part.json")).write_text("{}")
    stale_lock = locks / ("a" * 64 + ".lock")
    stale_lock.touch()
    with FileLock(locks / ("b" * 64 + ".lock")):
        dry = gc(cache, dry_run=True)
        assert orphan.exists()
        report = gc(cache)
    assert dry.removed == report.removed
    assert not orphan.exists()
    assert not stale_lock.exists()
    assert busy.exists()
    assert ours.exists()
    assert busy in report.skipped_locked
    assert report.freed_bytes == 100


def test_gc_drops_unreferenced_blobs_on_request(hub: HubServer, tmp_path: Path, runtime: Runtime) -> None:
    """With unreferenced_blobs=True a blob no snapshot points to is removed; linked blobs stay."""
    cache = tmp_path / "cache"
    ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    stray = cache / "models--acme--wan-mini" / "blobs" / ("d" * 64)
    stray.write_bytes(b"old")
    report = gc(cache, unreferenced_blobs=True)
    assert [p for p in report.removed if p.parent.name == "blobs"] == [stray]
    assert status(cache, repo_id=REPO)[0].state is ModelState.COMPLETE


def test_status_reports_partial_then_complete(hub: HubServer, tmp_path: Path, runtime: Runtime) -> None:
    """A revision with a missing shard is PARTIAL (counting partial bytes); after ensure it is COMPLETE."""
    cache = tmp_path / "cache"
    result = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=runtime)
    link = result.path / SHARD
    blob = link.resolve()
    link.unlink()
    blob.rename(blob.with_name(blob.name + ".part"))
    (state,) = status(cache, repo_id=REPO, revision="main")
    assert state.state is ModelState.PARTIAL
    assert state.files_present == state.files_total - 1
    assert state.partial_bytes == hub.file(REPO, SHARD).size_bytes
    assert status(tmp_path / "empty") == []
    assert status(tmp_path / "empty", repo_id=REPO)[0].state is ModelState.NOT_INSTALLED


def test_facade_is_sorted_and_light() -> None:
    """resilience_core.hub re-exports a sorted __all__ and importing it loads neither huggingface_hub nor filelock."""
    assert list(hub_api.__all__) == sorted(hub_api.__all__)
    assert all(hasattr(hub_api, name) for name in hub_api.__all__)
    code = (
        "import sys, json, resilience_core, resilience_core.hub\n"
        "print(json.dumps([m for m in ('huggingface_hub', 'filelock', 'httpx2', 'resilience_core.hub')"
        " if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["resilience_core.hub"]
    out = subprocess.run(
        [sys.executable, "-c", "import sys, resilience_core; print('resilience_core.hub' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
