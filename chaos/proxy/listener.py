"""A running proxy's data path: its listening socket, its loop thread and every connection it accepted.

Each accepted client is answered by dialling the upstream without blocking the loop (a host name is resolved
by a small shared pool of resolver threads), then becomes a :class:`~chaos.proxy.connection.Connection`. So a
proxy runs on one thread whatever its number of connections. Every method but the constructor may be called
from any thread; the work itself runs in the loop thread.
"""

from __future__ import annotations

import contextlib
import errno
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from chaos.proxy.addresses import resolve_upstream
from chaos.proxy.budget import MemoryBudget
from chaos.proxy.connection import Connection
from chaos.proxy.forward import FORWARD_UPSTREAM, AllowList, Handshake
from chaos.proxy.link import ByteCounts
from chaos.proxy.loop import EventLoop, Timer
from chaos.proxy.pipes import PipePool
from chaos.proxy.toxics import Toxic

__all__ = ["DIAL_TIMEOUT_S", "RESOLVER_THREADS", "Listener"]

DIAL_TIMEOUT_S = 30.0
RESOLVER_THREADS = 4  # shared by every proxy; only upstreams given by host name use them
_ACCEPTS_PER_EVENT = 64
_ACCEPT_PAUSE_S = 0.1  # out of descriptors: stop accepting for a moment instead of spinning
_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()

AddrInfo = tuple[Any, ...]


class ProxyState(Protocol):
    """What the data path reads from its proxy (:class:`chaos.proxy.model.Proxy`)."""

    @property
    def name(self) -> str: ...
    @property
    def upstream(self) -> str: ...
    @property
    def chains(self) -> dict[str, tuple[Toxic, ...]]: ...
    @property
    def version(self) -> int: ...
    @property
    def counts(self) -> dict[str, ByteCounts]: ...
    @property
    def rng(self) -> random.Random: ...
    @property
    def allow(self) -> AllowList | None: ...


def _resolve_in_pool(upstream: str, done: Callable[[list[AddrInfo] | OSError], None]) -> None:
    global _resolver  # noqa: PLW0603  # one pool for the process, created on first use
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="proxy-resolve")
        pool = _resolver

    def work() -> None:
        try:
            result: list[AddrInfo] | OSError = resolve_upstream(upstream, numeric_only=False)
        except OSError as error:
            result = error
        done(result)

    pool.submit(work)


