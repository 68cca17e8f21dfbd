"""One direction of a proxied connection: bytes read from ``src`` go, through the toxics, to ``dst``.

Everything runs in the proxy's loop thread. With no toxic in its direction a link splices: socket -> pipe ->
socket, in the kernel, one read at a time. With toxics, each read becomes a :class:`Chunk` (its bytes stay in a
kernel pipe) queued for the link's pipeline, a coroutine that runs the chunks through the toxics in order and
writes them out. When a toxic waits, the pipeline suspends to the loop (see chaos.proxy.stage) while reading
goes on, so held chunks pipeline; :class:`chaos.proxy.budget.MemoryBudget` bounds what may pile up.

Like Toxiproxy, the end of stream in either direction closes the whole connection (half-close is not
propagated) once the data ahead of it is delivered.
"""

from __future__ import annotations

import fcntl
import logging
import math
import random
import socket
import struct
import termios
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from chaos.proxy.budget import READ_BYTES, MemoryBudget
from chaos.proxy.pipes import Pipe, PipePool
from chaos.proxy.stage import LinkClosed, StageView, ToxicState, Wait
from chaos.proxy.toxics import Chunk, Toxic

__all__ = ["ByteCounts", "Link", "LinkOwner"]

_LOG = logging.getLogger("chaos.proxy.link")
_OUTQ = bytearray(4)


class ByteCounts:
    """Bytes of one direction of a proxy: all connections so far, and those of connections that ended."""

    __slots__ = ("closed_received", "closed_sent", "received", "sent")

    def __init__(self) -> None:
        self.received = self.sent = self.closed_received = self.closed_sent = 0


