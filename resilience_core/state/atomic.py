"""The one atomic, durable file writer: readers see the old file or the new one, never half of either.

Every file the project writes for others to read (caches, manifests, journals, reports, rotated logs) goes
through here. A write goes to a uniquely named temp file beside the target (so two writers never clobber each
other's temp file), is flushed and fsynced, renamed over the target, and the directory entry is fsynced so the
rename survives a power cut.

>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "config.json"
>>> atomic_write(target, '{"ok": true}\\n').read_text()
'{"ok": true}\\n'
>>> with atomic_open(target, "w") as handle:
...     _ = handle.write("[]\\n")
>>> target.read_text()
'[]\\n'

Files get the permissions a plain ``open()`` would give them (``0o666`` less the umask), not ``mkstemp``'s 0600.
``exclusive=True`` creates the file only if it does not exist yet (a hard link of the finished temp file, which
fails with ``FileExistsError`` instead of replacing): two processes racing to create a secret both end up
reading the same complete file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

__all__ = ["atomic_open", "atomic_write", "current_umask", "fsync_path", "publish_file"]

_umask: int | None = None


def current_umask() -> int:
    """The process umask, read once (from /proc where it can be read without changing it)."""
    global _umask  # noqa: PLW0603 -- read once per process: setting the umask to read it is not thread-safe
    if _umask is None:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("Umask:"):
                        _umask = int(line.split()[1], 8)
                        break
        except (OSError, ValueError, IndexError):
            pass
        if _umask is None:
            _umask = os.umask(0o022)
            os.umask(_umask)
    return _umask


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a directory (a directory: so that renames and new entries in it are durable).

    Filesystems that cannot fsync a directory (EINVAL, ENOTSUP) are let be; any other error is raised.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


@overload
def atomic_open(
    path: str | os.PathLike[str],
    mode: Literal["w"],
    *,
    durable: bool = ...,
    mode_bits: int | None = ...,
    exclusive: bool = ...,
) -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def atomic_open(
    path: str | os.PathLike[str],
    mode: Literal["wb"] = ...,
    *,
    durable: bool = ...,
    mode_bits: int | None = ...,
    exclusive: bool = ...,
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    durable: bool = True,
    mode_bits: int | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """A handle on a temp file that replaces ``path`` when the block ends cleanly (discarded on an exception).

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8). ``durable=False`` skips the fsyncs (scratch files a crash may lose).
    ``mode_bits`` sets the permissions (default: ``0o666`` less the umask). ``exclusive=True`` never replaces:
    the block's end raises ``FileExistsError`` when ``path`` exists by then.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open(mode={mode!r}) must be 'w' or 'wb'")
    return _atomic_open(Path(path), mode, durable=durable, mode_bits=mode_bits, exclusive=exclusive)


@contextlib.contextmanager
def _atomic_open(path: Path, mode: str, *, durable: bool, mode_bits: int | None, exclusive: bool) -> Iterator[IO[Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode_bits if mode_bits is not None else 0o666 & ~current_umask())
        handle: IO[Any] = os.fdopen(fd, mode, encoding="utf-8") if mode == "w" else os.fdopen(fd, mode)
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if exclusive:
            os.link(temp, path)  # EEXIST instead of replacing; the temp name goes in the finally below
            os.unlink(temp)
        else:
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if durable:
        fsync_path(path.parent)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    durable: bool = True,
    mode_bits: int | None = None,
    exclusive: bool = False,
) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically; returns the path.

    ``exclusive=True`` creates ``path`` whole or raises ``FileExistsError`` (it never replaces an existing file).
    """
    target = Path(path)
    with atomic_open(target, "wb", durable=durable, mode_bits=mode_bits, exclusive=exclusive) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return target


def publish_file(source: str | os.PathLike[str], target: str | os.PathLike[str], *, durable: bool = True) -> Path:
    """Move a finished file (or symlink, or directory) from ``source`` over ``target`` in one rename.

    For files that were written elsewhere under a private name (a verified download, a generated wheel) and
    must become visible whole. With ``durable`` the file's data and both directory entries are fsynced first.
    """
    src, dst = Path(source), Path(target)
    if durable and src.is_file() and not src.is_symlink():
        fsync_path(src)
    os.replace(src, dst)
    if durable:
        fsync_path(dst.parent)
        if src.parent != dst.parent:
            fsync_path(src.parent)
    return dst
