"""The toxic pipeline driver on a fake link: chunks pipeline under latency, changes release held data, bugs close.

The link's clock is virtual: the test fires the timers itself, moving the clock to each one's time.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from chaos.proxy.kinds import KINDS
from chaos.proxy.pipeline import Pipeline
from chaos.proxy.toxics import Chunk, Toxic, ToxicKind


class _Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLink:
    """A PipelineHost that records writes, timers and closes instead of touching sockets."""

    def __init__(self, *toxics: Toxic) -> None:
        self.rng = random.Random(1)
        self.direction = "downstream"
        self.queue: deque[Chunk | None] = deque()
        self.name = "fake"
        self.chains = {"downstream": tuple(toxics), "upstream": ()}
        self.version = 1
        self.closed = False
        self.written: list[bytes] = []
        self.timers: list[_Timer] = []
        self.ended = False
        self.clock = 100.0

    def now(self) -> float:
        return self.clock

    @property
    def source(self) -> FakeLink:
        return self

    async def write(self, chunk: Chunk) -> None:
        assert chunk.data is not None
        self.written.append(chunk.data)

    def done(self, chunk: Chunk) -> None:
        pass

    def content(self, chunk: Chunk) -> bytes:
        assert chunk.data is not None
        return chunk.data

    def flushed(self) -> bool:
        return True

    def reset(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    def set_writing(self, want: bool) -> None:
        pass

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, callback)
        self.timers.append(timer)
        return timer

    def pipeline_ended(self) -> None:
        self.ended = True

    def fire_next_timer(self) -> float:
        """Run the earliest live timer, as the loop would at its time; return that time."""
        timer = min((t for t in self.timers if not t.cancelled), key=lambda t: t.when)
        self.timers.remove(timer)
        self.clock = max(self.clock, timer.when)
        timer.callback()
        return timer.when


def _approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


def _toxic(type_name: str, **attributes: Any) -> Toxic:
    kind = KINDS[type_name]
    return Toxic(type_name, kind, "downstream", 1.0, {**kind.defaults(), **attributes})


def test_latency_releases_each_chunk_at_its_own_read_time_plus_latency() -> None:
    """Two chunks read 100 ms apart under 500 ms latency leave at +500 and +600 ms: they pipeline, not add up."""
    read_at = 100.0
    link = FakeLink(_toxic("latency", latency=500))
    link.queue.extend([Chunk(b"a", read_at), Chunk(b"b", read_at + 0.1)])
    Pipeline(link).start()
    assert link.written == []
    first = link.fire_next_timer()
    assert link.written == [b"a"]
    second = link.fire_next_timer()
    assert link.written == [b"a", b"b"]
    assert (first - read_at, second - read_at) == (_approx(0.5), _approx(0.6))


def test_removing_a_toxic_releases_what_it_holds_at_once() -> None:
    """A chunk held by a latency toxic is written as soon as the toxic is removed, before any timer fires."""
    toxic = _toxic("latency", latency=60_000)
    link = FakeLink(toxic)
    link.queue.append(Chunk(b"held", link.clock))
    pipeline = Pipeline(link)
    pipeline.start()
    assert link.written == []
    toxic.removed = True
    link.chains = {"downstream": (), "upstream": ()}
    link.version += 1
    pipeline.chain_changed()
    assert link.written == [b"held"]
    assert link.ended  # no toxics and nothing queued: back to splicing


def test_updating_a_toxic_releases_held_data_and_rolls_again() -> None:
    """Updating a toxic ends its waits early (Toxiproxy's live changes); the new attributes apply next."""
    toxic = _toxic("latency", latency=60_000)
    link = FakeLink(toxic)
    later = link.clock + 5.0
    link.queue.extend([Chunk(b"1", link.clock), Chunk(b"2", later)])
    pipeline = Pipeline(link)
    pipeline.start()
    toxic.attrs = {"latency": 10, "jitter": 0}
    toxic.version += 1
    link.version += 1
    pipeline.chain_changed()
    assert link.written == [b"1"]
    assert link.fire_next_timer() - later == _approx(0.010)
    assert link.written == [b"1", b"2"]


def test_end_of_stream_closes_the_connection_after_the_data() -> None:
    """End of stream travels behind the data and closes the connection once the data is written."""
    link = FakeLink(_toxic("noop"))
    link.queue.extend([Chunk(b"x", link.clock), None])
    Pipeline(link).start()
    assert link.written == [b"x"]
    assert link.closed


class _Broken(ToxicKind):
    type_name = "broken"

    async def handle(self, stage: Any, chunk: Chunk | None) -> None:
        raise ValueError("a bug in a custom toxic")


def test_a_failing_toxic_closes_its_connection(caplog: Any) -> None:
    """A toxic that raises closes its connection (logged) instead of leaving the peer hanging."""
    link = FakeLink(Toxic("b", _Broken(), "downstream", 1.0, {}))
    link.queue.append(Chunk(b"x", link.clock))
    Pipeline(link).start()
    assert link.closed
    assert "toxic pipeline failed" in caplog.text


def test_timeout_idle_deadline_closes_without_data() -> None:
    """timeout 200: with no data, the pipeline wakes at the idle deadline and the toxic closes the connection."""
    toxic = _toxic("timeout", timeout=200)
    link = FakeLink(toxic)
    Pipeline(link).start()
    assert not link.closed
    link.fire_next_timer()
    assert link.closed
    assert toxic.fired == 1


class _Foreign(ToxicKind):
    type_name = "foreign"

    async def handle(self, stage: Any, chunk: Chunk | None) -> None:
        await _ForeignAwaitable()


class _ForeignAwaitable:
    def __await__(self) -> Any:
        yield "a future of another event loop"


def test_a_toxic_awaiting_something_foreign_closes_its_connection(caplog: pytest.LogCaptureFixture) -> None:
    """A toxic may only await its Stage: awaiting anything else closes the connection with a clear log line."""
    link = FakeLink(Toxic("f", _Foreign(), "downstream", 1.0, {}))
    link.queue.append(Chunk(b"x", link.clock))
    Pipeline(link).start()
    assert link.closed
    assert "toxics may only await their Stage" in caplog.text
