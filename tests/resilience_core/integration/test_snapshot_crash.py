"""SIGKILL at random instants during snapshot and restore never leaves a mixed tree or a half snapshot."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from resilience_core.state.snapshot import StateStore

KILLS = 200
MAX_DELAY_S = 0.05  # a few restores or snapshots long on a loaded 2-core CI machine


def tree_digest(root: Path) -> str:
    """One sha256 over every path, type and content under ``root`` ("absent" when it does not exist)."""
    if not root.exists():
        return "absent"
    digest = hashlib.sha256()
    for directory, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        rel_dir = os.path.relpath(directory, root)
        digest.update(f"d:{rel_dir}\n".encode())
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_symlink():
                digest.update(f"l:{rel_dir}/{name}->{os.readlink(path)}\n".encode())
            else:
                digest.update(f"f:{rel_dir}/{name}:".encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def make_tree(root: Path, variant: str, files: int = 24) -> None:
    """A small tree of a few directories; ``variant`` changes every file's content and the layout."""
    for i in range(files):
        path = root / f"dir{i % 4}" / f"file{i}-{variant if i % 3 == 0 else 'same'}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{variant}:{i}:".encode() * (50 + i))
    (root / f"only-in-{variant}").mkdir(exist_ok=True)
    os.symlink(f"dir0/file0-{variant}.bin", root / "link")


def run_and_kill(loop: Callable[[], None], rng: random.Random) -> None:
    """Fork a child running ``loop`` forever, SIGKILL it after a random delay, reap it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            while True:
                loop()
        finally:
            os._exit(0)
    time.sleep(rng.uniform(0, MAX_DELAY_S))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the child ended before it was killed"


def leftovers(parent: Path) -> list[str]:
    """Staging or old trees a restore left beside its target."""
    return [p.name for p in parent.iterdir() if ".restore-" in p.name or ".old-" in p.name]


@pytest.mark.slow
def test_sigkill_during_restore_leaves_old_or_new_tree(tmp_path: Path) -> None:
    """200 SIGKILLs mid-restore: the target always hashes to one of the two snapshots, never a mix."""
    target = tmp_path / "work" / "app"
    target.mkdir(parents=True)
    make_tree(target, "a")
    store = StateStore(tmp_path / "store")
    snap_a = store.snapshot([target], label="a")
    digest_a = tree_digest(target)
    # Replace the tree (never modify in place): a fresh directory renamed over the old one.
    fresh = tmp_path / "work" / "fresh"
    fresh.mkdir()
    make_tree(fresh, "b")
    os.rename(target, tmp_path / "work" / "gone")
    os.rename(fresh, target)
    snap_b = store.snapshot([target], label="b")
    digest_b = tree_digest(target)
    assert digest_a != digest_b
    rng = random.Random(20261122)
    seen = set()
    for _ in range(KILLS):
        # Start with the snapshot the tree is not in, so even an early kill can land mid-swap.
        first, second = (snap_b.id, snap_a.id) if tree_digest(target) == digest_a else (snap_a.id, snap_b.id)

        def loop(first: str = first, second: str = second) -> None:
            store.restore(first)
            store.restore(second)

        run_and_kill(loop, rng)
        after_kill = tree_digest(target)
        assert after_kill in (digest_a, digest_b)
        seen.add(after_kill)
        StateStore(tmp_path / "store").recover()
        assert leftovers(target.parent) == []
        assert tree_digest(target) == after_kill
    assert seen == {digest_a, digest_b}, "kills landed in both halves of the loop"
    assert store.restore(snap_a.id).id == snap_a.id
    assert tree_digest(target) == digest_a


@pytest.mark.slow
def test_sigkill_during_snapshot_leaves_tree_intact_and_only_complete_snapshots(tmp_path: Path) -> None:
    """200 SIGKILLs mid-snapshot: the live tree is untouched and every listed snapshot is complete."""
    target = tmp_path / "app"
    target.mkdir()
    make_tree(target, "a")
    digest = tree_digest(target)
    store_root = tmp_path / "store"
    store = StateStore(store_root)
    rng = random.Random(7)

    def loop() -> None:
        store.snapshot([target], state={"step": 1}, label="loop")
        store.prune(keep=2)

    for _ in range(KILLS):
        run_and_kill(loop, rng)
        assert tree_digest(target) == digest
    reopened = StateStore(store_root)
    assert list((store_root / "tmp").iterdir()) == []
    snapshots = reopened.list()
    assert snapshots, "some snapshots completed"
    for snap in snapshots:
        assert snap.state == {"step": 1}
        reopened.restore(snap.id)  # validates the manifest and every stored file first
        assert tree_digest(target) == digest
