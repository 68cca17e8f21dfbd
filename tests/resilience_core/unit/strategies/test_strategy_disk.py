"""FreeDiskSpaceStrategy: removes only our temp/partial/stale-lock files and LRU cache entries under its roots."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from resilience_core import FakeClock, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.disk import FreeDiskSpaceStrategy
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, Severity

NOW = 1_000_000.0


def attempt() -> Attempt:
    return Attempt(operation="model_download", params={}, max_attempts=3, clock=FakeClock(), started_s=0.0)


def write(path: Path, size: int, *, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def disk_full(bytes_needed: int | None = None) -> ErrorContext:
    ctx = categorize(OSError(errno.ENOSPC, "No space left on device"))
    if bytes_needed is None:
        return ctx
    return ErrorContext(
        ctx.failure_type, ctx.severity, ctx.error, details={**ctx.details, "bytes_needed": bytes_needed}
    )


def test_removes_partials_and_stale_locks_but_not_user_files(tmp_path: Path) -> None:
    """*.incomplete and *.tmp go, a stale lock goes, a fresh lock and the user's files stay."""
    root = tmp_path / "cache"
    partial = write(root / "blobs" / "abc.1234.incomplete", 1000)
    tmp = write(root / "x.tmp", 10)
    stale = write(root / ".locks" / "abc.lock", 0, age_s=7200)
    fresh = write(root / ".locks" / "def.lock", 0, age_s=10)
    model = write(root / "blobs" / "model.safetensors", 500)
    strategy = FreeDiskSpaceStrategy(roots=[root], stale_age_s=3600, now=lambda: NOW)
    result = strategy.recover(disk_full(), attempt())
    assert result.success
    assert not partial.exists()
    assert not tmp.exists()
    assert not stale.exists()
    assert fresh.exists()
    assert model.exists()
    assert result.system_changes["freed_bytes"] == 1010
    assert result.system_changes["removed_files"] == 3


def test_never_touches_anything_outside_the_roots_through_symlinks(tmp_path: Path) -> None:
    """A symlinked file or directory inside the root that points outside is neither followed nor removed."""
    outside = tmp_path / "outside"
    victim = write(outside / "precious.incomplete", 100)
    victim_dir_file = write(outside / "dir" / "other.partial", 100)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.incomplete").symlink_to(victim)
    (root / "linked_dir").symlink_to(outside / "dir", target_is_directory=True)
    strategy = FreeDiskSpaceStrategy(roots=[root], cache_roots=[root], now=lambda: NOW, probe=lambda p: 0)
    result = strategy.recover(disk_full(10**9), attempt())
    assert victim.exists()
    assert victim_dir_file.exists()
    assert (root / "link.incomplete").is_symlink()
    assert (root / "linked_dir").is_symlink()
    assert not result.success


def test_root_that_is_itself_a_symlink_stays_confined(tmp_path: Path) -> None:
    """A root given through a symlink is cleaned in its real location only."""
    real = tmp_path / "real"
    partial = write(real / "a.incomplete", 5)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert FreeDiskSpaceStrategy(roots=[link], now=lambda: NOW).recover(disk_full(), attempt()).success
    assert not partial.exists()


def test_evicts_least_recently_used_cache_entries_until_enough_is_free(tmp_path: Path) -> None:
    """With a probe that sees what was removed, the oldest entries go first and eviction stops in time."""
    cache = tmp_path / "hub"
    old = write(cache / "models--old" / "blob", 300, age_s=3000)
    mid = write(cache / "models--mid" / "blob", 300, age_s=2000)
    new = write(cache / "models--new" / "blob", 300, age_s=10)

    def probe(_path: str) -> int:
        present = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        return 1000 - present  # 100 free with everything present

    strategy = FreeDiskSpaceStrategy(cache_roots=[cache], probe=probe, now=lambda: NOW)
    result = strategy.recover(disk_full(bytes_needed=600), attempt())
    assert result.success
    assert not old.exists()
    assert not mid.exists()
    assert new.exists()
    assert [Path(p).name for p in result.system_changes["evicted"]] == ["models--old", "models--mid"]


