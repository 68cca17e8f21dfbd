"""A toxic's view of the link it runs on: the ``Stage`` protocol of chaos.proxy.toxics, over a Link."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from chaos.proxy.toxics import Chunk, Number, Toxic

__all__ = ["LinkClosed", "StageHost", "StageView", "ToxicState"]

_FIRED_LOCK = threading.Lock()  # the fired counters are shared by every link of a proxy


class LinkClosed(Exception):
    """Unwinds a link's thread once its connection is closing."""


class _Closable(Protocol):
    def close(self, *, reset: bool = False) -> None: ...


class StageHost(Protocol):
    """What a stage needs from the link it runs on (:class:`chaos.proxy.link.Link`)."""

    rng: random.Random

    @property
    def conn(self) -> _Closable: ...

    def wait_until(self, deadline: float, toxic: Toxic | None, version: int) -> bool: ...

    def run_chain(self, chain: Sequence[Toxic], index: int, chunk: Chunk | None) -> None: ...

    def wait_flushed(self, limit_s: float) -> None: ...


class ToxicState:
    """One toxic on one link: its toxicity roll, the toxic version it was rolled for, and the toxic's data."""

    __slots__ = ("active", "data", "version")

    def __init__(self) -> None:
        self.active = False
        self.version = -1
        self.data: dict[str, Any] = {}


class StageView:
    """A toxic's view of the link it is running on (the ``Stage`` protocol of chaos.proxy.toxics)."""

    __slots__ = ("attrs", "chain", "index", "link", "state", "toxic", "version")

    def __init__(self, link: StageHost, toxic: Toxic, state: ToxicState, chain: Sequence[Toxic], index: int) -> None:
        self.link = link
        self.toxic = toxic
        self.version = state.version
        self.attrs: dict[str, Number] = toxic.attrs
        self.state = state.data
        self.chain = chain
        self.index = index

    def now(self) -> float:
        return time.monotonic()

    def random(self) -> float:
        return self.link.rng.random()

    def randrange(self, start: int, stop: int) -> int:
        return self.link.rng.randrange(start, stop)

    def wait_until(self, deadline: float) -> bool:
        return self.link.wait_until(deadline, self.toxic, self.version)

    def sleep_until(self, deadline: float) -> None:
        self.link.wait_until(deadline, None, 0)

    def forward(self, chunk: Chunk | None) -> None:
        self.link.run_chain(self.chain, self.index + 1, chunk)

    def wait_flushed(self, limit_s: float) -> None:
        self.link.wait_flushed(limit_s)

    def reset(self) -> None:
        self.link.conn.close(reset=True)
        raise LinkClosed

    def fired(self) -> None:
        with _FIRED_LOCK:
            self.toxic.fired += 1
