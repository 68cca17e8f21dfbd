"""A toxic's view of the link it runs on (the ``Stage`` protocol of chaos.proxy.toxics), over a link.

Toxics are coroutines. When one waits, it awaits a :class:`Wait`, which suspends the whole pipeline of its link
back to the link's driver in the loop thread; the driver resumes it when the wait is over (a deadline passed,
the toxic changed, the destination became writable, data came). A wait that is already over completes without
suspending, so a chunk that no toxic holds crosses the pipeline in one go.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Generator, Iterator, Sequence
from typing import Any, Generic, NoReturn, Protocol, TypeVar, cast

from chaos.proxy.toxics import Chunk, Number, Toxic

__all__ = ["LinkClosed", "StageHost", "StageView", "ToxicState", "Wait"]

_T = TypeVar("_T")
_FLUSH_POLL_S = 0.001


class LinkClosed(Exception):
    """Unwinds a link's pipeline once its connection is closing."""


class Wait:
    """What a pipeline is suspended on; the driver sends back the result of the ``await``."""

    DEADLINE = 0  # until ``deadline``; False early when ``toxic`` changes or goes away
    SLEEP = 1  # until ``deadline``, whatever happens to the toxics
    WRITABLE = 2  # until the destination socket can take more bytes
    DATA = 3  # until a chunk is queued, the toxics change, or ``deadline`` (an idle deadline) passes

    __slots__ = ("deadline", "kind", "toxic", "version")

    def __init__(self, kind: int, deadline: float = math.inf, toxic: Toxic | None = None, version: int = 0) -> None:
        self.kind = kind
        self.deadline = deadline
        self.toxic = toxic
        self.version = version

    def __await__(self) -> Generator[Wait, Any, Any]:
        return (yield self)


class _Ready(Generic[_T]):
    """An awaitable that is already complete (its iterator stops at once with the value)."""

    __slots__ = ("value",)

    def __init__(self, value: _T) -> None:
        self.value = value

    def __await__(self) -> Generator[Wait, Any, _T]:
        return cast("Generator[Wait, Any, _T]", self)  # stops at its first step: send() is never reached

    def __iter__(self) -> Iterator[Wait]:
        return self

    def __next__(self) -> Wait:
        raise StopIteration(self.value)


_TRUE = _Ready(True)
_FALSE = _Ready(False)
_NONE: _Ready[None] = _Ready(None)


class StageHost(Protocol):
    """What a stage needs from the link it runs on (:class:`chaos.proxy.link.Link`)."""

    rng: random.Random

    def now(self) -> float: ...

    def run_chain(self, chain: Sequence[Toxic], index: int, chunk: Chunk | None) -> Awaitable[None]: ...

    def content(self, chunk: Chunk) -> bytes: ...

    def flushed(self) -> bool: ...

    def reset(self) -> None: ...


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
        return self.link.now()

    def random(self) -> float:
        return self.link.rng.random()

    def randrange(self, start: int, stop: int) -> int:
        return self.link.rng.randrange(start, stop)

    def wait_until(self, deadline: float) -> Awaitable[bool]:
        toxic = self.toxic
        if toxic.removed or toxic.version != self.version:
            return _FALSE
        if deadline <= self.link.now():
            return _TRUE
        return Wait(Wait.DEADLINE, deadline, toxic, self.version)

    def sleep_until(self, deadline: float) -> Awaitable[None]:
        if deadline <= self.link.now():
            return _NONE
        return Wait(Wait.SLEEP, deadline)

    def forward(self, chunk: Chunk | None) -> Awaitable[None]:
        return self.link.run_chain(self.chain, self.index + 1, chunk)

    async def wait_flushed(self, limit_s: float) -> None:
        give_up = self.link.now() + limit_s
        while not self.link.flushed() and self.link.now() < give_up:
            await Wait(Wait.SLEEP, self.link.now() + _FLUSH_POLL_S)

    def content(self, chunk: Chunk) -> bytes:
        return self.link.content(chunk)

    def reset(self) -> NoReturn:
        self.link.reset()
        raise LinkClosed

    def fired(self) -> None:
        self.toxic.fired += 1  # one loop thread per proxy: no lock
