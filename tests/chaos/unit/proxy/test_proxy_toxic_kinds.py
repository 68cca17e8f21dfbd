"""Each toxic's logic on a fake link with a virtual clock: what it forwards, when, and when it closes."""

from __future__ import annotations

import itertools
import random
from collections.abc import Coroutine
from typing import Any, NoReturn

import pytest

from chaos.proxy.jsonbody import BodyError, JsonObject
from chaos.proxy.kinds import KINDS
from chaos.proxy.standard import slice_bounds
from chaos.proxy.toxics import Chunk


class Reset(Exception):
    """Raised by the fake stage when a toxic resets the connection."""


class FakeStage:
    """A Stage with a virtual clock: waits advance time instantly; output is recorded with its time."""

    def __init__(self, type_name: str, seed: int = 1, **attrs: Any) -> None:
        self.kind = KINDS[type_name]
        self.attrs = self.kind.decode(JsonObject(list(attrs.items())), self.kind.defaults())
        self.state: dict[str, Any] = {}
        self.clock = 100.0
        self.rng = random.Random(seed)
        self.out: list[tuple[float, bytes | None]] = []
        self.interrupt_at: float | None = None
        self.fired_count = 0
        self.kind.restart(self)

    def now(self) -> float:
        return self.clock

    def random(self) -> float:
        return self.rng.random()

    def randrange(self, start: int, stop: int) -> int:
        return self.rng.randrange(start, stop)

    async def wait_until(self, deadline: float) -> bool:
        if self.interrupt_at is not None and deadline > self.interrupt_at:
            self.clock = max(self.clock, self.interrupt_at)
            return False
        self.clock = max(self.clock, deadline)
        return True

    async def sleep_until(self, deadline: float) -> None:
        self.clock = max(self.clock, deadline)

    async def forward(self, chunk: Chunk | None) -> None:
        self.out.append((self.clock, None if chunk is None else chunk.data))

    async def wait_flushed(self, limit_s: float) -> None:
        self.out.append((self.clock, b"<flushed>"))

    def content(self, chunk: Chunk) -> bytes:
        assert chunk.data is not None
        return chunk.data

    def reset(self) -> NoReturn:
        raise Reset

    def fired(self) -> None:
        self.fired_count += 1

    def run(self, step: Coroutine[Any, Any, None]) -> None:
        """Drive a toxic coroutine: on the virtual clock no wait suspends, so it must finish in one step."""
        with pytest.raises(StopIteration):
            step.send(None)

    def send(self, data: bytes | None) -> None:
        self.run(self.kind.handle(self, None if data is None else Chunk(data, self.clock)))

    @property
    def data(self) -> bytes:
        return b"".join(d for _t, d in self.out if d is not None and d != b"<flushed>")


def test_latency_releases_at_read_time_plus_latency() -> None:
    """latency 100: a chunk read at t leaves at t + 0.1 s."""
    stage = FakeStage("latency", latency=100)
    stage.send(b"a")
    assert stage.out == [(100.1, b"a")]


def test_latency_jitter_bounds() -> None:
    """Each delay lies in [latency - jitter, latency + jitter)."""
    for seed in range(50):
        stage = FakeStage("latency", seed=seed, latency=100, jitter=30)
        stage.send(b"a")
        assert 100.07 - 1e-9 <= stage.out[0][0] < 100.13


def test_latency_interrupt_forwards_at_once() -> None:
    """An update or removal while a chunk is held releases it immediately."""
    stage = FakeStage("latency", latency=5000)
    stage.interrupt_at = 101.0
    stage.send(b"a")
    assert stage.out == [(101.0, b"a")]


def test_bandwidth_schedules_exact_rate() -> None:
    """rate 100 KB/s: 300 KB leaves in 100 ms pieces of 10 KB, the last at +3 s."""
    stage = FakeStage("bandwidth", rate=100)
    stage.send(b"x" * 300_000)
    assert len(stage.out) == 30
    assert {len(d) for _t, d in stage.out if d} == {10_000}
    assert stage.out[-1][0] == pytest.approx(103.0)


