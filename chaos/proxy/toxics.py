"""Toxic types: their attributes and what each does to the chunks of one link (one direction of a connection).

A link's writer thread runs each chunk through the proxy's toxics for that direction in order. A toxic receives
a :class:`Stage` (its view of the link) and a chunk (``None`` is end of stream) and may hold it
(``stage.wait_until``), split it, drop it, pass it on (``stage.forward``) or close the link. Waits end early when
the toxic is updated or removed, so live changes reach held data at once, as in Toxiproxy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from chaos.proxy.jsonbody import BodyError, JsonObject

__all__ = ["TOXIPROXY_KINDS", "Chunk", "Field", "Stage", "Toxic", "ToxicKind", "slice_bounds"]

Number = int | float
_IDLE_RESET_S = 0.1


class Chunk:
    """Bytes read from the source in one go, with the monotonic time they were read."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Stage(Protocol):
    """What a toxic may do with the link it runs on (implemented by the link's writer)."""

    attrs: dict[str, Number]
    state: dict[str, Any]  # per link and toxic; kept across updates of the toxic (limit_data's counter)

    def now(self) -> float: ...
    def random(self) -> float: ...
    def randrange(self, start: int, stop: int) -> int: ...
    def wait_until(self, deadline: float) -> bool: ...
    def sleep_until(self, deadline: float) -> None: ...
    def forward(self, chunk: Chunk | None) -> None: ...
    def wait_flushed(self, limit_s: float) -> None: ...
    def reset(self) -> None: ...
    def fired(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute of a toxic: JSON integer (``int``) or number (``float``), its default and its range."""

    name: str
    kind: type[int] | type[float]
    default: Number = 0
    minimum: Number = 0
    maximum: Number | None = None
    doc: str = ""


class ToxicKind:
    """A toxic type. Subclasses set ``type_name``, ``fields`` and override ``handle``."""

    type_name: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    beyond: ClassVar[bool] = False  # True for types Toxiproxy 2.12 does not have
    summary: ClassVar[str] = ""

    def defaults(self) -> dict[str, Number]:
        """Attribute values of a toxic created with no attributes."""
        return {f.name: f.default for f in self.fields}

    def decode(self, body: JsonObject | None, current: dict[str, Number]) -> dict[str, Number]:
        """Attributes from ``body`` laid over ``current``; only the keys present change (Go's decode-into)."""
        values = dict(current)
        if body is None:
            return values
        for f in self.fields:
            if not body.has(f.name):
                continue
            value: Number = body.integer(f.name, 0) if f.kind is int else body.number(f.name, 0.0)
            if value < f.minimum or (f.maximum is not None and value > f.maximum):
                allowed = f">= {f.minimum}" if f.maximum is None else f"in {f.minimum}..{f.maximum}"
                raise BodyError(f"attribute {f.name}={value!r} of toxic {self.type_name} must be {allowed}")
            values[f.name] = value
        return values

    def restart(self, stage: Stage) -> None:
        """Called when the toxic starts on a link, and again after each update."""

    def idle_deadline(self, stage: Stage) -> float | None:
        """A monotonic time at which ``on_idle`` must run even if no data arrives (None: never)."""
        return None

    def on_idle(self, stage: Stage) -> None:
        """Runs at ``idle_deadline`` when no chunk came first."""

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        """Process one chunk (None is end of stream); the default passes it on untouched."""
        stage.forward(chunk)


class Toxic:
    """One toxic on one proxy. Mutable: updates replace ``attrs`` and bump ``version`` under the proxy's lock."""

    __slots__ = ("attrs", "direction", "fired", "kind", "name", "removed", "stream", "toxicity", "version")

    def __init__(self, name: str, kind: ToxicKind, stream: str, toxicity: float, attrs: dict[str, Number]) -> None:
        self.name = name
        self.kind = kind
        self.stream = stream  # as the client spelled it; Toxiproxy echoes "UPSTREAM" verbatim
        self.direction = stream.lower()
        self.toxicity = toxicity
        self.attrs = attrs
        self.version = 0
        self.removed = False
        self.fired = 0  # times the toxic acted on a link (delayed, dropped, cut, closed, reset...)

    def to_json(self) -> dict[str, Any]:
        """The toxic as Toxiproxy serialises it (attributes, name, type, stream, toxicity)."""
        toxicity: Number = int(self.toxicity) if float(self.toxicity).is_integer() else self.toxicity
        return {
            "attributes": dict(self.attrs),
            "name": self.name,
            "type": self.kind.type_name,
            "stream": self.stream,
            "toxicity": toxicity,
        }


class _Noop(ToxicKind):
    type_name = "noop"
    summary = "passes data through untouched"

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None:
            stage.fired()
        stage.forward(chunk)


class _Latency(ToxicKind):
    type_name = "latency"
    summary = "delays each chunk by latency +/- jitter"
    fields = (
        Field("latency", int, doc="time in milliseconds"),
        Field("jitter", int, doc="time in milliseconds; the delay varies uniformly by +/- jitter"),
    )

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None:
            jitter = int(stage.attrs["jitter"])
            delay_ms = stage.attrs["latency"] + (stage.randrange(-jitter, jitter) if jitter > 0 else 0)
            # The release time is anchored to when the chunk was read, so chunks pipeline instead of the delay
            # adding up per chunk; advancing the timestamp makes two latency toxics add up (Toxiproxy PR #94).
            chunk.ts += max(delay_ms, 0) / 1000.0
            if delay_ms > 0:
                stage.fired()
            stage.wait_until(chunk.ts)
        stage.forward(chunk)


class _Bandwidth(ToxicKind):
    type_name = "bandwidth"
    summary = "limits the rate of a link to `rate` KB/s"
    fields = (Field("rate", int, doc="rate in KB/s (1 KB = 1000 bytes); 0 holds data forever"),)

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            stage.forward(None)
            return
        stage.fired()
        rate = int(stage.attrs["rate"])
        if rate <= 0:
            # Toxiproxy's "hang" trick (#210): hold the data, keep the connection open, until the toxic changes.
            stage.wait_until(math.inf)
            stage.forward(chunk)
            return
        data = chunk.data
        piece_bytes = rate * 100  # Toxiproxy sends big chunks as 100 ms pieces
        # Release times are scheduled on a running clock rather than slept per chunk, so wake-up overheads do
        # not drift the rate; a link idle for longer than _IDLE_RESET_S earns no credit (the schedule restarts).
        release = stage.state.get("next", 0.0)
        if stage.now() - release > _IDLE_RESET_S:
            release = stage.now()
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + piece_bytes]
            release += len(piece) / (rate * 1000.0)
            if not stage.wait_until(release):
                stage.state["next"] = stage.now()
                stage.forward(Chunk(data[offset:], chunk.ts))
                return
            stage.forward(Chunk(piece, chunk.ts))
            offset += len(piece)
        stage.state["next"] = release


class _SlowClose(ToxicKind):
    type_name = "slow_close"
    summary = "delays the close of the connection by `delay` ms"
    fields = (Field("delay", int, doc="time in milliseconds"),)

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            stage.fired()
            stage.wait_until(stage.now() + stage.attrs["delay"] / 1000.0)
        stage.forward(chunk)


class _Timeout(ToxicKind):
    type_name = "timeout"
    summary = "drops all data; closes the link after `timeout` ms without data (0: never)"
    fields = (Field("timeout", int, doc="time in milliseconds; 0 drops data and never closes"),)

    def restart(self, stage: Stage) -> None:
        timeout_ms = stage.attrs["timeout"]
        stage.state["deadline"] = stage.now() + timeout_ms / 1000.0 if timeout_ms > 0 else None

    def idle_deadline(self, stage: Stage) -> float | None:
        deadline: float | None = stage.state.get("deadline")
        return deadline

    def on_idle(self, stage: Stage) -> None:
        stage.state["deadline"] = None
        stage.fired()
        stage.forward(None)

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            stage.forward(None)
            return
        stage.fired()
        self.restart(stage)  # each chunk re-arms the timer, as Go's time.After inside the loop does


class _ResetPeer(ToxicKind):
    type_name = "reset_peer"
    summary = "resets the connection (TCP RST) on the first data, or after `after_bytes` bytes"
    fields = (
        Field("timeout", int, doc="time in milliseconds to wait before the reset"),
        Field("after_bytes", int, doc="(beyond) forward exactly this many bytes, then reset; 0: reset on first data"),
    )

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        limit = int(stage.attrs["after_bytes"])
        if chunk is not None and limit > 0:
            sent = int(stage.state.get("sent", 0))
            room = limit - sent
            if len(chunk.data) < room:
                stage.state["sent"] = sent + len(chunk.data)
                stage.forward(chunk)
                return
            stage.state["sent"] = limit
            stage.forward(Chunk(chunk.data[:room], chunk.ts))
            stage.wait_flushed(2.0)  # an RST discards unsent bytes: let the N bytes reach the peer first
        # Toxiproxy discards the chunk that triggers the reset and its wait cannot be interrupted.
        stage.sleep_until(stage.now() + stage.attrs["timeout"] / 1000.0)
        stage.fired()
        stage.reset()


def slice_bounds(length: int, average: int, variation: int, randrange: Any) -> list[int]:
    """Cut points (including 0 and ``length``) splitting ``length`` bytes like Toxiproxy's slicer.

    A piece stays whole when ``len - average <= variation``; otherwise it is cut near its middle, moved by
    ``U[-variation, variation)``. Unlike Go, the cut always stays strictly inside the piece (no panic, #541) and
    the recursion is a loop (no stack overflow).
    """
    cuts = [0]
    stack = [(0, length)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation:
            cuts.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += randrange(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        stack.append((mid, end))
        stack.append((start, mid))
    return cuts


class _Slicer(ToxicKind):
    type_name = "slicer"
    summary = "slices chunks into smaller pieces, with a delay between them"
    fields = (
        Field("average_size", int, doc="size in bytes of an average piece; 0 passes data through (Go crashes)"),
        Field("size_variation", int, doc="how much the size of a piece varies, in bytes"),
        Field("delay", int, doc="time in microseconds to wait after each piece"),
    )

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        average = int(stage.attrs["average_size"])
        if chunk is None or average <= 0:
            stage.forward(chunk)
            return
        cuts = slice_bounds(len(chunk.data), average, int(stage.attrs["size_variation"]), stage.randrange)
        delay_s = stage.attrs["delay"] / 1_000_000.0
        if len(cuts) > 2:
            stage.fired()
        for start, end in itertools.pairwise(cuts):
            stage.forward(Chunk(chunk.data[start:end], chunk.ts))
            if not stage.wait_until(stage.now() + delay_s):
                stage.forward(Chunk(chunk.data[end:], chunk.ts))
                return


class _LimitData(ToxicKind):
    type_name = "limit_data"
    summary = "closes the connection once `bytes` bytes have passed"
    fields = (Field("bytes", int, doc="number of bytes to forward before closing"),)

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            stage.forward(None)
            return
        limit = int(stage.attrs["bytes"])
        sent = int(stage.state.get("sent", 0))
        data = chunk.data[: max(limit - sent, 0)]
        if data:
            stage.state["sent"] = sent + len(data)
            stage.forward(Chunk(data, chunk.ts))
        if stage.state.get("sent", 0) >= limit:
            stage.fired()
            stage.forward(None)  # a graceful close: end of stream down the rest of the chain


TOXIPROXY_KINDS: tuple[ToxicKind, ...] = (
    _Latency(),
    _Bandwidth(),
    _SlowClose(),
    _Timeout(),
    _ResetPeer(),
    _Slicer(),
    _LimitData(),
    _Noop(),
)
"""Toxiproxy 2.12's eight toxic types (reset_peer with the extra ``after_bytes``)."""
