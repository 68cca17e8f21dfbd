"""Filesystem primitives the snapshot store builds on (private to resilience_core).

Concurrent fsyncs (a shared pool), an atomic exchange of two paths, tree removal and a liveness check for the pid
that wrote a journal. Renames that move something into place live in :mod:`resilience_core.state.atomic`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from resilience_core.state.atomic import fsync_path

if TYPE_CHECKING:  # the pool module loads on first use only: `import resilience_core` stays lean
    from concurrent.futures import Executor

__all__ = ["exchange", "fsync_all", "fsync_all_started", "pid_alive", "remove_tree", "sync_trees"]

_RENAME_EXCHANGE = 2
_FSYNC_WORKERS = 8
_fsync_pool: Executor | None = None
_fsync_pool_lock = threading.Lock()
_renameat2: Any = None  # the libc function once looked up; False where there is none
_syncfs: Any = None
# syncfs() flushes everything dirty on the filesystem, not just our directories: worth it (one flush instead of
# one per directory) only when there is little else to write. Dirty + Writeback in /proc/meminfo bounds that.
SYNCFS_MIN_PATHS = 16
SYNCFS_MAX_DIRTY_BYTES = 16 << 20


def _fsync_executor() -> Executor:
    """One long-lived pool: starting threads for every snapshot and restore cost more than the fsyncs saved."""
    global _fsync_pool  # noqa: PLW0603 -- one lazily made pool per process
    with _fsync_pool_lock:
        if _fsync_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _fsync_pool = ThreadPoolExecutor(max_workers=_FSYNC_WORKERS, thread_name_prefix="resilience-fsync")
        return _fsync_pool


def _forget_fsync_pool() -> None:
    # A forked child has none of the parent's threads (and maybe a lock held by one): it makes its own pool.
    global _fsync_pool, _fsync_pool_lock  # noqa: PLW0603 -- reset after fork
    _fsync_pool = None
    _fsync_pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork there is nothing to reset
    os.register_at_fork(after_in_child=_forget_fsync_pool)


def fsync_all(paths: list[str]) -> None:
    """fsync many directories (and files) at once: concurrent fsyncs share journal commits (group commit)."""
    fsync_all_started(paths)()


def fsync_all_started(paths: list[str]) -> Callable[[], None]:
    """Start fsyncing ``paths``; the returned function waits for them (raising what one raised).

    Lets the caller overlap the flushes with work that does not touch those paths. Two paths or fewer are
    synced on the spot: a thread handoff costs more than it saves there.
    """
    if len(paths) <= 2:
        for path in paths:
            fsync_path(path)
        return lambda: None
    futures = [_fsync_executor().submit(fsync_path, path) for path in paths]

    def wait() -> None:
        for future in futures:
            future.result()

    return wait


def _dirty_bytes() -> int | None:
    """System-wide dirty and under-writeback page cache, in bytes (None where /proc/meminfo cannot tell)."""
    total = 0
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith((b"Dirty:", b"Writeback:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return total


def _syncfs_function() -> Any:
    global _syncfs  # noqa: PLW0603 -- looked up once per process
    if _syncfs is None:
        import ctypes

        function: Any
        try:
            function = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            function = False
        _syncfs = function
    return _syncfs


def sync_trees(groups: list[tuple[str, list[str]]]) -> None:
    """Make every path of every group durable; each group is (a directory, the paths made in it and below it).

    A group with many paths is flushed with one ``syncfs`` on its filesystem when the system holds little
    dirty data (at most :data:`SYNCFS_MAX_DIRTY_BYTES`), since syncfs then costs one flush instead of one per
    directory; otherwise, and where syncfs is missing or fails, every path is fsynced (concurrently).
    """
    fsync_paths: list[str] = []
    flushed: set[int] = set()
    syncfs = _syncfs_function()
    for anchor, paths in groups:
        if len(paths) >= SYNCFS_MIN_PATHS and syncfs:
            dirty = _dirty_bytes()
            if dirty is not None and dirty <= SYNCFS_MAX_DIRTY_BYTES:
                fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    device = os.fstat(fd).st_dev
                    if device in flushed or syncfs(fd) == 0:
                        flushed.add(device)
                        continue
                finally:
                    os.close(fd)
        fsync_paths.extend(paths)
    fsync_all(fsync_paths)


def exchange(first: str, second: str) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where the kernel or fs lacks it."""
    global _renameat2  # noqa: PLW0603 -- looked up once per process
    if _renameat2 is None:
        import ctypes

        function: Any
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
        except (OSError, AttributeError):
            function = False
        _renameat2 = function
    if _renameat2 is False:
        return False
    import ctypes

    at_fdcwd = -100
    if _renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), first, None, second)


def remove_tree(path: str) -> None:
    """Delete ``path`` whatever it is (a symlink is unlinked, never followed); a missing path is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (this one included), or may exist (another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