def test_bandwidth_keeps_its_schedule_across_chunks() -> None:
    """Back-to-back chunks share one schedule: two 32 KiB chunks at 1000 KB/s end at 65.5 ms."""
    stage = FakeStage("bandwidth", rate=1000)
    stage.send(b"x" * 32768)
    stage.send(b"x" * 32768)
    assert stage.out[-1][0] == pytest.approx(100.065536)


def test_bandwidth_zero_holds_until_interrupted() -> None:
    """rate 0 holds data until the toxic changes, then passes it on."""
    stage = FakeStage("bandwidth", rate=0)
    stage.interrupt_at = 160.0
    stage.send(b"held")
    assert stage.out == [(160.0, b"held")]


def test_slow_close_delays_end_of_stream_only() -> None:
    """slow_close 500: data passes at once; end of stream waits 0.5 s."""
    stage = FakeStage("slow_close", delay=500)
    stage.send(b"d")
    stage.send(None)
    assert stage.out == [(100.0, b"d"), (100.5, None)]


def test_timeout_drops_and_rearms() -> None:
    """timeout 200: data is dropped, each chunk pushes the idle close to 200 ms after it."""
    stage = FakeStage("timeout", timeout=200)
    assert stage.kind.idle_deadline(stage) == pytest.approx(100.2)
    stage.clock = 100.15
    stage.send(b"dropped")
    assert stage.out == []
    assert stage.kind.idle_deadline(stage) == pytest.approx(100.35)
    stage.run(stage.kind.on_idle(stage))
    assert stage.out == [(100.15, None)]


def test_timeout_zero_never_closes() -> None:
    """timeout 0 has no idle deadline: it drops data forever."""
    stage = FakeStage("timeout", timeout=0)
    stage.send(b"x")
    assert stage.kind.idle_deadline(stage) is None
    assert stage.out == []


def test_reset_peer_discards_first_chunk_then_resets_after_timeout() -> None:
    """reset_peer: the first chunk is not forwarded; the reset comes after `timeout` ms."""
    stage = FakeStage("reset_peer", timeout=300)
    with pytest.raises(Reset):
        stage.send(b"lost")
    assert stage.out == []
    assert stage.clock == pytest.approx(100.3)


def test_reset_peer_after_bytes_forwards_exactly_n() -> None:
    """after_bytes 10 over chunks of 4: exactly 10 bytes pass, they are flushed, then the reset."""
    stage = FakeStage("reset_peer", after_bytes=10)
    stage.send(b"0123")
    stage.send(b"4567")
    with pytest.raises(Reset):
        stage.send(b"89ab")
    assert stage.data == b"0123456789"
    assert stage.out[-1][1] == b"<flushed>"


def test_limit_data_truncates_and_closes() -> None:
    """limit_data 5: the crossing chunk is cut, then end of stream follows; 0 closes on the first data."""
    stage = FakeStage("limit_data", bytes=5)
    stage.send(b"abc")
    stage.send(b"defg")
    assert stage.out == [(100.0, b"abc"), (100.0, b"de"), (100.0, None)]
    zero = FakeStage("limit_data", bytes=0)
    zero.send(b"x")
    assert zero.out == [(100.0, None)]


def test_slicer_pieces_cover_the_chunk() -> None:
    """slicer: pieces reassemble to the chunk, each within average + variation, with `delay` µs between."""
    stage = FakeStage("slicer", average_size=10, size_variation=3, delay=1000)
    payload = bytes(range(200))
    stage.send(payload)
    assert stage.data == payload
    assert all(0 < len(d) <= 13 for _t, d in stage.out if d)
    assert stage.out[1][0] - stage.out[0][0] == pytest.approx(0.001)


@pytest.mark.parametrize(("average", "variation"), [(1, 0), (1, 5), (3, 3), (10, 100), (2, 1)])
def test_slice_bounds_never_empty_pieces(average: int, variation: int) -> None:
    """Where Go panics (variation >= average) the cuts stay strictly increasing and cover the whole chunk."""
    rng = random.Random(0)
    cuts = slice_bounds(5000, average, variation, rng.randrange)
    assert cuts[0] == 0
    assert cuts[-1] == 5000
    assert all(b > a for a, b in itertools.pairwise(cuts))


