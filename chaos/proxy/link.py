"""The data path: one proxied TCP connection, as two links (client->upstream and upstream->client).

Each link has a reader thread. While its direction has no toxics the reader moves bytes with ``os.splice``
through a pipe (no copy into Python). When a toxic appears the reader switches to reading chunks of up to
32 KiB into a bounded queue, and a writer thread runs them through the toxics in order and writes them out;
the bound gives backpressure, so a slow consumer cannot grow memory. Every blocking point polls the socket
together with the connection's eventfd, so closing a connection wakes every thread of it at once.

Like Toxiproxy, the end of stream in either direction closes the whole connection (half-close is not
propagated) once the data ahead of it is delivered.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import random
import select
import socket
import struct
import termios
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from chaos.proxy.stage import LinkClosed, StageView, ToxicState
from chaos.proxy.toxics import Chunk, Toxic

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Connection", "Link", "LinkOwner"]

_READ_BYTES = 32 * 1024  # Toxiproxy's io.Copy reads at most 32 KiB per chunk
_SPLICE_BYTES = 1 << 20
_PIPE_BYTES = 1 << 20
_QUEUE_LIMIT_BYTES = 8 << 20  # per link: the most a slow consumer can make us hold (80 MB/s at 100 ms latency)
_SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
_POLL_IN = select.POLLIN
_POLL_OUT = select.POLLOUT


_LOG = logging.getLogger("chaos.proxy.link")


class LinkOwner(Protocol):
    """What a connection needs from its proxy."""

    name: str
    chains: dict[str, tuple[Toxic, ...]]
    version: int

    def connection_done(self, conn: Connection) -> None: ...


class Connection:
    """One client connection and its upstream connection, with the two links between them."""

    def __init__(self, owner: LinkOwner, client: socket.socket, upstream: socket.socket, seed: int) -> None:
        self.owner = owner
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.closing = False
        self.reset_requested = False
        self._threads = 0
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        rng = random.Random(seed)
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go does for every TCP conn
        self.links = (
            Link(self, client, upstream, "upstream", random.Random(rng.getrandbits(64))),
            Link(self, upstream, client, "downstream", random.Random(rng.getrandbits(64))),
        )

    def start(self, *, run_upstream_here: bool = False) -> None:
        """Start both readers; with ``run_upstream_here`` the calling thread becomes the upstream reader."""
        with self.lock:
            self._threads += 2  # a writer may already be counted (toxics present at accept)
        down = self.links[1]
        try:
            threading.Thread(target=down.run_reader, name=f"proxy-{self.owner.name}-down", daemon=True).start()
        except RuntimeError:  # out of threads: give the connection up rather than leak it
            self.close()
            self.thread_exit()
        if run_upstream_here:
            self.links[0].run_reader()
        else:
            threading.Thread(target=self.links[0].run_reader, name=f"proxy-{self.owner.name}-up", daemon=True).start()

    def poller(self, fd: int, events: int) -> Any:
        """A poll object watching ``fd`` and this connection's wake-up eventfd."""
        poller = select.poll()
        poller.register(fd, events)
        poller.register(self._wake_fd, _POLL_IN)
        return poller

    def close(self, *, reset: bool = False) -> None:
        """Close the connection: with ``reset`` both peers get an RST (SO_LINGER 0), else a FIN."""
        with self.lock:
            if self.closing:
                return
            self.closing = True
            self.reset_requested = reset
            for link in self.links:
                link.cond.notify_all()
        if reset:
            linger = struct.pack("ii", 1, 0)
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        os.eventfd_write(self._wake_fd, 1)

    def add_thread(self) -> bool:
        """Count a new thread in (caller holds ``lock``); False when the connection is already closing."""
        if self.closing:
            return False
        self._threads += 1
        return True

    def thread_exit(self) -> None:
        """The last thread out closes the sockets, so no fd is closed under a thread still using it."""
        with self.lock:
            self._threads -= 1
            last = self._threads == 0
        if not last:
            return
        self.close()
        for sock in (self.client, self.upstream):
            if not self.reset_requested:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)  # FIN before close, even if unread data makes close send RST
            sock.close()
        os.close(self._wake_fd)
        self.owner.connection_done(self)

    def chain_changed(self) -> None:
        """The proxy's toxics changed: wake waits, and start writers where a direction now has toxics."""
        with self.lock:
            for link in self.links:
                if self.owner.chains[link.direction]:
                    link.ensure_writer()
                link.cond.notify_all()


