"""One direction of a proxied connection: bytes read from ``src`` go, through the toxics, to ``dst``.

Everything runs in the proxy's loop thread. With no toxic in its direction a link splices: socket -> pipe ->
socket, in the kernel, one read at a time. With toxics, each read becomes a :class:`Chunk` (its bytes stay in a
kernel pipe) queued for the link's :class:`~chaos.proxy.pipeline.Pipeline`, which runs the chunks through the
toxics in order and has the link write them out. While a toxic waits, reading goes on, so held chunks pipeline;
:class:`chaos.proxy.budget.MemoryBudget` bounds what may pile up.

Like Toxiproxy, the end of stream in either direction closes the whole connection (half-close is not
propagated) once the data ahead of it is delivered.
"""

from __future__ import annotations

import fcntl
import random
import socket
import struct
import termios
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from chaos.proxy.budget import READ_BYTES, MemoryBudget
from chaos.proxy.pipeline import ChainSource, Pipeline
from chaos.proxy.pipes import PipePool, PipeQueue
from chaos.proxy.stage import LinkClosed, Wait
from chaos.proxy.toxics import Chunk

__all__ = ["ByteCounts", "Link", "LinkOwner"]

_OUTQ = bytearray(4)


class ByteCounts:
    """Bytes of one direction of a proxy: all connections so far, and those of connections that ended."""

    __slots__ = ("closed_received", "closed_sent", "received", "sent")

    def __init__(self) -> None:
        self.received = self.sent = self.closed_received = self.closed_sent = 0


class LinkOwner(ChainSource, Protocol):
    """What a link reads from its proxy: the published toxic chains and their version, and the counters."""

    @property
    def counts(self) -> dict[str, ByteCounts]: ...


class _Connection(Protocol):
    """What a link needs from its connection (:class:`chaos.proxy.connection.Connection`)."""

    @property
    def closed(self) -> bool: ...
    @property
    def owner(self) -> LinkOwner: ...
    @property
    def pool(self) -> PipePool: ...
    @property
    def budget(self) -> MemoryBudget: ...

    def close(self, *, reset: bool = False) -> None: ...

    def interest_changed(self, sock: socket.socket) -> None: ...

    def call_at(self, when: float, callback: Any) -> Any: ...