def test_corrupt_offset_across_chunks() -> None:
    """corrupt offset 6 counts the link's stream: the 3rd byte of the second 4-byte chunk flips one bit."""
    stage = FakeStage("corrupt", offset=6)
    stage.send(b"\x00" * 4)
    stage.send(b"\x00" * 4)
    data = stage.data
    assert [i for i, b in enumerate(data) if b] == [6]
    assert bin(data[6]).count("1") == 1


def test_corrupt_probability_rate() -> None:
    """probability 0.05 flips about 5% of 200 KB."""
    stage = FakeStage("corrupt", probability=0.05)
    for _ in range(50):
        stage.send(b"\x00" * 4000)
    flipped = sum(1 for b in stage.data if b)
    assert 9000 < flipped < 11000


def test_slow_open_delays_first_chunk_only() -> None:
    """slow_open 250: the first chunk leaves 250 ms after it was read; later ones at once."""
    stage = FakeStage("slow_open", delay=250)
    stage.send(b"1")
    stage.send(b"2")
    assert stage.out == [(100.25, b"1"), (100.25, b"2")]


def test_packet_loss_rate_and_bursts() -> None:
    """packet_loss 0.2: about 20% dropped; a correlation of 0.6 makes drops come in longer runs."""

    def runs(correlation: float) -> tuple[float, float]:
        stage = FakeStage("packet_loss", seed=5, loss_rate=0.2, correlation=correlation)
        kept = []
        for _ in range(20000):
            before = len(stage.out)
            stage.send(b"x")
            kept.append(len(stage.out) > before)
        lost = [not k for k in kept]
        bursts = sum(1 for a, b in zip([False, *lost], lost, strict=False) if b and not a)
        return sum(lost) / len(lost), sum(lost) / max(bursts, 1)

    rate, mean_burst = runs(0.0)
    assert 0.18 < rate < 0.22
    assert mean_burst < 1.4
    _rate, correlated_burst = runs(0.6)
    assert correlated_burst > 2.0


def test_attribute_validation_names_the_field() -> None:
    """A negative or out-of-range attribute is refused with its name and the allowed range."""
    with pytest.raises(BodyError, match=r"rate=-5 of toxic bandwidth must be in 0..1000000000 KB/s"):
        KINDS["bandwidth"].decode(JsonObject([("rate", -5)]), {"rate": 0})
    with pytest.raises(BodyError, match=r"loss_rate=1.5 of toxic packet_loss must be in 0.0..1.0"):
        KINDS["packet_loss"].decode(JsonObject([("loss_rate", 1.5)]), KINDS["packet_loss"].defaults())
    with pytest.raises(BodyError, match="int64"):
        KINDS["latency"].decode(JsonObject([("latency", 1.5)]), {"latency": 0, "jitter": 0})


def test_decode_changes_only_given_keys() -> None:
    """Update semantics: keys absent from the body keep their values; null counts as absent."""
    current = {"latency": 100, "jitter": 5}
    assert KINDS["latency"].decode(JsonObject([("JITTER", 9), ("latency", None)]), current) == {
        "latency": 100,
        "jitter": 9,
    }


@pytest.mark.parametrize(
    ("type_name", "attrs", "data", "fires"),
    [
        ("latency", {"latency": 0}, b"x", False),
        ("latency", {"latency": 5}, b"x", True),
        ("corrupt", {"offset": 100}, b"x", False),
        ("corrupt", {"offset": 0}, b"x", True),
        ("limit_data", {"bytes": 10}, b"x", False),
        ("limit_data", {"bytes": 1}, b"x", True),
        ("packet_loss", {"loss_rate": 0.0}, b"x", False),
        ("packet_loss", {"loss_rate": 1.0}, b"x", True),
        ("slicer", {"average_size": 10}, b"x", False),
        ("slicer", {"average_size": 1}, b"xyz", True),
        ("timeout", {"timeout": 0}, b"x", True),
    ],
)
def test_fired_counts_only_real_effects(type_name: str, attrs: dict[str, Any], data: bytes, fires: bool) -> None:
    """A toxic reports that it fired only when it changed something (so faults can tell if they triggered)."""
    stage = FakeStage(type_name, **attrs)
    stage.send(data)
    assert (stage.fired_count > 0) is fires
