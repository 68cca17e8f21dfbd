"""The multi-process-safe appender behind :class:`resilience_core.state.logs.JsonLogHandler` (private).

Protocol (Linux/macOS ``flock``):

- A writer opens the live file ``O_APPEND`` and holds a *shared* flock on it for as long as it writes there;
  each record is one ``write`` (atomic with respect to other appenders on local filesystems).
- After a write that leaves the file at ``max_bytes`` or more (or past ``max_age_s``), the writer takes an
  *exclusive* flock on ``<file>.lock``, checks the live name still is the file it writes (else someone rotated
  already: it just reopens), renames it to ``<file>.<UTC stamp>.<ns>-<pid>`` and reopens.
- A writer that still holds the renamed file appends at most one more record there, sees the size, and
  reopens. The compressor takes an *exclusive, non-blocking* flock on a rotated file, so it gzips (to a temp
  name, then rename, then unlink) only once no writer can append to it any more. Nothing is lost or duplicated;
  a crash between the gzip rename and the unlink is repaired by the next pass (the ``.gz`` wins), and so is a
  crash mid-gzip (the next compressor of that file removes the orphaned temp file). A writer killed mid-``write``
  can leave part of a record; the next writer that opens the file alone cuts it off.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable

from resilience_core.errors import ConfigError
from resilience_core.state.atomic import atomic_open

try:
    import fcntl
except ImportError:  # Windows has no flock; importing must still work there, using this module must not
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_RETRY_BUSY_S = 0.05


def _check_limit(name: str, value: float | None, *, minimum: float, integer: bool) -> None:
    bad = value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
        or not value >= minimum
    )
    if bad:
        kind = "an int" if integer else "a number"
        raise ConfigError(
            f"{name}={value!r} must be {kind} >= {minimum:g}, or None to switch it off",
            field=name,
            value=value,
            source="argument",
            allowed=f">= {minimum:g} or None",
        )


class RotatingAppender:
    """Append lines to ``path``; rotate by size/age; gzip and prune rotated files in a background thread."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int | None,
        max_age_s: float | None,
        backup_count: int | None,
        retention_age_s: float | None,
        compress: bool,
        now: Callable[[], float] = time.time,
        compress_level: int = 1,
    ) -> None:
        if fcntl is None:
            raise ConfigError(
                "JsonLogHandler needs a POSIX system (flock); on Windows use logging.FileHandler with JsonFormatter",
                field="platform",
                value=os.name,
                source="system",
                allowed="posix",
            )
        _check_limit("max_bytes", max_bytes, minimum=1, integer=True)
        _check_limit("max_age_s", max_age_s, minimum=0.001, integer=False)
        _check_limit("backup_count", backup_count, minimum=0, integer=True)
        _check_limit("retention_age_s", retention_age_s, minimum=0, integer=False)
        self.path = os.path.abspath(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.backup_count = backup_count
        self.retention_age_s = retention_age_s
        self.compress = compress
        self.compress_level = compress_level
        self._now = now
        self._rotated = re.compile(re.escape(os.path.basename(self.path)) + r"\.\d{8}T\d{6}\.\d{9}-\d+(\.gz)?$")
        self._fd = -1
        self._ino = 0
        self._deadline = math.inf
        self._wake = threading.Event()
        self._stopping = False
        self._worker: threading.Thread | None = None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._open()
        if self._has_maintenance():
            self._kick()

    # -- writing ---------------------------------------------------------------------------------------------

    def _open(self) -> None:
        while True:
            fd = os.open(self.path, _OPEN_FLAGS, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True  # no other writer holds this file: a torn tail can be cut off safely
            except BlockingIOError:
                fcntl.flock(fd, fcntl.LOCK_SH)
                alone = False
            if self._is_live(fd):
                if not alone:
                    break  # a torn tail (if any) is another writer's to repair: reading it now could race a write
                self._cut_torn_tail(fd)
                fcntl.flock(fd, fcntl.LOCK_SH)  # the downgrade is not atomic: check again it is the live file
                if self._is_live(fd):
                    break
            os.close(fd)  # rotated between our open and our lock: open the new file instead
        self._fd = fd
        self._ino = os.fstat(fd).st_ino
        self._deadline = self._now() + self.max_age_s if self.max_age_s is not None else math.inf

    def _is_live(self, fd: int) -> bool:
        mine = os.fstat(fd)
        try:
            live = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (live.st_ino, live.st_dev) == (mine.st_ino, mine.st_dev)

    def _cut_torn_tail(self, fd: int) -> None:
        """Cut off part of a record a writer SIGKILLed mid-``write`` left at the end (caller holds LOCK_EX).

        Linux may stop a write to a regular file between pages on a fatal signal; without this cut the next
        record would merge into the fragment and neither line would parse.
        """
        size_bytes = os.fstat(fd).st_size
        if size_bytes == 0:
            return
        with open(self.path, "rb") as reader:  # our fd is write-only
            if os.fstat(reader.fileno()).st_ino != os.fstat(fd).st_ino:
                return  # rotated between our check and this open: the tail we would read is another file's
            start = max(0, size_bytes - (1 << 20))
            reader.seek(start)
            tail = reader.read(size_bytes - start)
        if tail.endswith(b"\n"):
            return
        newline = tail.rfind(b"\n")
        if newline >= 0 or start == 0:
            os.ftruncate(fd, start + newline + 1)

    def write(self, line: str) -> None:
        """Append ``line`` plus a newline as one write; rotate if that made the file due."""
        if self._fd < 0:
            raise ValueError(f"{self.path}: the log handler is closed")
        data = (line + "\n").encode("utf-8", "backslashreplace")
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])
        size_due = self.max_bytes is not None and os.lseek(self._fd, 0, os.SEEK_CUR) >= self.max_bytes
        if size_due or (self._deadline != math.inf and self._now() >= self._deadline):
            self._rotate()

    def _stamp(self) -> str:
        ns = time.time_ns()
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(ns // 10**9))}.{ns % 10**9:09d}-{os.getpid()}"

    def _rotate(self) -> None:
        rotated = False
        lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                live = os.stat(self.path)
            except FileNotFoundError:
                live = None
            if live is not None and live.st_ino == self._ino and live.st_size > 0:
                size_due = self.max_bytes is not None and live.st_size >= self.max_bytes
                if size_due or self._now() >= self._deadline:
                    os.rename(self.path, f"{self.path}.{self._stamp()}")
                    rotated = True
            old = self._fd
            self._open()
            os.close(old)  # drops our shared lock on the old file so the compressor can take it
        finally:
            os.close(lock)
        if rotated and self._has_maintenance():
            self._kick()

    def close(self) -> None:
        """Close the file, stop the worker, and run one last maintenance pass."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        worker, self._worker = self._worker, None
        if worker is not None:
            self._stopping = True
            self._wake.set()
            worker.join()
        if self._has_maintenance():
            self.maintain()

    # -- maintenance (off the writing path) ------------------------------------------------------------------

    def _has_maintenance(self) -> bool:
        return self.compress or self.backup_count is not None or self.retention_age_s is not None

    def _kick(self) -> None:
        if self._worker is None:
            self._stopping = False
            self._worker = threading.Thread(target=self._work, name="resilience-log-maintenance", daemon=True)
            self._worker.start()
        self._wake.set()

    def _work(self) -> None:
        busy = False
        while True:
            self._wake.wait(timeout=_RETRY_BUSY_S if busy else None)
            self._wake.clear()
            if self._stopping:
                return
            busy = self.maintain()

    def rotated_files(self) -> list[str]:
        """Rotated files (plain and ``.gz``), oldest first."""
        directory = os.path.dirname(self.path)
        names = [n for n in os.listdir(directory) if self._rotated.match(n)]
        return [os.path.join(directory, n) for n in sorted(names, key=lambda n: n.removesuffix(".gz"))]

    def maintain(self) -> bool:
        """Compress what no writer holds, then apply retention; True if some file was still busy."""
        busy = False
        if self.compress:
            for path in self.rotated_files():
                if not path.endswith(".gz") and not self._compress(path):
                    busy = True
        self._apply_retention()
        return busy

    def _compress(self, path: str) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a writer still appends here; try again later
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                return True  # another process compressed it meanwhile
            target = path + ".gz"
            # Temp files of a compressor SIGKILLed mid-gzip: we hold the file's lock, so nobody writes them now.
            head, name = os.path.split(target)
            for stale in glob.glob(os.path.join(glob.escape(head), f".{glob.escape(name)}.*.tmp")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale)
            if not os.path.exists(target):
                with (
                    os.fdopen(os.dup(fd), "rb") as source,
                    atomic_open(target, "wb") as raw,
                    gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=self.compress_level) as packed,
                ):
                    shutil.copyfileobj(source, packed, 1 << 20)
            os.unlink(path)
            return True
        finally:
            os.close(fd)

    def _apply_retention(self) -> None:
        files = self.rotated_files()
        doomed: list[str] = []
        if self.backup_count is not None and len(files) > self.backup_count:
            doomed = files[: len(files) - self.backup_count]
        if self.retention_age_s is not None:
            cutoff = self._now() - self.retention_age_s
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    if path not in doomed and os.stat(path).st_mtime < cutoff:
                        doomed.append(path)
        for path in doomed:
            if path.endswith(".gz"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(path, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.unlink(path)
                except BlockingIOError:
                    pass  # still being appended to; the next pass removes it
                finally:
                    os.close(fd)