class Listener:
    """Accepts on ``sock`` and proxies each connection to ``proxy.upstream`` from one loop thread."""

    def __init__(self, proxy: ProxyState, sock: socket.socket) -> None:
        self._proxy = proxy
        self._sock = sock
        self.name = proxy.name
        self.counts = proxy.counts
        self.loop = EventLoop(proxy.name)
        self.pool = PipePool()
        self.budget = MemoryBudget()
        self.connections: set[Connection] = set()
        self._dialling: set[socket.socket] = set()
        self._handshakes: set[Handshake] = set()
        self._stopped = False
        sock.setblocking(False)
        self.loop.add(sock.fileno(), select.EPOLLIN, self._on_accept)

    @property
    def chains(self) -> dict[str, tuple[Toxic, ...]]:
        return self._proxy.chains

    @property
    def version(self) -> int:
        return self._proxy.version

    # -- any thread ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread."""
        self.loop.start()

    def stop(self) -> None:
        """Close the listening socket and every connection (FIN), then end the loop thread."""
        self.loop.run_sync(self._shut)
        self.loop.stop()
        self.pool.close()

    def close_connections(self) -> None:
        """Close every live connection with a FIN; keep listening."""
        self.loop.run_sync(self._close_all)

    def chain_changed(self) -> None:
        """The toxics changed: every live connection sees it before this returns."""
        self.loop.run_sync(self._chain_changed)

    # -- loop thread --------------------------------------------------------------------------------------------

    def _shut(self) -> None:
        self._stopped = True
        self.loop.remove(self._sock.fileno())
        self._sock.close()
        for sock in list(self._dialling):
            sock.close()
        self._dialling.clear()
        for handshake in list(self._handshakes):
            handshake.close()
        self._close_all()

    def _close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()

    def _chain_changed(self) -> None:
        for conn in list(self.connections):
            conn.chain_changed()

    def _on_accept(self, _mask: int) -> None:
        for _ in range(_ACCEPTS_PER_EVENT):
            try:
                client, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting()
                return  # ECONNABORTED and the like: keep serving
            seed = self._proxy.rng.getrandbits(64)
            if self._proxy.upstream == FORWARD_UPSTREAM:
                handshake = Handshake(self, client, seed)
                self._handshakes.add(handshake)
                handshake.start()
            else:
                self._dialling.add(client)
                self._dial(client, seed)

    def _pause_accepting(self) -> None:
        fd = self._sock.fileno()
        self.loop.modify(fd, 0)

        def resume() -> None:
            if not self._stopped:
                self.loop.modify(fd, select.EPOLLIN)

        self.loop.call_at(time.monotonic() + _ACCEPT_PAUSE_S, resume)

    def _dial(self, client: socket.socket, seed: int) -> None:
        def done(result: socket.socket | str) -> None:
            if isinstance(result, str):
                self._give_up(client)
            else:
                self._connected(client, result, seed)

        deadline = time.monotonic() + DIAL_TIMEOUT_S
        self.open_upstream(self._proxy.upstream, deadline, done, lambda: client in self._dialling)

    def open_upstream(
        self,
        target: str,
        deadline: float,
        done: Callable[[socket.socket | str], None],
        alive: Callable[[], bool],
        accept: Callable[[list[AddrInfo]], list[AddrInfo]] | None = None,
    ) -> None:
        """Dial ``target`` without blocking; ``done`` gets the connected socket or why not.

        The reasons: ``resolve`` (no address), ``refused`` (``accept`` kept none of the addresses), ``connect``
        (none answered), ``timeout``. ``alive`` False (the client went away) drops the attempt silently.
        """
        try:
            infos = resolve_upstream(target, numeric_only=True)
        except OSError:
            infos = []

        def start(found: list[AddrInfo]) -> None:
            if self._stopped or not alive():
                return
            if not found:
                done("resolve")
                return
            kept = found if accept is None else accept(found)
            if not kept:
                done("refused")
                return
            self._connect(kept, deadline, done, alive)

        if infos:
            start(infos)
            return

        def resolved(result: list[AddrInfo] | OSError) -> None:
            found = [] if isinstance(result, OSError) else result
            self.loop.call_soon_threadsafe(lambda: start(found))

        _resolve_in_pool(target, resolved)

    def _connect(
        self,
        infos: list[AddrInfo],
        deadline: float,
        done: Callable[[socket.socket | str], None],
        alive: Callable[[], bool],
    ) -> None:
        """Try each address in turn; a client with no reachable upstream sees connect-then-EOF (#265)."""
        if self._stopped or not alive():
            return
        if not infos:
            done("connect")
            return
        if time.monotonic() >= deadline:
            done("timeout")
            return
        family, kind, proto, _name, address = infos[0]
        upstream = socket.socket(family, kind, proto)
        upstream.setblocking(False)
        result = upstream.connect_ex(address)
        if result == 0:
            done(upstream)
            return
        if result != errno.EINPROGRESS:
            upstream.close()
            self._connect(infos[1:], deadline, done, alive)
            return
        self._dialling.add(upstream)
        timer: list[Timer] = []

        def settle(_mask: int) -> None:
            self.loop.remove(upstream.fileno())
            timer[0].cancel()
            self._dialling.discard(upstream)
            error = upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error == 0 and alive():
                done(upstream)
            else:
                upstream.close()
                self._connect(infos[1:], deadline, done, alive)

        def timed_out() -> None:
            if upstream in self._dialling:
                self.loop.remove(upstream.fileno())
                self._dialling.discard(upstream)
                upstream.close()
                if alive():
                    done("timeout")

        self.loop.add(upstream.fileno(), select.EPOLLOUT, settle)
        timer.append(self.loop.call_at(deadline, timed_out))

    def _give_up(self, client: socket.socket) -> None:
        self._dialling.discard(client)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        client.close()

    def _connected(self, client: socket.socket, upstream: socket.socket, seed: int) -> None:
        self._dialling.discard(client)
        self._dialling.discard(upstream)
        conn = Connection(
            self, loop=self.loop, pool=self.pool, budget=self.budget, client=client, upstream=upstream, seed=seed
        )
        self.connections.add(conn)
        conn.start()

    @property
    def allow(self) -> AllowList | None:
        """A forward proxy's allow list (None for a plain proxy)."""
        return self._proxy.allow

    def handshake_done(self, handshake: Handshake, upstream: socket.socket | None) -> None:
        """A forward proxy's client is ready to tunnel to ``upstream``, or was dropped (None)."""
        self._handshakes.discard(handshake)
        if upstream is not None and not self._stopped:
            self._connected(handshake.client, upstream, handshake.seed)
        elif upstream is not None:
            upstream.close()
            handshake.client.close()

    def connection_done(self, conn: Connection) -> None:
        """A connection closed: fold its byte counts into the totals Toxiproxy's metrics report."""
        self.connections.discard(conn)
        for link in conn.links:
            counts = self.counts[link.direction]
            counts.closed_received += link.received_bytes
            counts.closed_sent += link.sent_bytes
