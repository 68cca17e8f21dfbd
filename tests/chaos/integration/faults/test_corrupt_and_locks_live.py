"""file.corrupt during a real write, and install.stale_lock held by a live peer against a real filelock user."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from chaos.fault import FaultContext
from chaos.faults.corrupt import CorruptFile
from chaos.faults.install import StaleLock

pytestmark = pytest.mark.integration

CHUNK = bytes(range(256)) * 64  # 16 KiB
# Writes 64 chunks (1 MiB) with a pause after each, like a download streaming into a blob.
WRITER = """
import sys, time
chunk = bytes(range(256)) * 64
with open(sys.argv[1], "wb") as f:
    for _ in range(64):
        f.write(chunk); f.flush(); time.sleep(0.003)
"""
LOCKER = """
import sys, filelock
try:
    filelock.FileLock(sys.argv[1], timeout=0.3).acquire()
except filelock.Timeout:
    print("timeout")
else:
    print("acquired")
"""


def _ctx(tmp_path: pathlib.Path, **target: object) -> FaultContext:
    return FaultContext.for_seed(8, tmp_path, target=dict(target))


def test_during_corrupts_a_growing_file_once_it_reaches_at_bytes(tmp_path: pathlib.Path) -> None:
    """The watcher flips a bit in the already-written part of a file being written; the writer finishes."""
    blob = tmp_path / "blobs" / "abc.incomplete"
    blob.parent.mkdir()
    fault = CorruptFile(root=str(blob.parent), glob="*.incomplete", mode="bitflip", when="during", at_bytes=256 * 1024)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        subprocess.run([sys.executable, "-c", WRITER, str(blob)], check=True, timeout=60)
    assert fault.triggered
    (change,) = fault.changes
    assert 256 * 1024 <= change.size_before < 64 * len(CHUNK)
    assert change.offset < change.size_before
    data = blob.read_bytes()
    expected = CHUNK * 64
    assert len(data) == len(expected)
    assert [i for i in range(len(data)) if data[i] != expected[i]] == [change.offset]
    assert fault.verify_reverted(ctx) == []


def test_during_without_a_growing_file_is_not_triggered(tmp_path: pathlib.Path) -> None:
    """A file that never reaches at_bytes is left alone; the watcher still stops on exit."""
    (tmp_path / "small.bin").write_bytes(b"tiny")
    fault = CorruptFile(root=str(tmp_path), glob="*.bin", when="during", at_bytes=1 << 20)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        pass
    assert not fault.triggered
    assert (tmp_path / "small.bin").read_bytes() == b"tiny"
    assert fault.verify_reverted(ctx) == []


def _locker(path: pathlib.Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", LOCKER, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip() or result.stderr


def test_held_lock_blocks_a_filelock_user_until_the_block_ends(tmp_path: pathlib.Path) -> None:
    """A live peer holds the flock: another process times out (seen in /proc/locks); afterwards it acquires."""
    pytest.importorskip("filelock", reason="filelock (the hub extra) is not installed")
    fault = StaleLock(kind="held", repo_id="acme/tiny-model", etag="c" * 64)
    ctx = _ctx(tmp_path, hf_cache=str(tmp_path / "hub"))
    with fault.inject(ctx):
        assert fault.path is not None
        assert _locker(fault.path) == "timeout"
    assert fault.triggered
    assert any(e.get("how") == "opened" for e in ctx.events)
    assert fault.verify_reverted(ctx) == []
    assert fault.cleaned_by == "fault"
    fault.path.parent.mkdir(parents=True, exist_ok=True)
    assert _locker(fault.path) == "acquired"


def test_a_holder_left_running_is_residue(tmp_path: pathlib.Path) -> None:
    """A variant that forgets to stop its lock holder is caught by verify_reverted."""

    class LeakyLock(StaleLock):
        def _stop_holder(self) -> None:
            return None

    fault = LeakyLock(kind="held", lock_path="x.lock")
    ctx = _ctx(tmp_path, hf_cache=str(tmp_path))
    with fault.inject(ctx):
        pass
    holder = fault._holder
    assert holder is not None
    try:
        residue = fault.verify_reverted(ctx)
        assert residue == [f"install.stale_lock: lock holder pid {holder.pid} is still running"]
    finally:
        StaleLock._stop_holder(fault)
    assert fault.verify_reverted(ctx) == []
