"""A link's toxic pipeline: the coroutine that runs queued chunks through the toxics in order, and its driver.

The pipeline takes the chunks its link queued, one at a time, and passes each through the link's active toxics
(each toxic forwards to the next, the last one writes). When a toxic awaits a :class:`~chaos.proxy.stage.Wait`
the coroutine suspends back to :meth:`Pipeline._resume`, which arms a timer or asks for writability; the link's
events resume it. When its direction has no toxics left and nothing is queued, the pipeline ends and the link
goes back to splicing.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from chaos.proxy.stage import LinkClosed, StageView, ToxicState, Wait
from chaos.proxy.toxics import Chunk, Toxic

__all__ = ["ChainSource", "Pipeline", "PipelineHost"]

_LOG = logging.getLogger("chaos.proxy.pipeline")


class ChainSource(Protocol):
    """Where a pipeline reads its toxics: the proxy's published chains and their version."""

    @property
    def name(self) -> str: ...
    @property
    def chains(self) -> dict[str, tuple[Toxic, ...]]: ...
    @property
    def version(self) -> int: ...


class PipelineHost(Protocol):
    """What a pipeline needs from its link (:class:`chaos.proxy.link.Link`)."""

    rng: random.Random
    direction: str

    @property
    def queue(self) -> deque[Chunk | None]: ...
    @property
    def source(self) -> ChainSource: ...
    @property
    def closed(self) -> bool: ...

    def now(self) -> float: ...
    def write(self, chunk: Chunk) -> Awaitable[None]: ...
    def done(self, chunk: Chunk) -> None: ...
    def content(self, chunk: Chunk) -> bytes: ...
    def flushed(self) -> bool: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...
    def set_writing(self, want: bool) -> None: ...
    def call_at(self, when: float, callback: Callable[[], None]) -> Any: ...
    def pipeline_ended(self) -> None: ...


class Pipeline:
    """The toxic pipeline of one link (loop thread only); it is the ``StageHost`` of the toxics' stages."""

    def __init__(self, link: PipelineHost) -> None:
        self.link = link
        self.rng = link.rng
        self._coro = self._run()
        self._running = False
        self._waiting: Wait | None = None
        self._timer: Any = None
        self._states: dict[Toxic, ToxicState] = {}
        self._version_seen = -1

    # -- events -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run until the first wait."""
        self._resume(None)

    def data_arrived(self) -> None:
        """The link queued a chunk."""
        if self._waiting is not None and self._waiting.kind == Wait.DATA:
            self._resume(True)

    def writable(self) -> None:
        """The link's destination can take bytes again."""
        if self._waiting is not None and self._waiting.kind == Wait.WRITABLE:
            self._resume(True)

    def chain_changed(self) -> None:
        """The toxics changed: a wait for data looks again; a wait on a changed toxic ends early (False)."""
        wait = self._waiting
        if wait is None:
            return
        if wait.kind == Wait.DATA:
            self._resume(True)
        elif wait.kind == Wait.DEADLINE and wait.toxic is not None and _changed(wait.toxic, wait.version):
            self._resume(False)

    def abort(self) -> None:
        """The connection is closing: drop the coroutine (a running one unwinds on its next step)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting = None
        if not self._running:
            self._coro.close()

    # -- the coroutine and its driver ---------------------------------------------------------------------------

    async def _run(self) -> None:
        link = self.link
        source = link.source
        chain: tuple[Toxic, ...] = ()
        while True:
            if source.version != self._version_seen:
                self._version_seen = source.version
                chain = source.chains[link.direction]
                self._sync(chain)
            if link.queue:
                chunk = link.queue.popleft()
                await self.run_chain(chain, 0, chunk)
                if chunk is not None:
                    link.done(chunk)
                continue
            if not chain:
                return  # back to splicing
            deadline = self._idle_deadline(chain)
            if deadline is not None and deadline <= link.now():
                await self._run_idle(chain)
                continue
            await Wait(Wait.DATA, math.inf if deadline is None else deadline)

    def _resume(self, value: object) -> None:
        if self._running:
            return
        self._waiting = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = True
        try:
            wait = self._coro.send(value)
        except StopIteration:
            self.link.pipeline_ended()
            return
        except LinkClosed:
            self.link.close()
            return
        except Exception:  # noqa: BLE001  # a bug in a toxic must close this connection, not hang it
            _LOG.exception("proxy %s: toxic pipeline failed", self.link.source.name)
            self.link.close()
            return
        finally:
            self._running = False
        if self.link.closed:
            self._coro.close()
            return
        if not isinstance(wait, Wait):  # a toxic awaited something of another event loop (asyncio.sleep...)
            _LOG.error("proxy %s: a toxic awaited %r; toxics may only await their Stage", self.link.source.name, wait)
            self._coro.close()
            self.link.close()
            return
        self._waiting = wait
        if wait.kind == Wait.WRITABLE:
            self.link.set_writing(True)
        elif not math.isinf(wait.deadline):
            self._timer = self.link.call_at(wait.deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        wait = self._waiting
        if wait is not None:
            self._resume(wait.kind != Wait.DATA)

    # -- toxics -------------------------------------------------------------------------------------------------

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
        now = self.link.now()
        for index, toxic in enumerate(chain):
            state = self._states.get(toxic)
            if state is None or not state.active or toxic.removed:
                continue
            view = StageView(self, toxic, state, chain, index)
            deadline = toxic.kind.idle_deadline(view)
            if deadline is not None and deadline <= now:
                await toxic.kind.on_idle(view)

    # -- StageHost ----------------------------------------------------------------------------------------------

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
            self.link.close()  # end of stream: the whole connection closes once the data ahead is out
            raise LinkClosed
        await self.link.write(chunk)

    def now(self) -> float:
        """The link's clock (monotonic seconds)."""
        return self.link.now()

    def content(self, chunk: Chunk) -> bytes:
        """The bytes of ``chunk``."""
        return self.link.content(chunk)

    def flushed(self) -> bool:
        """Whether the destination's kernel send queue is empty."""
        return self.link.flushed()

    def reset(self) -> None:
        """Reset both sides of the connection."""
        self.link.reset()


def _changed(toxic: Toxic, version: int) -> bool:
    return toxic.removed or toxic.version != version
