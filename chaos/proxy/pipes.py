"""Kernel pipes that hold a link's bytes between reading and writing, so they never enter Python.

A link splices what it reads from its source socket into a pipe and later splices it out to its destination,
or to ``/dev/null`` when a toxic drops it; only a toxic that needs the content (``corrupt``) reads bytes out.
A pipe holds bytes in stream order, which is the order the toxics consume them. Pipes come from a per-proxy
:class:`PipePool`: a link keeps one only while it holds data, so one pipe serves many idle connections.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import deque

__all__ = ["Pipe", "PipePool", "PipeQueue"]

_PIPE_BYTES = 1 << 20  # asked for with F_SETPIPE_SZ; an unprivileged user over its pipe quota gets less
_SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
_IDLE_PIPES = 16


class Pipe:
    """One pipe and the number of bytes in it."""

    __slots__ = ("filled", "full", "read_fd", "write_fd")

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.filled = 0
        self.full = False  # a splice into it would block: its slots are taken, whatever the byte count

    def fill_from(self, fd: int, limit: int) -> int:
        """Splice up to ``limit`` bytes from ``fd``; 0 at end of stream; raises BlockingIOError."""
        moved = os.splice(fd, self.write_fd, limit, flags=_SPLICE_FLAGS)
        self.filled += moved
        return moved

    def drain_to(self, fd: int, limit: int) -> int:
        """Splice up to ``limit`` of the held bytes to ``fd``; raises BlockingIOError when ``fd`` is full."""
        moved = os.splice(self.read_fd, fd, min(limit, self.filled), flags=_SPLICE_FLAGS)
        self.filled -= moved
        if moved:
            self.full = False
        return moved

    def read(self, size: int) -> bytes:
        """Take ``size`` held bytes out as Python bytes."""
        parts = []
        while size:
            part = os.read(self.read_fd, size)
            parts.append(part)
            size -= len(part)
            self.filled -= len(part)
        self.full = False
        return b"".join(parts)

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class PipePool:
    """Empty pipes for the links of one proxy, and ``/dev/null`` to splice dropped bytes into."""

    def __init__(self) -> None:
        self._idle: list[Pipe] = []
        self._null_fd = -1

    def get(self) -> Pipe | None:
        """An empty pipe, or None when the process is out of descriptors (the link then reads into memory)."""
        if self._idle:
            return self._idle.pop()
        try:
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        with contextlib.suppress(OSError):  # over the per-user pipe quota the kernel refuses: keep the default
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        return Pipe(read_fd, write_fd)

    def put(self, pipe: Pipe) -> None:
        """Give back a pipe; one still holding bytes (a closed connection's) is closed instead of reused."""
        if pipe.filled or len(self._idle) >= _IDLE_PIPES:
            pipe.close()
        else:
            pipe.full = False
            self._idle.append(pipe)

    def discard(self, pipe: Pipe, size: int) -> None:
        """Drop ``size`` held bytes of ``pipe`` (dropped by a toxic, or cut off by a close)."""
        if self._null_fd < 0:
            self._null_fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        while size and pipe.filled:
            size -= pipe.drain_to(self._null_fd, size)

    def close(self) -> None:
        """Close every idle pipe and ``/dev/null``."""
        for pipe in self._idle:
            pipe.close()
        self._idle.clear()
        if self._null_fd >= 0:
            os.close(self._null_fd)
            self._null_fd = -1


class PipeQueue:
    """One link's pipes in stream order: bytes go in at the tail and come out at the head.

    ``written`` and ``taken`` count the bytes ever put in and taken out; a chunk that lives here is known by the
    ``written`` count before it went in (its offset), so bytes a toxic did not forward can be skipped.
    """

    __slots__ = ("_pipes", "_pool", "taken", "written")

    def __init__(self, pool: PipePool) -> None:
        self._pool = pool
        self._pipes: deque[Pipe] = deque()
        self.written = 0
        self.taken = 0

    @property
    def held(self) -> int:
        """Bytes in the pipes now."""
        return self.written - self.taken

    def fill_from(self, fd: int, limit: int) -> int | None:
        """Splice up to ``limit`` bytes of ``fd`` in (0 at end of stream); None when no pipe is to be had.

        Raises BlockingIOError when ``fd`` has nothing, or the tail pipe has no free slot (the next call then
        takes a fresh pipe), and OSError when ``fd`` failed.
        """
        pipe = self._pipes[-1] if self._pipes and not self._pipes[-1].full else self._pool.get()
        if pipe is None:
            return None
        if not self._pipes or pipe is not self._pipes[-1]:
            self._pipes.append(pipe)
        try:
            moved = pipe.fill_from(fd, limit)
        except BlockingIOError:
            if pipe.filled:
                pipe.full = True
            else:
                self._trim()
            raise
        self.written += moved
        self._trim()
        return moved

    def drain_to(self, fd: int, limit: int) -> int:
        """Splice up to ``limit`` bytes from the head to ``fd``; raises BlockingIOError when ``fd`` is full."""
        moved = self._pipes[0].drain_to(fd, limit)
        self.taken += moved
        self._trim()
        return moved

    def read(self, size: int) -> bytes:
        """Take ``size`` bytes from the head as Python bytes (they lie in one pipe: one read's worth)."""
        data = self._pipes[0].read(size) if size else b""
        self.taken += size
        self._trim()
        return data

    def skip_to(self, offset: int) -> None:
        """Drop the bytes before stream offset ``offset`` (bytes the toxics did not forward)."""
        gap = offset - self.taken
        if gap < 0:
            raise RuntimeError(f"a toxic forwarded bytes out of stream order (offset {offset} < {self.taken})")
        while gap:
            head = self._pipes[0]
            step = min(gap, head.filled)
            self._pool.discard(head, step)
            gap -= step
            self.taken += step
            self._trim()

    def close(self) -> None:
        """Give every pipe back to the pool (one still holding bytes is closed)."""
        for pipe in self._pipes:
            self._pool.put(pipe)
        self._pipes.clear()
        self.taken = self.written

    def _trim(self) -> None:
        while self._pipes and not self._pipes[0].filled:
            self._pool.put(self._pipes.popleft())
