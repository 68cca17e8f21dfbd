"""One proxied TCP connection: the client socket, the upstream socket and the two links between them.

Both sockets are watched by the proxy's loop; each event goes to the link that reads from the socket (EPOLLIN)
or writes to it (EPOLLOUT). An error or hang-up on either socket closes the connection, as an I/O error does in
Toxiproxy.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from chaos.proxy.budget import MemoryBudget
from chaos.proxy.link import Link, LinkOwner
from chaos.proxy.loop import EventLoop, Timer
from chaos.proxy.pipes import PipePool

__all__ = ["Connection", "ConnectionOwner"]

_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_BROKEN = select.EPOLLERR | select.EPOLLHUP
_LINGER_RESET = struct.pack("ii", 1, 0)


class ConnectionOwner(LinkOwner, Protocol):
    """What a connection needs from its proxy: the link owner's state, and to be told when it ends."""

    def connection_done(self, conn: Connection) -> None: ...


class Connection:
    """A client connection and its upstream connection (loop thread only, once started)."""

    def __init__(
        self,
        owner: ConnectionOwner,
        *,
        loop: EventLoop,
        pool: PipePool,
        budget: MemoryBudget,
        client: socket.socket,
        upstream: socket.socket,
        seed: int,
    ) -> None:
        self.owner = owner
        self.loop = loop
        self.pool = pool
        self.budget = budget
        self.client = client
        self.upstream = upstream
        self.closed = False
        rng = random.Random(seed)
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go does for every TCP conn
        self.links = (
            Link(self, client, upstream, "upstream", random.Random(rng.getrandbits(64))),
            Link(self, upstream, client, "downstream", random.Random(rng.getrandbits(64))),
        )
        self._masks = {client.fileno(): _IN, upstream.fileno(): _IN}

    def start(self) -> None:
        """Watch both sockets; links with toxics start their pipelines."""
        up, down = self.links
        self.loop.add(self.client.fileno(), _IN, self._handler(up, down))
        self.loop.add(self.upstream.fileno(), _IN, self._handler(down, up))
        if self.owner.chains["upstream"] or self.owner.chains["downstream"]:
            self.chain_changed()

    def _handler(self, reader: Link, writer: Link) -> Callable[[int], None]:
        """The event handler of a socket: ``reader`` reads from it, ``writer`` writes to it."""

        def on_event(mask: int) -> None:
            if mask & _BROKEN:
                self.close()
                return
            if mask & _OUT:
                writer.on_writable()
            if mask & _IN and not self.closed:
                reader.on_readable()

        return on_event

    def interest_changed(self, sock: socket.socket) -> None:
        """A link started or stopped wanting to read from or write to ``sock``."""
        if self.closed:
            return
        up, down = self.links
        reader, writer = (up, down) if sock is self.client else (down, up)
        mask = (_IN if reader.reading else 0) | (_OUT if writer.writing else 0)
        fd = sock.fileno()
        if self._masks[fd] != mask:
            self._masks[fd] = mask
            self.loop.modify(fd, mask)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` in the loop at monotonic time ``when``."""
        return self.loop.call_at(when, callback)

    def chain_changed(self) -> None:
        """The proxy's toxics changed."""
        for link in self.links:
            link.chain_changed()

    def close(self, *, reset: bool = False) -> None:
        """Close the connection: with ``reset`` both peers get an RST (SO_LINGER 0), else a FIN."""
        if self.closed:
            return
        self.closed = True
        for link in self.links:
            link.abort()
        for sock in (self.client, self.upstream):
            self.loop.remove(sock.fileno())
            with contextlib.suppress(OSError):
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                else:
                    sock.shutdown(socket.SHUT_WR)  # FIN first, even if unread data makes close() send an RST
            sock.close()
        self.owner.connection_done(self)
