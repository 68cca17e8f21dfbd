"""Built-in steady-state checks: leftovers, held locks, disk space back to baseline."""

from __future__ import annotations

import fcntl
import os
import pathlib

from chaos.steady_state import WatchedRoot


def test_new_partial_files_are_residue_but_old_ones_are_not(tmp_path: pathlib.Path) -> None:
    """Leftovers that appeared during the trial are reported; ones that existed before are ignored."""
    (tmp_path / "old.incomplete").write_bytes(b"x")
    root = WatchedRoot(tmp_path, check_disk=False)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "blob.incomplete").write_bytes(b"x")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert root.check() == [f"leftover file: {tmp_path / 'sub' / 'blob.incomplete'}"]


def test_only_held_locks_are_residue(tmp_path: pathlib.Path) -> None:
    """An unheld .lock file is normal (filelock leaves them); a held one is residue."""
    root = WatchedRoot(tmp_path, check_disk=False)
    (tmp_path / "free.lock").write_bytes(b"")
    held = tmp_path / "held.lock"
    fd = os.open(held, os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert root.check() == [f"lock still held: {held}"]
    finally:
        os.close(fd)
    assert root.check() == []


def test_lost_disk_space_outside_the_tree_is_residue(tmp_path: pathlib.Path) -> None:
    """Free space lost beyond what the watched tree grew (a ballast file) is reported; growth itself is fine.

    The free-space probe is fed by hand: on a shared machine other processes move the real figure.
    """
    free = {"bytes": 10 << 30}
    watched = tmp_path / "cache"
    watched.mkdir()
    root = WatchedRoot(watched, tolerance_bytes=256 * 1024, probe_free_bytes=lambda path: free["bytes"])
    free["bytes"] -= 8 << 20
    assert root.check() == []  # off unless asked: free space is machine-wide
    free["bytes"] += 8 << 20
    grown = watched / "grown.bin"
    grown.write_bytes(os.urandom(1 << 20))
    free["bytes"] -= grown.stat().st_blocks * 512  # the tree's own growth
    assert root.check(disk=True) == []
    free["bytes"] -= 4 << 20  # a ballast file somewhere else on the filesystem
    problems = root.check(disk=True)
    assert len(problems) == 1
    assert problems[0].startswith(f"disk usage not back to baseline under {watched}: 4194304 bytes")


def test_real_free_space_probe_reads_the_filesystem(tmp_path: pathlib.Path) -> None:
    """Without a seam the baseline is the real filesystem's free space (a missing root probes its parent)."""
    import shutil

    root = WatchedRoot(tmp_path / "not-yet")
    assert root._free_bytes is not None
    assert abs(root._free_bytes - shutil.disk_usage(tmp_path).free) < 1 << 30