class Link:
    """One direction of a connection, driven by socket events and timers from the loop."""

    def __init__(
        self, conn: _Connection, src: socket.socket, dst: socket.socket, direction: str, rng: random.Random
    ) -> None:
        self.conn = conn
        self.src = src
        self.dst = dst
        self.direction = direction
        self.rng = rng
        self.received_bytes = 0
        self.sent_bytes = 0
        self.reading = True  # wants EPOLLIN on src
        self.writing = False  # wants EPOLLOUT on dst
        self.queue: deque[Chunk | None] = deque()
        self._counts = conn.owner.counts[direction]
        self._src_fd = src.fileno()
        self._dst_fd = dst.fileno()
        self._held = 0  # bytes read and not yet written or dropped
        self._eof = False
        self._pipes = PipeQueue(conn.pool)
        self._pipeline: Pipeline | None = None

    @property
    def source(self) -> LinkOwner:
        """The proxy: where the toxic chains are published."""
        return self.conn.owner

    @property
    def closed(self) -> bool:
        """Whether the connection is closed."""
        return self.conn.closed

    # -- events from the connection ------------------------------------------------------------------------

    def on_readable(self) -> None:
        """``src`` has data or end of stream."""
        if self.conn.closed or self._eof:
            return
        if self._pipeline is None and not self.conn.owner.chains[self.direction] and self._splice_through():
            return
        self._read_chunk()

    def on_writable(self) -> None:
        """``dst`` can take bytes again."""
        self.set_writing(False)
        if self._pipeline is None:
            self._drain()
        else:
            self._pipeline.writable()

    def chain_changed(self) -> None:
        """The proxy's toxics changed: the pipeline looks again, or starts if this direction now has toxics."""
        if self.conn.closed:
            return
        if self._pipeline is not None:
            self._pipeline.chain_changed()
        elif self.conn.owner.chains[self.direction]:
            if self._held:  # bytes spliced in, not yet out: the new toxics get them
                self.queue.append(Chunk(None, time.monotonic(), size=self._held, offset=self._pipes.taken))
            self.set_writing(False)
            self._start_pipeline()
            self.update_reading()

    def abort(self) -> None:
        """The connection is closing: stop the pipeline and give back pipes and budget."""
        if self._pipeline is not None:
            self._pipeline.abort()
            self._pipeline = None
        self.queue.clear()
        self._pipes.close()
        self.conn.budget.give(self._held)
        self.conn.budget.waiting.discard(self)
        self._held = 0

    # -- without toxics: splice ---------------------------------------------------------------------------

    def _splice_through(self) -> bool:
        """Move one read socket -> pipe -> socket; False when no pipe is to be had (read into memory then)."""
        if self._held:  # the last read is still waiting for dst
            self._set_reading(False)
            return True
        try:
            moved = self._pipes.fill_from(self._src_fd, READ_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            self.conn.close()
            return True
        if moved is None:
            return False
        if not moved:
            self.conn.close()
            return True
        self._took(moved)
        self._drain()
        return True

    def _drain(self) -> None:
        """Splice what the pipes hold to ``dst``; stop reading while ``dst`` is full."""
        while self._held and not self.conn.closed:
            try:
                moved = self._pipes.drain_to(self._dst_fd, self._held)
            except BlockingIOError:
                self._set_reading(False)
                self.set_writing(True)
                return
            except OSError:
                self.conn.close()
                return
            self._wrote(moved)
            self._gave(moved)
        self.update_reading()

    # -- with toxics: read chunks for the pipeline --------------------------------------------------------------

    def _read_chunk(self) -> None:
        room = self.conn.budget.room(self._held)
        if room <= 0:
            self.update_reading()
            return
        chain = self.conn.owner.chains[self.direction]
        limit = min(room, READ_BYTES, *(t.kind.chunk_bytes or READ_BYTES for t in chain))
        offset = self._pipes.written
        try:
            moved = self._pipes.fill_from(self._src_fd, limit)
            if moved is None:  # no pipe to be had (out of descriptors): this read goes into memory
                chunk = Chunk(self.src.recv(limit), time.monotonic())
                moved = chunk.size
            else:
                chunk = Chunk(None, time.monotonic(), size=moved, offset=offset)
        except BlockingIOError:
            return
        except OSError:
            self.conn.close()
            return
        if moved:
            self._took(moved)
            self.queue.append(chunk)
        else:
            self._eof = True
            self.queue.append(None)
        if self._pipeline is None:
            self._start_pipeline()
        else:
            self._pipeline.data_arrived()
        self.update_reading()

    def update_reading(self) -> None:
        """Watch ``src`` while this link may read more (called again when room comes back)."""
        if self.conn.closed or self._eof:
            want = False
        elif self._pipeline is None:
            want = not self._held
        else:
            want = self.conn.budget.room(self._held) > 0
            if not want:
                self.conn.budget.waiting.add(self)
        self._set_reading(want)

    def _start_pipeline(self) -> None:
        self._pipeline = Pipeline(self)
        self._pipeline.start()

    # -- PipelineHost -------------------------------------------------------------------------------------------

    @staticmethod
    def now() -> float:
        """The clock of chunk timestamps and toxic deadlines."""
        return time.monotonic()

    async def write(self, chunk: Chunk) -> None:
        """Write ``chunk`` to ``dst``: spliced from the pipe, or sent from memory."""
        if chunk.data is None:
            await self._splice_out(chunk)
        elif chunk.data:
            await self._send(chunk.data)

    async def _splice_out(self, chunk: Chunk) -> None:
        self._pipes.skip_to(chunk.offset)
        left = chunk.size
        while left:
            if self.conn.closed:
                raise LinkClosed
            try:
                moved = self._pipes.drain_to(self._dst_fd, left)
            except BlockingIOError:
                await Wait(Wait.WRITABLE)
                continue
            except OSError:
                self.conn.close()
                raise LinkClosed from None
            left -= moved
            self._wrote(moved)

    async def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.conn.closed:
                raise LinkClosed
            try:
                sent = self.dst.send(view)
            except BlockingIOError:
                await Wait(Wait.WRITABLE)
                continue
            except OSError:
                self.conn.close()
                raise LinkClosed from None
            view = view[sent:]
            self._wrote(sent)

    def done(self, chunk: Chunk) -> None:
        """A queued chunk went through the toxics: what they did not forward is dropped."""
        if chunk.data is None and chunk.offset >= 0:
            self._pipes.skip_to(chunk.offset + chunk.size)
        self._gave(chunk.size)
        self.update_reading()

    def content(self, chunk: Chunk) -> bytes:
        """The bytes of ``chunk``, taken out of the pipe if they are still there."""
        if chunk.data is None:
            self._pipes.skip_to(chunk.offset)
            chunk.data = self._pipes.read(chunk.size)
        return chunk.data

    def flushed(self) -> bool:
        """Whether the kernel has delivered everything written to ``dst`` (its send queue is empty)."""
        if self.conn.closed:
            raise LinkClosed
        fcntl.ioctl(self._dst_fd, termios.TIOCOUTQ, _OUTQ)
        return bool(struct.unpack("i", _OUTQ)[0] == 0)

    def reset(self) -> None:
        """Close both sides of the connection with an RST."""
        self.conn.close(reset=True)

    def close(self) -> None:
        """Close the connection with a FIN."""
        self.conn.close()

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        """A loop timer."""
        return self.conn.call_at(when, callback)

    def pipeline_ended(self) -> None:
        """No toxics and nothing queued: back to splicing."""
        self._pipeline = None
        self.update_reading()

    # -- bookkeeping --------------------------------------------------------------------------------------------

    def _took(self, size: int) -> None:
        self._held += size
        self.received_bytes += size
        self._counts.received += size
        self.conn.budget.take(size)

    def _gave(self, size: int) -> None:
        self._held -= size
        self.conn.budget.give(size)

    def _wrote(self, size: int) -> None:
        self.sent_bytes += size
        self._counts.sent += size

    def _set_reading(self, want: bool) -> None:
        if want != self.reading:
            self.reading = want
            self.conn.interest_changed(self.src)

    def set_writing(self, want: bool) -> None:
        """Watch ``dst`` for room (or stop)."""
        if want != self.writing:
            self.writing = want
            self.conn.interest_changed(self.dst)