def test_nothing_of_ours_to_remove_fails_clean_with_a_user_message(tmp_path: Path) -> None:
    """A disk full of the user's files: no removal, success=False, and a message saying so."""
    root = tmp_path / "root"
    user_file = write(root / "holiday.mp4", 100)
    result = FreeDiskSpaceStrategy(roots=[root], now=lambda: NOW).recover(disk_full(), attempt())
    assert not result.success
    assert user_file.exists()
    assert "did not create" in result.user_message
    assert f"The disk holding {root} is full (" in result.user_message
    assert "install_dir" in result.actionable_steps[0]
    assert result.requires_user_action


def test_not_enough_freed_is_reported(tmp_path: Path) -> None:
    """Removing garbage that does not reach bytes_needed is not a success."""
    write(tmp_path / "r" / "a.partial", 10)
    strategy = FreeDiskSpaceStrategy(roots=[tmp_path / "r"], probe=lambda p: 50, now=lambda: NOW)
    result = strategy.recover(disk_full(bytes_needed=1000), attempt())
    assert not result.success
    assert "950 more bytes" in result.user_message
    assert "(50 free, 1000 needed)" in result.user_message
    assert "Free at least 950 bytes" in result.actionable_steps[0]


def test_lock_contention_removes_only_stale_locks(tmp_path: Path) -> None:
    """For lock contention only stale lock files go; partial files are kept."""
    stale = write(tmp_path / "r" / "x.lock", 0, age_s=10_000)
    partial = write(tmp_path / "r" / "x.incomplete", 10)
    ctx = ErrorContext(FailureType.LOCK_CONTENTION, Severity.LOW)
    strategy = FreeDiskSpaceStrategy(roots=[tmp_path / "r"], now=lambda: NOW)
    assert strategy.can_handle(ctx)
    assert strategy.recover(ctx, attempt()).success
    assert not stale.exists()
    assert partial.exists()


def test_keep_vetoes_and_young_temp_files_stay(tmp_path: Path) -> None:
    """keep(path) protects a file; temp_age_s protects files still being written."""
    keep_me = write(tmp_path / "r" / "keep.incomplete", 10, age_s=100)
    young = write(tmp_path / "r" / "young.incomplete", 10, age_s=1)
    strategy = FreeDiskSpaceStrategy(
        roots=[tmp_path / "r"], temp_age_s=60, keep=lambda p: p.name == "keep.incomplete", now=lambda: NOW
    )
    assert not strategy.recover(disk_full(), attempt()).success
    assert keep_me.exists()
    assert young.exists()


def test_without_roots_it_handles_nothing() -> None:
    """Unconfigured, the strategy never claims a failure (the plan moves on to guidance)."""
    assert not FreeDiskSpaceStrategy().can_handle(disk_full())
    assert FreeDiskSpaceStrategy(roots=["/nonexistent-root"]).can_handle(disk_full())


def test_free_space_is_measured_with_shutil_disk_usage_under_pyfakefs(fs: FakeFilesystem) -> None:
    """On a fake 1 MB disk the default probe sees the space a removed partial file gave back."""
    fs.set_disk_usage(1_000_000, path="/")
    fs.create_file("/data/cache/big.incomplete", contents=b"x" * 900_000)
    before = shutil.disk_usage("/data").free
    strategy = FreeDiskSpaceStrategy(roots=["/data/cache"], now=lambda: 1e12)
    result = strategy.recover(disk_full(bytes_needed=500_000), attempt())
    assert result.success
    assert shutil.disk_usage("/data").free == before + 900_000
    assert result.system_changes["free_bytes"] >= 500_000


@pytest.mark.parametrize("name", ["a.incomplete", "b.partial", "c.part", "d.tmp", "e.temp"])
def test_each_temp_pattern_is_ours(tmp_path: Path, name: str) -> None:
    """Every default temp pattern is recognised."""
    target = write(tmp_path / "r" / name, 1)
    assert FreeDiskSpaceStrategy(roots=[tmp_path / "r"], now=lambda: NOW).recover(disk_full(), attempt()).success
    assert not target.exists()
