"""The store's filesystem primitives: how staged trees are made durable, and the atomic exchange."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resilience_core.state import _fs


@pytest.fixture
def tree(tmp_path: Path) -> tuple[str, list[str]]:
    """A staged-looking tree: a directory with SYNCFS_MIN_PATHS subdirectories."""
    paths = []
    for index in range(_fs.SYNCFS_MIN_PATHS):
        path = tmp_path / "staging" / f"d{index}"
        path.mkdir(parents=True)
        paths.append(str(path))
    return str(tmp_path), paths


def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths sync_trees hands to per-path fsync (still fsynced for real)."""
    seen: list[str] = []
    real = _fs.fsync_all

    def record(paths: list[str]) -> None:
        seen.extend(paths)
        real(paths)

    monkeypatch.setattr(_fs, "fsync_all", record)
    return seen


def test_many_paths_and_little_dirty_data_use_one_syncfs(
    tree: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With little dirty data system-wide, a big tree is flushed by one syncfs, not one fsync per directory."""
    if not _fs._syncfs_function():
        pytest.skip("this libc has no syncfs")
    seen = recorded(monkeypatch)
    monkeypatch.setattr(_fs, "_dirty_bytes", lambda: 0)
    _fs.sync_trees([tree])
    assert seen == []


def test_much_dirty_data_falls_back_to_fsync_per_path(
    tree: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When syncfs would also have to write others' data, every path is fsynced instead."""
    seen = recorded(monkeypatch)
    monkeypatch.setattr(_fs, "_dirty_bytes", lambda: _fs.SYNCFS_MAX_DIRTY_BYTES + 1)
    _fs.sync_trees([tree])
    assert seen == tree[1]


def test_unknown_dirty_data_or_few_paths_fsync_each(
    tree: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc/meminfo, or for a small tree, sync_trees fsyncs each path."""
    seen = recorded(monkeypatch)
    monkeypatch.setattr(_fs, "_dirty_bytes", lambda: None)
    _fs.sync_trees([tree, (tree[0], tree[1][:2])])
    assert seen == tree[1] + tree[1][:2]


def test_dirty_bytes_reads_meminfo() -> None:
    """The dirty figure is a byte count where /proc/meminfo exists."""
    dirty = _fs._dirty_bytes()
    assert dirty is None or dirty >= 0


def test_exchange_swaps_two_trees(tmp_path: Path) -> None:
    """exchange() swaps a directory and a file atomically (or says it cannot, leaving both as they were)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "inside").write_text("a")
    (tmp_path / "b").write_text("b")
    if _fs.exchange(str(tmp_path / "a"), str(tmp_path / "b")):
        assert (tmp_path / "a").read_text() == "b"
        assert (tmp_path / "b" / "inside").read_text() == "a"
    else:
        assert (tmp_path / "b").read_text() == "b"


def test_remove_tree_never_follows_a_symlink(tmp_path: Path) -> None:
    """remove_tree on a symlink to a directory removes the link, not what it points to."""
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "file").write_text("x")
    os.symlink(tmp_path / "kept", tmp_path / "link")
    _fs.remove_tree(str(tmp_path / "link"))
    _fs.remove_tree(str(tmp_path / "missing"))
    assert not os.path.lexists(tmp_path / "link")
    assert (tmp_path / "kept" / "file").exists()
