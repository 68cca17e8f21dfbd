"""How many bytes a proxy holds between reading and writing: the per-proxy memory bound.

Every link (one direction of one connection) counts the bytes it has read and not yet written or dropped. A link
may always hold up to ``LINK_FLOOR_BYTES``; beyond that it may hold up to ``LINK_CAP_BYTES`` only while the
whole proxy holds less than ``PROXY_BYTES``. A link over its allowance stops reading its source, so the sender
stalls in TCP flow control instead of growing our memory. Hence a proxy with N live links holds at most
``PROXY_BYTES + N * LINK_FLOOR_BYTES + READ_BYTES`` (each read is capped at the room left). Without toxics a
link holds at most one read (``READ_BYTES``) at a time.

The bytes sit in kernel pipes when the link could get one (they never enter Python), otherwise in Python bytes.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LINK_CAP_BYTES", "LINK_FLOOR_BYTES", "PROXY_BYTES", "READ_BYTES", "MemoryBudget"]

READ_BYTES = 1 << 20  # the most one read (splice or recv) takes; bounded by the room left
LINK_FLOOR_BYTES = 128 << 10  # every link may hold this much, however busy the proxy is
LINK_CAP_BYTES = 8 << 20  # no link holds more (80 MB/s through a 100 ms latency toxic)
PROXY_BYTES = 32 << 20  # beyond their floor, links share this much


class Waiter(Protocol):
    """A link that stopped reading for want of room."""

    def update_reading(self) -> None: ...


class MemoryBudget:
    """The bytes held by every link of one proxy, and the links waiting for room (loop thread only)."""

    __slots__ = ("held", "waiting")

    def __init__(self) -> None:
        self.held = 0
        self.waiting: set[Waiter] = set()

    def room(self, link_held: int) -> int:
        """How many more bytes a link that holds ``link_held`` may read now."""
        cap = LINK_CAP_BYTES if self.held < PROXY_BYTES else LINK_FLOOR_BYTES
        return cap - link_held

    def take(self, size: int) -> None:
        """A link read ``size`` bytes."""
        self.held += size

    def give(self, size: int) -> None:
        """A link wrote or dropped ``size`` bytes; links waiting for room look again once there is some."""
        self.held -= size
        if self.waiting and self.held < PROXY_BYTES:
            waiting = list(self.waiting)
            self.waiting.clear()
            for link in waiting:
                link.update_reading()