class LinkOwner(Protocol):
    """What a link reads from its proxy: the published toxic chains and their version, and the counters."""

    @property
    def name(self) -> str: ...
    @property
    def chains(self) -> dict[str, tuple[Toxic, ...]]: ...
    @property
    def version(self) -> int: ...
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
        self._counts = conn.owner.counts[direction]
        self._src_fd = src.fileno()
        self._dst_fd = dst.fileno()
        self._held = 0  # bytes read and not yet written or dropped
        self._eof = False
        self._queue: deque[Chunk | None] = deque()
        self._pipes: deque[Pipe] = deque()
        self._pipe_in = 0  # bytes ever put in this link's pipes: a pipe chunk's offset counts these
        self._pipe_out = 0  # ... and taken out
        self._coro: Coroutine[Wait, Any, None] | None = None
        self._running = False
        self._waiting: Wait | None = None
        self._timer: Any = None
        self._states: dict[Toxic, ToxicState] = {}
        self._version_seen = -1

    # -- events from the connection ------------------------------------------------------------------------

    def on_readable(self) -> None:
        """``src`` has data or end of stream."""
        if self.conn.closed or self._eof:
            return
        if self._coro is None and not self.conn.owner.chains[self.direction] and self._splice_through():
            return
        self._read_chunk()

    def on_writable(self) -> None:
        """``dst`` can take bytes again."""
        self._set_writing(False)
        if self._coro is None:
            self._drain()
        elif self._waiting is not None and self._waiting.kind == Wait.WRITABLE:
            self._resume(True)

    def chain_changed(self) -> None:
        """The proxy's toxics changed: interrupt waits on changed toxics; start the pipeline if needed."""
        if self.conn.closed:
            return
        if self._coro is None:
            if self.conn.owner.chains[self.direction]:
                if self._held:  # bytes spliced in, not yet out: the new toxics get them
                    self._queue.append(Chunk(None, time.monotonic(), size=self._held, offset=self._pipe_out))
                self._set_writing(False)
                self._start_pipeline()
                self.update_reading()
            return
        wait = self._waiting
        if wait is None:
            return
        if wait.kind == Wait.DATA:
            self._resume(True)
        elif wait.kind == Wait.DEADLINE and wait.toxic is not None and _changed(wait.toxic, wait.version):
            self._resume(False)

    def abort(self) -> None:
        """The connection is closing: stop the pipeline and give back pipes and budget."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._coro is not None and not self._running:
            self._coro.close()
            self._coro = None
        self._waiting = None
        self._queue.clear()
        for pipe in self._pipes:
            self.conn.pool.put(pipe)
        self._pipes.clear()
        self.conn.budget.give(self._held)
        self.conn.budget.waiting.discard(self)
        self._held = 0

    # -- without toxics: splice ---------------------------------------------------------------------------

    def _splice_through(self) -> bool:
        """Move one read socket -> pipe -> socket; False when no pipe is to be had (read into memory then)."""
        if self._held:  # the last read is still waiting for dst
            self._set_reading(False)
            return True
        pipe = self._tail_pipe()
        if pipe is None:
            return False
        try:
            moved = pipe.fill_from(self._src_fd, READ_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            self.conn.close()
            return True
        if not moved:
            self.conn.close()
            return True
        self._took(moved)
        self._pipe_in += moved
        self._drain()
        return True

    def _drain(self) -> None:
        """Splice what the pipes hold to ``dst``; stop reading while ``dst`` is full."""
        while self._held and not self.conn.closed:
            head = self._pipes[0]
            try:
                moved = head.drain_to(self._dst_fd, self._held)
            except BlockingIOError:
                self._set_reading(False)
                self._set_writing(True)
                return
            except OSError:
                self.conn.close()
                return
            self._pipe_out += moved
            self._wrote(moved)
            self._gave(moved)
            self._trim_pipes()
        self.update_reading()

    # -- with toxics: read chunks for the pipeline --------------------------------------------------------------

    def _read_chunk(self) -> None:
        room = self.conn.budget.room(self._held)
        if room <= 0:
            self.update_reading()
            return
        chain = self.conn.owner.chains[self.direction]
        limit = min(room, READ_BYTES, *(t.kind.chunk_bytes or READ_BYTES for t in chain))
        pipe = self._tail_pipe()
        try:
            if pipe is not None:
                moved = pipe.fill_from(self._src_fd, limit)
                chunk = Chunk(None, time.monotonic(), size=moved, offset=self._pipe_in)
                self._pipe_in += moved
            else:
                chunk = Chunk(self.src.recv(limit), time.monotonic())
                moved = chunk.size
        except BlockingIOError:
            if pipe is not None and pipe.filled:
                pipe.full = True  # its slots are taken: the next read gets a fresh pipe
            return
        except OSError:
            self.conn.close()
            return
        if moved:
            self._took(moved)
            self._queue.append(chunk)
        else:
            self._eof = True
            self._queue.append(None)
        if self._coro is None:
            self._start_pipeline()
        elif self._waiting is not None and self._waiting.kind == Wait.DATA:
            self._resume(True)
        self.update_reading()

    def update_reading(self) -> None:
        """Watch ``src`` while this link may read more (called again when room comes back)."""
        if self.conn.closed or self._eof:
            want = False
        elif self._coro is None:
            want = not self._held
        else:
            want = self.conn.budget.room(self._held) > 0
            if not want:
                self.conn.budget.waiting.add(self)
        self._set_reading(want)

    # -- the pipeline -------------------------------------------------------------------------------------------

    def _start_pipeline(self) -> None:
        self._version_seen = -1
        self._coro = self._pipeline()
        self._resume(None)

    async def _pipeline(self) -> None:
        owner = self.conn.owner
        chain: tuple[Toxic, ...] = ()
        while True:
            if owner.version != self._version_seen:
                self._version_seen = owner.version
                chain = owner.chains[self.direction]
                self._sync(chain)
            if self._queue:
                chunk = self._queue.popleft()
                await self.run_chain(chain, 0, chunk)
                if chunk is not None:
                    self._done(chunk)
                continue
            if not chain:
                return  # back to splicing
            deadline = self._idle_deadline(chain)
            if deadline is not None and deadline <= time.monotonic():
                await self._run_idle(chain)
                continue
            await Wait(Wait.DATA, math.inf if deadline is None else deadline)

    def _resume(self, value: object) -> None:
        coro = self._coro
        if coro is None or self._running:
            return
        self._waiting = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = True
        try:
            wait = coro.send(value)
        except StopIteration:
            self._coro = None
            self._states.clear()
            self.update_reading()
            return
        except LinkClosed:
            self._coro = None
            self.conn.close()
            return
        except Exception:  # noqa: BLE001  # a bug in a toxic must close this connection, not hang it
            _LOG.exception("proxy %s: toxic pipeline failed", self.conn.owner.name)
            self._coro = None
            self.conn.close()
            return
        finally:
            self._running = False
        if self.conn.closed:
            coro.close()
            self._coro = None
            return
        self._waiting = wait
        if wait.kind == Wait.WRITABLE:
            self._set_writing(True)
        elif not math.isinf(wait.deadline):
            self._timer = self.conn.call_at(wait.deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        wait = self._waiting
        if wait is not None:
            self._resume(wait.kind != Wait.DATA)

    def _sync(self, chain: Sequence[Toxic]) -> None:
        """Roll toxicity for toxics new to this link or updated since, and drop state of removed ones."""
        present = set(chain)
        for gone in [t for t in self._states if t not in present]:
            del self._states[gone]
        for toxic in chain:
            state = self._states.get(toxic)
            if state is not None and state.version == toxic.version:
                continue
            if state is None:
                state = self._states[toxic] = ToxicState()
            state.version = toxic.version
            state.active = self.rng.random() < toxic.toxicity
            if state.active:
                toxic.kind.restart(StageView(self, toxic, state, chain, 0))

    def _idle_deadline(self, chain: Sequence[Toxic]) -> float | None:
        deadlines = [
            d
            for index, toxic in enumerate(chain)
            if (state := self._states.get(toxic)) is not None and state.active
            if (d := toxic.kind.idle_deadline(StageView(self, toxic, state, chain, index))) is not None
        ]
        return min(deadlines) if deadlines else None

    async def _run_idle(self, chain: Sequence[Toxic]) -> None:
        now = time.monotonic()
        for index, toxic in enumerate(chain):
            state = self._states.get(toxic)
            if state is None or not state.active or toxic.removed:
                continue
            view = StageView(self, toxic, state, chain, index)
            deadline = toxic.kind.idle_deadline(view)
            if deadline is not None and deadline <= now:
                await toxic.kind.on_idle(view)

    async def run_chain(self, chain: Sequence[Toxic], index: int, chunk: Chunk | None) -> None:
        """Pass ``chunk`` to the first active toxic from ``index`` on, or write it out after the last one."""
        while index < len(chain):
            toxic = chain[index]
            state = self._states.get(toxic)
            if state is not None and state.active and not toxic.removed:
                await toxic.kind.handle(StageView(self, toxic, state, chain, index), chunk)
                return
            index += 1
        if chunk is None:
            self.conn.close()
            raise LinkClosed
        if chunk.data is None:
            await self._splice_out(chunk)
        elif chunk.data:
            await self._send(chunk.data)

    async def _splice_out(self, chunk: Chunk) -> None:
        self._skip_to(chunk.offset)
        left = chunk.size
        while left:
            if self.conn.closed:
                raise LinkClosed
            try:
                moved = self._pipes[0].drain_to(self._dst_fd, left)
            except BlockingIOError:
                await Wait(Wait.WRITABLE)
                continue
            except OSError:
                self.conn.close()
                raise LinkClosed from None
            left -= moved
            self._pipe_out += moved
            self._wrote(moved)
            self._trim_pipes()

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

    def _done(self, chunk: Chunk) -> None:
        """A queued chunk went through the toxics: what they did not forward is dropped."""
        if chunk.data is None and chunk.offset >= 0:
            self._skip_to(chunk.offset + chunk.size)
        self._gave(chunk.size)
        self.update_reading()

    # -- StageHost ----------------------------------------------------------------------------------------------

    def content(self, chunk: Chunk) -> bytes:
        """The bytes of ``chunk``, taken out of the pipe if they are still there."""
        if chunk.data is None:
            self._skip_to(chunk.offset)
            chunk.data = self._pipes[0].read(chunk.size) if chunk.size else b""
            self._pipe_out += chunk.size
            self._trim_pipes()
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

    # -- bookkeeping --------------------------------------------------------------------------------------------

    def _tail_pipe(self) -> Pipe | None:
        if self._pipes and not self._pipes[-1].full:
            return self._pipes[-1]
        pipe = self.conn.pool.get()
        if pipe is not None:
            self._pipes.append(pipe)
        return pipe

    def _trim_pipes(self) -> None:
        while self._pipes and not self._pipes[0].filled:
            self.conn.pool.put(self._pipes.popleft())

    def _skip_to(self, offset: int) -> None:
        """Drop pipe bytes before stream offset ``offset`` (bytes the toxics did not forward)."""
        gap = offset - self._pipe_out
        if gap < 0:
            raise RuntimeError(f"a toxic forwarded bytes out of stream order (offset {offset} < {self._pipe_out})")
        while gap:
            head = self._pipes[0]
            step = min(gap, head.filled)
            self.conn.pool.discard(head, step)
            gap -= step
            self._pipe_out += step
            self._trim_pipes()

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

    def _set_writing(self, want: bool) -> None:
        if want != self.writing:
            self.writing = want
            self.conn.interest_changed(self.dst)


def _changed(toxic: Toxic, version: int) -> bool:
    return toxic.removed or toxic.version != version
