"""Restoring a validated manifest: stage each root beside its target, check every file, swap (private).

Private to resilience_core: :class:`~resilience_core.state.snapshot.StateStore` mixes this in; see snapshot.py for
the crash-safety design. Staging is where the per-file work is, so it walks the manifest's lists directly: one
``stat`` and one ``linkat`` per file through directory descriptors, one ``mkdir`` per directory (with its final
mode where the umask allows), and the directory syncs all at once at the end.
"""

from __future__ import annotations

import builtins
import logging
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resilience_core.errors import IntegrityError, SnapshotError
from resilience_core.paths import is_beneath
from resilience_core.state._capture import LINK_FALLBACK_ERRNOS
from resilience_core.state.atomic import current_umask
from resilience_core.state.integrity import hash_file

__all__ = ["RestoreMixin", "StageJob"]

_log = logging.getLogger("resilience_core.state.snapshot")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _changed(name: str, now: tuple[int, int, int], then: tuple[int, int, int]) -> IntegrityError:
    return IntegrityError(
        f"{name!r} was modified in place after the snapshot (size, mtime_ns, inode {now} != {then}); "
        "its saved content is lost. Writers must replace files (temp file + os.replace), never "
        "modify them in place; take a new snapshot",
        entry=name,
    )


def _missing(name: str) -> IntegrityError:
    return IntegrityError(f"snapshot file for {name!r} is missing from the store", entry=name)


@dataclass(frozen=True, slots=True)
class StageJob:
    """One root to stage: its data in the store, the staging path, the options, and the paths to sync after."""

    source: str
    staging: str
    copy: bool
    verify: bool
    synced: list[str]


class RestoreMixin:
    """The restore side of StateStore: builds a root's staging tree from the store, checking as it goes."""

    def _copy_file(self, source: str, target: str, mode: int) -> None:
        shutil.copyfile(source, target, follow_symlinks=False)
        shutil.copystat(source, target, follow_symlinks=False)
        os.chmod(target, mode)

    def _stage_file_root(self, root: Mapping[str, Any], job: StageJob) -> None:
        source, staging = job.source, job.staging
        size, mode, mtime_ns, ino = root["file"][:4]
        name = root["path"]
        try:
            info = os.lstat(source)
        except FileNotFoundError:
            raise _missing(name) from None
        if info.st_size != size or info.st_mtime_ns != mtime_ns or info.st_ino != ino or not stat.S_ISREG(info.st_mode):
            raise _changed(name, (info.st_size, info.st_mtime_ns, info.st_ino), (size, mtime_ns, ino))
        if job.verify and len(root["file"]) == 5 and hash_file(source) != root["file"][4]:
            raise IntegrityError(f"{name!r}: sha256 differs from the manifest (bad checksum)", entry=name)
        if not job.copy and info.st_mode & 0o7777 == mode and self._link(source, staging):
            return
        if info.st_mode & 0o7777 != mode:
            _log.warning("%s: mode changed after the snapshot; restoring a private copy with the saved mode", name)
        self._copy_file(source, staging, mode)
        job.synced.append(staging)

    @staticmethod
    def _link(source: str, target: str) -> bool:
        """Hard-link ``source`` as ``target``; False (with a warning) where this filesystem refuses links."""
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as error:
            if error.errno not in LINK_FALLBACK_ERRNOS:
                raise
            _log.warning("%s: cannot hard-link from the store (%s); restoring a copy", target, error.strerror)
            return False
        return True

    def _stage_dir_root(self, root: Mapping[str, Any], job: StageJob) -> None:
        """Build ``staging`` from the manifest; every directory made (and every copied file) is added to ``synced``."""
        staging = job.staging
        try:
            store_fd = os.open(job.source, _DIR_FLAGS)
        except OSError as error:
            raise IntegrityError(
                f"store data for {root['path']!r} is unusable ({error.strerror})", entry=root["path"]
            ) from None
        try:
            os.mkdir(staging, 0o700)
            staging_fd = os.open(staging, _DIR_FLAGS)
            try:
                self._fill(root, job, store_fd, staging_fd)
            finally:
                os.close(staging_fd)
        finally:
            os.close(store_fd)
        os.chmod(staging, root["mode"])
        job.synced.append(staging)

    def _fill(self, root: Mapping[str, Any], job: StageJob, store_fd: int, staging_fd: int) -> None:
        source, staging, copy, verify, synced = job.source, job.staging, job.copy, job.verify, job.synced
        umask = current_umask()
        later: builtins.list[tuple[str, int]] = []  # modes mkdir cannot give (umask, special bits, no owner rwx)
        mkdir = os.mkdir
        for rel, mode in root["dirs"]:
            if mode & 0o7700 == 0o700 and not mode & umask:
                mkdir(rel, mode, dir_fd=staging_fd)
            else:
                mkdir(rel, 0o700, dir_fd=staging_fd)
                later.append((rel, mode))
            synced.append(f"{staging}/{rel}")
        link, lstat_at = os.link, os.stat
        for key, item in enumerate(root["files"]):
            rel, size, mode, mtime_ns, ino = item[:5]
            name = str(key)
            try:
                info = lstat_at(name, dir_fd=store_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise _missing(rel) from None
            # Compared field by field (no tuples): this runs once per file on every restore.
            if info.st_size != size or info.st_mtime_ns != mtime_ns or info.st_ino != ino:
                raise _changed(rel, (info.st_size, info.st_mtime_ns, info.st_ino), (size, mtime_ns, ino))
            if verify and len(item) == 6 and hash_file(f"{source}/{name}") != item[5]:
                raise IntegrityError(f"{rel!r}: sha256 differs from the manifest (bad checksum)", entry=rel)
            if not copy and info.st_mode & 0o7777 == mode:
                try:
                    link(name, rel, src_dir_fd=store_fd, dst_dir_fd=staging_fd, follow_symlinks=False)
                    continue
                except OSError as error:
                    if error.errno not in LINK_FALLBACK_ERRNOS:
                        raise
                    _log.warning("%s: cannot hard-link from the store (%s); restoring a copy", rel, error.strerror)
            elif not copy:
                _log.warning("%s: mode changed after the snapshot; restoring a private copy with the saved mode", rel)
            if not stat.S_ISREG(info.st_mode):
                raise _changed(rel, (info.st_size, info.st_mtime_ns, info.st_ino), (size, mtime_ns, ino))
            self._copy_file(f"{source}/{name}", f"{staging}/{rel}", mode)
            synced.append(f"{staging}/{rel}")
        symlink = os.symlink
        for rel, target in root["symlinks"]:
            symlink(target, rel, dir_fd=staging_fd)
        for rel, target in root["symlinks"]:
            # The manifest check resolved these through each other; this asks the kernel about the staged tree.
            if not is_beneath(staging, f"{staging}/{rel}"):
                raise IntegrityError(f"symlink {rel!r} -> {target!r} escapes the root", entry=rel)
        for rel, mode in reversed(later):
            os.chmod(rel, mode, dir_fd=staging_fd)

    def _stage(self, root: Mapping[str, Any], job: StageJob) -> None:
        """Stage one root (not for ``absent``); OSErrors the tree's surroundings cause become SnapshotError."""
        parent = os.path.dirname(root["path"])
        try:
            os.makedirs(parent, exist_ok=True)
            if root["kind"] == "file":
                self._stage_file_root(root, job)
            else:
                self._stage_dir_root(root, job)
        except IntegrityError:
            raise
        except OSError as error:
            raise SnapshotError(
                f"cannot stage {root['path']!r} for restore beside it ({error.strerror}: {error.filename!r}); "
                "nothing was changed"
            ) from None
