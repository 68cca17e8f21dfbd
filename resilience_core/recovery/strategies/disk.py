"""Free disk space: remove our own temp, partial and stale-lock files, then least-recently-used cache entries.

Only under the configured roots, never outside them: symlinks are never followed or removed, and every
candidate's real path must lie inside its root's real path. It stops as soon as ``details["bytes_needed"]``
(or the configured ``bytes_needed``) is free. When nothing of ours can be removed it says so plainly: the disk
is full of the user's own files, and only the user can decide what goes.

>>> strategy = FreeDiskSpaceStrategy(roots=["/tmp/my-installer"])
>>> strategy.temp_patterns
('*.incomplete', '*.partial', '*.part', '*.tmp', '*.temp')
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["FreeDiskSpaceStrategy", "free_bytes"]

_MAX_LISTED = 20


def free_bytes(path: str) -> int:
    """Free bytes on the filesystem holding ``path`` (``shutil.disk_usage``, which pyfakefs also fakes)."""
    return shutil.disk_usage(path).free


def _inside(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


class FreeDiskSpaceStrategy:
    """Make room under ``roots`` (temp/partial/lock files) and ``cache_roots`` (LRU entries).

    ``temp_age_s``: temp and partial files younger than this are left alone (default 0: after our own write
    failed, partial files under our roots are dead). ``stale_age_s``: lock files younger than this are live.
    ``probe`` measures free bytes; ``now`` gives wall-clock time for file ages (both injectable for tests).
    ``keep(path)`` may veto any removal.
    """

    name = "disk"

    def __init__(
        self,
        roots: Iterable[str | os.PathLike[str]] = (),
        *,
        cache_roots: Iterable[str | os.PathLike[str]] = (),
        temp_patterns: Iterable[str] = ("*.incomplete", "*.partial", "*.part", "*.tmp", "*.temp"),
        lock_patterns: Iterable[str] = ("*.lock",),
        temp_age_s: float = 0.0,
        stale_age_s: float = 3600.0,
        bytes_needed: int = 0,
        probe: Callable[[str], int] = free_bytes,
        now: Callable[[], float] = time.time,
        keep: Callable[[Path], bool] | None = None,
    ) -> None:
        self.roots = tuple(os.fspath(r) for r in roots)
        self.cache_roots = tuple(os.fspath(r) for r in cache_roots)
        self.temp_patterns = tuple(temp_patterns)
        self.lock_patterns = tuple(lock_patterns)
        self.temp_age_s = temp_age_s
        self.stale_age_s = stale_age_s
        self.bytes_needed = bytes_needed
        self.probe = probe
        self.now = now
        self.keep = keep

    def can_handle(self, ctx: ErrorContext) -> bool:
        if not (self.roots or self.cache_roots):
            return False
        return ctx.failure_type in (FailureType.STORAGE_SPACE_INSUFFICIENT, FailureType.LOCK_CONTENTION)

    # --- scanning -----------------------------------------------------------------------------------
    def _matches(self, name: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def _garbage(self, *, locks_only: bool) -> list[tuple[str, int]]:
        """(path, size) of our removable files under every root; symlinks are never candidates."""
        now = self.now()
        found: list[tuple[str, int]] = []
        for root in self.roots:
            if not os.path.isdir(root):
                continue
            root_real = os.path.realpath(root)
            for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
                if not _inside(dirpath, root_real):
                    continue
                for name in filenames:
                    is_lock = self._matches(name, self.lock_patterns)
                    is_temp = not locks_only and self._matches(name, self.temp_patterns)
                    if not (is_lock or is_temp):
                        continue
                    path = os.path.join(dirpath, name)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    if os.path.islink(path) or not _inside(path, root_real):
                        continue
                    age = now - st.st_mtime
                    if age < (self.stale_age_s if is_lock else self.temp_age_s):
                        continue
                    if self.keep is not None and self.keep(Path(path)):
                        continue
                    found.append((path, st.st_size))
        return found

    def _lru_entries(self) -> list[tuple[float, str, int]]:
        """(last used, path, size) of each top-level entry of every cache root, oldest first."""
        entries: list[tuple[float, str, int]] = []
        for root in self.cache_roots:
            if not os.path.isdir(root):
                continue
            root_real = os.path.realpath(root)
            with os.scandir(root) as listing:
                children = list(listing)
            for child in children:
                path = child.path
                if child.is_symlink() or not _inside(path, root_real):
                    continue
                if self.keep is not None and self.keep(Path(path)):
                    continue
                used, size = _usage(path)
                entries.append((used, path, size))
        entries.sort()
        return entries

    def _where(self, ctx: ErrorContext) -> str:
        """The folder whose disk is full: the failed file's, else the first root that exists."""
        path = ctx.details.get("path")
        where = next((str(r) for r in (*self.roots, *self.cache_roots) if os.path.isdir(r)), os.getcwd())
        if isinstance(path, str) and path:
            parent = os.path.dirname(os.path.abspath(path))
            if os.path.isdir(parent):
                where = parent
        return where

    def _free_now(self, ctx: ErrorContext) -> int:
        return self.probe(self._where(ctx))

    # --- recovery -----------------------------------------------------------------------------------
    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        locks_only = ctx.failure_type is FailureType.LOCK_CONTENTION
        needed = ctx.details.get("bytes_needed") or self.bytes_needed
        needed = int(needed) if isinstance(needed, (int, float)) and needed > 0 else 0
        removed: list[str] = []
        freed = 0
        for path, size in self._garbage(locks_only=locks_only):
            if _unlink(path):
                removed.append(path)
                freed += size
        evicted: list[str] = []
        if not locks_only and needed and self._free_now(ctx) < needed:
            for _used, path, size in self._lru_entries():
                if self._free_now(ctx) >= needed:
                    break
                if _remove_tree(path):
                    evicted.append(path)
                    freed += size
        changes: dict[str, Any] = {"freed_bytes": freed, "removed_files": len(removed)}
        if removed:
            changes["removed"] = removed[:_MAX_LISTED]
        if evicted:
            changes["evicted"] = evicted[:_MAX_LISTED]
        if not removed and not evicted:
            what = "stale lock files" if locks_only else "temporary files or cache entries of ours"
            steps: tuple[str, ...]
            if locks_only:
                user_message, steps = (
                    "Another process holds the lock.",
                    (
                        "Wait for the other installer to finish, or stop it.",
                        "Locks older than recovery.stale_lock_age_seconds are removed automatically.",
                    ),
                )
            else:
                where, free = self._where(ctx), self._free_now(ctx)
                sizes = f"{free} bytes free" + (f", {needed} needed" if needed else "")
                user_message = f"The disk holding {where} is full ({sizes}) of files the installer did not create."
                amount = f"at least {needed - free} bytes" if needed > free else "space"
                steps = (f"Free {amount} on that disk yourself, or choose an install_dir on a larger disk.",)
            return RecoveryResult(
                False,
                self.name,
                message=f"no {what} to remove under {', '.join((*self.roots, *self.cache_roots))}",
                user_message=user_message,
                actionable_steps=steps,
                system_changes=changes,
                requires_user_action=True,
            )
        if needed:
            free = self._free_now(ctx)
            changes["free_bytes"] = free
            if free < needed:
                return RecoveryResult(
                    False,
                    self.name,
                    message=f"freed {freed} bytes but only {free} of the {needed} needed are free",
                    user_message=(
                        f"The disk holding {self._where(ctx)} is still too full: {needed - free} more bytes are "
                        f"needed ({free} free, {needed} needed)."
                    ),
                    actionable_steps=(
                        (
                            f"Free at least {needed - free} bytes on that disk yourself, or choose an install_dir on a "
                            "larger disk."
                        ),
                    ),
                    system_changes=changes,
                    requires_user_action=True,
                )
        return RecoveryResult(
            True,
            self.name,
            message=f"removed {len(removed)} file(s) and {len(evicted)} cache entr(ies), {freed} bytes",
            system_changes=changes,
        )


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


def _remove_tree(path: str) -> bool:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        return False
    return True


def _usage(path: str) -> tuple[float, int]:
    """(latest atime/mtime, total size) of a file or a directory tree, without following symlinks."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0.0, 0
    latest, size = max(st.st_atime, st.st_mtime), st.st_size
    if os.path.isdir(path) and not os.path.islink(path):
        # A directory's own times say when it was listed or created, not when its files were used.
        with os.scandir(path) as listing:
            has_children = any(True for _ in listing)
        latest, size = (0.0 if has_children else latest), 0
        for dirpath, _dirs, files in os.walk(path, followlinks=False):
            for name in files:
                try:
                    fst = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                latest = max(latest, fst.st_atime, fst.st_mtime)
                size += fst.st_size
    return latest, size