class Link:
    """One direction of a connection: bytes read from ``src`` go, through the toxics, to ``dst``."""

    def __init__(
        self, conn: Connection, src: socket.socket, dst: socket.socket, direction: str, rng: random.Random
    ) -> None:
        self.conn = conn
        self.src = src
        self.dst = dst
        self.direction = direction
        self.rng = rng
        self.cond = threading.Condition(conn.lock)
        self.received_bytes = 0
        self.sent_bytes = 0
        self._queue: deque[Chunk | None] = deque()
        self._queued_bytes = 0
        self._busy = False
        self._reader_waiting = False
        self._writer_waiting = False
        self._writer_started = False
        self._states: dict[Toxic, ToxicState] = {}
        self._version_seen = -1
        self._pipe: tuple[int, int] | None = None
        self._read_poll = conn.poller(src.fileno(), _POLL_IN)
        self._write_poll = conn.poller(dst.fileno(), _POLL_OUT)

    # -- reader ---------------------------------------------------------------------------------------------

    def run_reader(self) -> None:
        """Thread body: read until end of stream or close."""
        try:
            self._read_loop()
        except LinkClosed:
            pass
        except OSError:
            self.conn.close()
        except Exception:  # noqa: BLE001  # a bug must close this connection, not leave its peer hanging
            _LOG.exception("proxy %s: reader failed", self.conn.owner.name)
            self.conn.close()
        finally:
            if self._pipe is not None:
                os.close(self._pipe[0])
                os.close(self._pipe[1])
            self.conn.thread_exit()

    def _chain(self) -> tuple[Toxic, ...]:
        return self.conn.owner.chains[self.direction]

    def _read_loop(self) -> None:
        while True:
            if self.conn.closing:
                raise LinkClosed
            if not self._chain() and not self._queue and not self._busy:
                if self._pump_fast():
                    return
                continue
            try:
                data = self.src.recv(_READ_BYTES)
            except BlockingIOError:
                self._wait(self._read_poll)
                continue
            self.received_bytes += len(data)
            self._enqueue(data or None)
            if not data:
                return  # the end of stream travels through the toxics; the writer closes

    def _pump_fast(self) -> bool:
        """Splice while the direction has no toxics; True at end of stream, False when toxics appeared."""
        if self._pipe is None:
            self._pipe = os.pipe2(os.O_CLOEXEC)
            with contextlib.suppress(OSError):  # over the per-user pipe quota the kernel refuses: keep 64 KiB
                fcntl.fcntl(self._pipe[1], fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        pipe_r, pipe_w = self._pipe
        src, dst = self.src.fileno(), self.dst.fileno()
        while True:
            try:
                moved = os.splice(src, pipe_w, _SPLICE_BYTES, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                self._wait(self._read_poll)
                continue
            if moved == 0:
                if self._chain():
                    self._enqueue(None)
                    return True
                self.conn.close()
                raise LinkClosed
            self.received_bytes += moved
            if self._chain():  # a toxic arrived while we waited: this data goes through it
                self._enqueue(_read_exactly(pipe_r, moved))
                return False
            while moved:
                try:
                    done = os.splice(pipe_r, dst, moved, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    self._wait(self._write_poll)
                    continue
                moved -= done
                self.sent_bytes += done

    def _wait(self, poller: Any) -> None:
        poller.poll()
        if self.conn.closing:
            raise LinkClosed

    def _enqueue(self, data: bytes | None) -> None:
        chunk = None if data is None else Chunk(data, time.monotonic())
        with self.cond:
            while self._queued_bytes >= _QUEUE_LIMIT_BYTES and not self.conn.closing:
                self._reader_waiting = True
                self.cond.wait()
                self._reader_waiting = False
            if self.conn.closing:
                raise LinkClosed
            self._queue.append(chunk)
            self._queued_bytes += len(data) if data else 0
            self.ensure_writer()
            if self._writer_waiting:
                self.cond.notify_all()

    def ensure_writer(self) -> None:
        """Start the writer thread if it is not running (caller holds the connection lock)."""
        if self._writer_started or not self.conn.add_thread():
            return
        self._writer_started = True
        threading.Thread(
            target=self._run_writer, name=f"proxy-{self.conn.owner.name}-{self.direction}-w", daemon=True
        ).start()

    # -- writer ---------------------------------------------------------------------------------------------

    def _run_writer(self) -> None:
        try:
            self._write_loop()
        except LinkClosed:
            pass
        except OSError:
            self.conn.close()
        except Exception:  # noqa: BLE001  # a bug in a toxic must close this connection, not hang it
            _LOG.exception("proxy %s: toxic pipeline failed", self.conn.owner.name)
            self.conn.close()
        finally:
            self.conn.thread_exit()

    def _write_loop(self) -> None:
        owner = self.conn.owner
        chain: tuple[Toxic, ...] = ()
        while True:
            version = owner.version
            if version != self._version_seen:
                chain = self._chain()
                self._sync(chain, version)
            with self.cond:
                if self.conn.closing:
                    raise LinkClosed
                chunk: Chunk | None = None
                has_chunk = bool(self._queue)
                if has_chunk:
                    self._busy = True  # set before the pop: the reader must never see an empty queue and idle
                    chunk = self._queue.popleft()
                    self._queued_bytes -= len(chunk.data) if chunk is not None else 0
                    if self._reader_waiting:
                        self.cond.notify_all()
            if has_chunk:
                try:
                    self.run_chain(chain, 0, chunk)
                finally:
                    with self.cond:
                        self._busy = False
                continue
            idle_deadline = self._idle_deadline(chain)
            with self.cond:
                if not self._queue and not self.conn.closing and owner.version == version:
                    timeout = None if idle_deadline is None else idle_deadline - time.monotonic()
                    if timeout is None or timeout > 0:
                        self._writer_waiting = True
                        self.cond.wait(timeout)
                        self._writer_waiting = False
            self._run_idle(chain)

    def _sync(self, chain: Sequence[Toxic], version: int) -> None:
        """Roll toxicity for toxics new to this link or updated since, and drop state of removed ones."""
        if version == self._version_seen:
            return
        self._version_seen = version
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

    def _run_idle(self, chain: Sequence[Toxic]) -> None:
        now = time.monotonic()
        for index, toxic in enumerate(chain):
            state = self._states.get(toxic)
            if state is None or not state.active or toxic.removed:
                continue
            view = StageView(self, toxic, state, chain, index)
            deadline = toxic.kind.idle_deadline(view)
            if deadline is not None and deadline <= now:
                toxic.kind.on_idle(view)

    def run_chain(self, chain: Sequence[Toxic], index: int, chunk: Chunk | None) -> None:
        """Pass ``chunk`` to the first active toxic from ``index`` on, or write it out after the last one."""
        while index < len(chain):
            toxic = chain[index]
            state = self._states.get(toxic)
            if state is not None and state.active and not toxic.removed:
                toxic.kind.handle(StageView(self, toxic, state, chain, index), chunk)
                return
            index += 1
        if chunk is None:
            self.conn.close()
            raise LinkClosed
        self._send_all(chunk.data)

    def _send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.dst.send(view)
            except BlockingIOError:
                self._wait(self._write_poll)
                continue
            view = view[sent:]
            self.sent_bytes += sent

    def wait_until(self, deadline: float, toxic: Toxic | None, version: int) -> bool:
        """Wait until ``deadline``; False early if ``toxic`` changed or went away; raises once closing."""
        with self.cond:
            while True:
                if self.conn.closing:
                    raise LinkClosed
                if toxic is not None and (toxic.removed or toxic.version != version):
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self.cond.wait(None if math.isinf(remaining) else remaining)

    def wait_flushed(self, limit_s: float) -> None:
        """Wait until the kernel has delivered what we wrote to ``dst`` (its send queue is empty)."""
        give_up = time.monotonic() + limit_s
        buffer = bytearray(4)
        while time.monotonic() < give_up:
            fcntl.ioctl(self.dst.fileno(), termios.TIOCOUTQ, buffer)
            if struct.unpack("i", buffer)[0] == 0:
                return
            self.wait_until(time.monotonic() + 0.001, None, 0)


def _read_exactly(fd: int, size: int) -> bytes:
    parts = []
    while size:
        part = os.read(fd, size)
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
