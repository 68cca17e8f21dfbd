"""Capturing a tree into a snapshot's data directory: share each file (reflink, hard link or copy) and record it.

Private to resilience_core: :class:`~resilience_core.state.snapshot.StateStore` mixes this in. Kept apart because it is
the per-file hot path of ``snapshot()``; see snapshot.py for the sharing rule and the crash-safety design.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import operator
import os
import shutil
import stat
from typing import Any

from resilience_core.errors import IntegrityError, SnapshotError
from resilience_core.state._manifest import check_symlink_target
from resilience_core.state.integrity import hash_file

try:
    import fcntl
except ImportError:  # Windows has no ioctl; StateStore refuses to start there, importing must still work
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

__all__ = ["LINK_FALLBACK_ERRNOS", "CaptureMixin", "entry_path"]

LINK_FALLBACK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}
_FICLONE = 0x40049409  # linux/fs.h: share extents (btrfs, xfs, bcachefs); ext4 answers EOPNOTSUPP
entry_path = operator.itemgetter("path")  # sort key for manifest entries (C-level, unlike a lambda)


class CaptureMixin:
    """The snapshot side of StateStore: walks a root and shares its files into the snapshot's data directory."""

    _reflink_ok: bool | None  # None until the first file tells whether this filesystem clones

    def _share(self, source: str, target: str) -> str:
        """Make ``target`` hold ``source``'s content without copying bytes where possible; return how."""
        if self._reflink_ok is not False:
            cloned = False
            try:
                with open(source, "rb") as src, open(target, "wb") as dst:
                    fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
                    cloned = True
            except OSError:
                # EOPNOTSUPP/EXDEV/EINVAL: no reflinks here; stop trying after the first refusal.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
            if cloned:
                self._reflink_ok = True
                shutil.copystat(source, target)
                return "reflink"
            if self._reflink_ok is None:
                self._reflink_ok = False
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as error:
            if error.errno not in LINK_FALLBACK_ERRNOS:
                raise
            shutil.copy2(source, target, follow_symlinks=False)
            return "copy"
        return "hardlink"

    def _file_record(self, source: str, data_path: str, hash_files: bool, rel: str | None = None) -> dict[str, Any]:
        if self._reflink_ok is False:  # the common case on ext4: skip the method call
            try:
                os.link(source, data_path)
                how = "hardlink"
            except OSError:
                how = self._share(source, data_path)
        else:
            how = self._share(source, data_path)
        info = os.lstat(data_path)
        record: dict[str, Any] = {
            "path": rel,
            "type": "file",
            "size": info.st_size,
            "mode": stat.S_IMODE(info.st_mode),
            "mtime_ns": info.st_mtime_ns,
            "ino": info.st_ino,
            "share": how,
        }
        if hash_files:
            record["sha256"] = hash_file(data_path)
        return record

    def _capture(
        self, index: int, root: str, data: str, made_dirs: builtins.list[str], hash_files: bool
    ) -> dict[str, Any]:
        try:
            info = os.lstat(root)
        except FileNotFoundError:
            return {"path": root, "kind": "absent", "entries": []}
        if stat.S_ISREG(info.st_mode):
            record = self._file_record(root, f"{data}/{index}", hash_files)
            del record["path"]
            return {"path": root, "kind": "file", "file": record}
        if not stat.S_ISDIR(info.st_mode):
            raise SnapshotError(f"path {root!r} is neither a directory nor a regular file")
        base = f"{data}/{index}"
        os.mkdir(base)
        made_dirs.append(base)
        entries: builtins.list[dict[str, Any]] = []
        pending = [""]
        while pending:
            rel_dir = pending.pop()
            source_dir = os.path.join(root, rel_dir)
            target_dir = f"{base}/{rel_dir}" if rel_dir else base
            # Directory fds make each link and stat resolve one name instead of the whole path.
            source_fd = os.open(source_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                target_fd = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    with os.scandir(source_fd) as scan:
                        items = list(scan)  # order does not matter: entries are sorted once at the end
                    self._capture_dir(
                        items,
                        rel_dir=rel_dir,
                        fds=(source_fd, target_fd),
                        dirs=(root, source_dir, base, target_dir),
                        out=(entries, pending, made_dirs),
                        hash_files=hash_files,
                    )
                finally:
                    os.close(target_fd)
            finally:
                os.close(source_fd)
        entries.sort(key=entry_path)
        return {"path": root, "kind": "dir", "mode": stat.S_IMODE(info.st_mode), "entries": entries}

    def _capture_dir(
        self,
        items: builtins.list[os.DirEntry[str]],
        *,
        rel_dir: str,
        fds: tuple[int, int],
        dirs: tuple[str, str, str, str],
        out: tuple[builtins.list[dict[str, Any]], builtins.list[str], builtins.list[str]],
        hash_files: bool,
    ) -> None:
        """Record one directory's items (listed from ``fds[0]``): files shared into ``fds[1]``, subdirectories
        created and queued. ``dirs`` is (root, source dir, snapshot data base, target dir); ``out`` is (entries,
        directories still to walk, directories made)."""
        source_fd, target_fd = fds
        root, source_dir, base, target_dir = dirs
        entries, pending, made_dirs = out
        prefix = f"{rel_dir}/" if rel_dir else ""
        for item in items:
            name = item.name
            rel = prefix + name
            if item.is_file(follow_symlinks=False):  # first: files are what trees are made of
                try:
                    if self._reflink_ok is False:  # the common case on ext4: one linkat, no method call
                        try:
                            os.link(name, name, src_dir_fd=source_fd, dst_dir_fd=target_fd, follow_symlinks=False)
                            how = "hardlink"
                        except FileNotFoundError:
                            raise
                        except OSError:
                            how = self._share(os.path.join(source_dir, name), f"{target_dir}/{name}")
                    else:
                        how = self._share(os.path.join(source_dir, name), f"{target_dir}/{name}")
                    # The link's own inode, not the source path's: a writer may replace the source meanwhile.
                    stored = os.stat(name, dir_fd=target_fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # replaced or deleted while we walked: the snapshot reflects a moment without it
                record: dict[str, Any] = {
                    "path": rel,
                    "type": "file",
                    "size": stored.st_size,
                    "mode": stat.S_IMODE(stored.st_mode),
                    "mtime_ns": stored.st_mtime_ns,
                    "ino": stored.st_ino,
                    "share": how,
                }
                if hash_files:
                    record["sha256"] = hash_file(f"{target_dir}/{name}")
                entries.append(record)
            elif item.is_symlink():
                target = os.readlink(name, dir_fd=source_fd)
                try:
                    check_symlink_target(rel, target, f"snapshot of {root}")
                except IntegrityError as error:
                    raise SnapshotError(str(error)) from None
                entries.append({"path": rel, "type": "symlink", "target": target})
            elif item.is_dir(follow_symlinks=False):
                os.mkdir(f"{base}/{rel}")
                made_dirs.append(f"{base}/{rel}")
                mode = stat.S_IMODE(item.stat(follow_symlinks=False).st_mode)
                entries.append({"path": rel, "type": "dir", "mode": mode})
                pending.append(rel)
            else:
                odd = os.path.join(source_dir, name)
                raise SnapshotError(f"{odd!r} is a socket, fifo or device; snapshots hold files only")
