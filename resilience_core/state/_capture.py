"""Capturing a tree into a snapshot's data directory: share each file (reflink, hard link or copy) and record it.

Private to resilience_core: :class:`~resilience_core.state.snapshot.StateStore` mixes this in. Kept apart because it is
the per-file hot path of ``snapshot()``; see snapshot.py for the sharing rule and _manifest.py for the layout (file
``k`` of a root is ``data/<root>/<k>``: one flat directory, so the walk makes one directory per root, not one per
directory of the tree, and durability costs one directory sync).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import re
import shutil
import stat
from typing import Any

from resilience_core.errors import IntegrityError, SnapshotError
from resilience_core.paths import is_beneath
from resilience_core.state._manifest import check_rel, symlink_problem
from resilience_core.state.integrity import hash_file

try:
    import fcntl
except ImportError:  # Windows has no ioctl; StateStore refuses to start there, importing must still work
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

__all__ = ["LINK_FALLBACK_ERRNOS", "CaptureMixin"]

LINK_FALLBACK_ERRNOS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})
_FICLONE = 0x40049409  # linux/fs.h: share extents (btrfs, xfs, bcachefs); ext4 answers EOPNOTSUPP
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
# A name from readdir cannot hold '/' or NUL nor be '.' or '..'; these are the other things check_name refuses.
_ODD_NAME = re.compile(r"[\x00-\x1f\x7f\\]|^[A-Za-z]:").search


def _checked(rel: str, root: str) -> None:
    try:
        check_rel(rel, f"snapshot of {root}")
    except IntegrityError as error:
        raise SnapshotError(f"{error}; rename it, or keep it out of the snapshotted paths") from None


class CaptureMixin:
    """The snapshot side of StateStore: walks a root and shares its files into the snapshot's data directory."""

    _reflink_ok: bool | None  # None until the first file tells whether this filesystem clones

    def _share(self, source: str, target: str) -> None:
        """Make ``target`` hold ``source``'s content without copying bytes where possible."""
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
                return
            if self._reflink_ok is None:
                self._reflink_ok = False
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as error:
            if error.errno not in LINK_FALLBACK_ERRNOS:
                raise
            shutil.copy2(source, target, follow_symlinks=False)

    def _capture(self, index: int, root: str, data: str, made_dirs: builtins.list[str], hash_files: bool) -> Any:
        """The manifest record of one root, its files shared into ``data/<index>``."""
        try:
            info = os.lstat(root)
        except FileNotFoundError:
            return {"path": root, "kind": "absent"}
        stored = f"{data}/{index}"
        if stat.S_ISREG(info.st_mode):
            self._share(root, stored)
            link = os.lstat(stored)  # the link's own inode: a writer may replace the source meanwhile
            record: builtins.list[Any] = [link.st_size, link.st_mode & 0o7777, link.st_mtime_ns, link.st_ino]
            if hash_files:
                record.append(hash_file(stored))
            return {"path": root, "kind": "file", "file": record}
        if not stat.S_ISDIR(info.st_mode):
            raise SnapshotError(f"path {root!r} is neither a directory nor a regular file")
        os.mkdir(stored)
        made_dirs.append(stored)
        store_fd = os.open(stored, _DIR_FLAGS)
        try:
            dirs, files, links = self._walk(root, store_fd, stored, hash_files)
        finally:
            os.close(store_fd)
        return {
            "path": root,
            "kind": "dir",
            "mode": info.st_mode & 0o7777,
            "dirs": dirs,
            "files": files,
            "symlinks": links,
        }

    def _walk(
        self, root: str, store_fd: int, stored: str, hash_files: bool
    ) -> tuple[builtins.list[Any], builtins.list[Any], builtins.list[Any]]:
        """(dirs, files, symlinks) of the tree at ``root``; file ``k`` is hard-linked (or shared) as ``stored/k``."""
        dirs: builtins.list[Any] = []
        files: builtins.list[Any] = []
        links: builtins.list[Any] = []
        link, lstat_at, odd = os.link, os.stat, _ODD_NAME
        pending = [""]
        while pending:  # depth first: a directory is listed before anything inside it
            rel_dir = pending.pop()
            source_dir = f"{root}/{rel_dir}" if rel_dir else root
            try:
                source_fd = os.open(source_dir, _DIR_FLAGS)
            except FileNotFoundError:
                continue  # deleted while we walked: restored empty, as it was at some instant
            except OSError as error:
                raise SnapshotError(f"{source_dir!r} cannot be read ({error.strerror}); fix its permissions") from None
            try:
                with os.scandir(source_fd) as scan:
                    items = list(scan)
                prefix = f"{rel_dir}/" if rel_dir else ""
                for item in items:
                    name = item.name
                    if odd(name):
                        _checked(prefix + name, root)
                    if item.is_file(follow_symlinks=False):  # first: files are what trees are made of
                        key = str(len(files))
                        try:
                            if self._reflink_ok is False:  # the common case on ext4: one linkat, no method call
                                try:
                                    link(name, key, src_dir_fd=source_fd, dst_dir_fd=store_fd, follow_symlinks=False)
                                except FileNotFoundError:
                                    raise
                                except OSError:
                                    self._share(f"{source_dir}/{name}", f"{stored}/{key}")
                            else:
                                self._share(f"{source_dir}/{name}", f"{stored}/{key}")
                            # The link's own inode, not the source's: a writer may replace the source meanwhile.
                            got = lstat_at(key, dir_fd=store_fd, follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # replaced or deleted while we walked: the snapshot reflects a moment without it
                        record = [prefix + name, got.st_size, got.st_mode & 0o7777, got.st_mtime_ns, got.st_ino]
                        if hash_files:
                            record.append(hash_file(f"{stored}/{key}"))
                        files.append(record)
                    elif item.is_dir(follow_symlinks=False):
                        rel = prefix + name
                        dirs.append([rel, item.stat(follow_symlinks=False).st_mode & 0o7777])
                        pending.append(rel)
                    elif item.is_symlink():
                        links.append([prefix + name, os.readlink(name, dir_fd=source_fd)])
                    else:
                        odd_path = f"{source_dir}/{name}"
                        raise SnapshotError(f"{odd_path!r} is a socket, fifo or device; snapshots hold files only")
            finally:
                os.close(source_fd)
        if links:
            self._check_links(root, links)
        return dirs, files, links

    @staticmethod
    def _check_links(root: str, links: builtins.list[Any]) -> None:
        """Refuse symlinks leading out of ``root``: by what the kernel resolves now (realpath) and by what restore
        will check in the manifest (the same links, resolved through each other)."""
        targets = dict(links)
        for rel, target in links:
            problem = symlink_problem(rel, target, targets)
            if not problem and not is_beneath(root, f"{root}/{rel}"):
                resolved = os.path.realpath(f"{root}/{rel}")
                problem = f"symlink {rel!r} -> {target!r} escapes the root (it resolves to {resolved!r})"
            if problem:
                raise SnapshotError(f"snapshot of {root}: {problem}")
