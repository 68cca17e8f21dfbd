"""Toxiproxy 2.12's eight toxic types (reset_peer with the extra ``after_bytes``), as coroutines on a Stage.

Each docstring says when the type fires (``stage.fired()``): exactly when it acted on the stream.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from chaos.proxy.toxics import BYTES_MAX, MS_MAX, RATE_MAX, US_MAX, Chunk, Field, Stage, ToxicKind

__all__ = ["TOXIPROXY_KINDS", "slice_bounds"]

_IDLE_RESET_S = 0.1


def _ms(name: str, doc: str) -> Field:
    return Field(name, int, 0, 0, MS_MAX, doc, "ms")


def _bytes(name: str, doc: str, default: int = 0, minimum: int = 0) -> Field:
    return Field(name, int, default, minimum, BYTES_MAX, doc, "bytes")


class _Noop(ToxicKind):
    """Fires once per chunk it passes on (its only effect is that the data went through the toxic pipeline)."""

    type_name = "noop"
    summary = "passes data through untouched"

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None:
            stage.fired()
        await stage.forward(chunk)


class _Latency(ToxicKind):
    """Fires once per chunk it holds: its release time (read time + latency +/- jitter) is still ahead."""

    type_name = "latency"
    summary = "delays each chunk by latency +/- jitter"
    fields = (
        _ms("latency", "time in milliseconds"),
        _ms("jitter", "time in milliseconds; the delay varies uniformly by +/- jitter"),
    )

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None:
            jitter = int(stage.attrs["jitter"])
            delay_ms = stage.attrs["latency"] + (stage.randrange(-jitter, jitter) if jitter > 0 else 0)
            if delay_ms > 0:
                # The release time is anchored to when the chunk was read, so chunks pipeline instead of the
                # delay adding up per chunk; advancing the timestamp makes two latency toxics add up (PR #94).
                chunk.ts += delay_ms / 1000.0
                if chunk.ts > stage.now():
                    stage.fired()
                    await stage.wait_until(chunk.ts)
        await stage.forward(chunk)


class _Bandwidth(ToxicKind):
    """Fires once per chunk it paces (a piece had to wait for its slot), or holds (``rate`` 0)."""

    type_name = "bandwidth"
    summary = "limits the rate of a link to `rate` KB/s"
    fields = (Field("rate", int, 0, 0, RATE_MAX, "rate in KB/s (1 KB = 1000 bytes); 0 holds data forever", "KB/s"),)

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            await stage.forward(None)
            return
        rate = int(stage.attrs["rate"])
        if rate <= 0:
            # Toxiproxy's "hang" trick (#210): hold the data, keep the connection open, until the toxic changes.
            stage.fired()
            await stage.wait_until(math.inf)
            await stage.forward(chunk)
            return
        piece_bytes = rate * 100  # Toxiproxy sends big chunks as 100 ms pieces
        # Release times are scheduled on a running clock rather than slept per chunk, so wake-up overheads do
        # not drift the rate; a link idle for longer than _IDLE_RESET_S earns no credit (the schedule restarts).
        release = stage.state.get("next", 0.0)
        if stage.now() - release > _IDLE_RESET_S:
            release = stage.now()
        paced = False
        rest = chunk
        while rest.size:
            piece, rest = rest.split(piece_bytes)
            release += piece.size / (rate * 1000.0)
            if release > stage.now():
                if not paced:
                    paced = True
                    stage.fired()
                if not await stage.wait_until(release):
                    stage.state["next"] = stage.now()
                    await stage.forward(piece)
                    await stage.forward(rest)
                    return
            await stage.forward(piece)
        stage.state["next"] = release


class _SlowClose(ToxicKind):
    """Fires when it delays the end of stream (``delay`` > 0 and the stream ended)."""

    type_name = "slow_close"
    summary = "delays the close of the connection by `delay` ms"
    fields = (_ms("delay", "time in milliseconds"),)

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None and stage.attrs["delay"] > 0:
            stage.fired()
            await stage.wait_until(stage.now() + stage.attrs["delay"] / 1000.0)
        await stage.forward(chunk)


class _Timeout(ToxicKind):
    """Fires once per chunk it drops, and when it closes an idle connection (``timeout`` > 0)."""

    type_name = "timeout"
    summary = "drops all data; closes the link after `timeout` ms without data (0: never)"
    fields = (_ms("timeout", "time in milliseconds; 0 drops data and never closes"),)

    def restart(self, stage: Stage) -> None:
        timeout_ms = stage.attrs["timeout"]
        stage.state["deadline"] = stage.now() + timeout_ms / 1000.0 if timeout_ms > 0 else None

    def idle_deadline(self, stage: Stage) -> float | None:
        deadline: float | None = stage.state.get("deadline")
        return deadline

    async def on_idle(self, stage: Stage) -> None:
        stage.state["deadline"] = None
        stage.fired()
        await stage.forward(None)

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            await stage.forward(None)
            return
        if chunk.size:
            stage.fired()
        self.restart(stage)  # each chunk re-arms the timer, as Go's time.After inside the loop does


class _ResetPeer(ToxicKind):
    """Fires when it sends the reset: on the first data, or once exactly ``after_bytes`` bytes went through."""

    type_name = "reset_peer"
    summary = "resets the connection (TCP RST) on the first data, or after `after_bytes` bytes"
    fields = (
        _ms("timeout", "time in milliseconds to wait before the reset"),
        _bytes("after_bytes", "(beyond) forward exactly this many bytes, then reset; 0: reset on first data"),
    )

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None or not chunk.size:
            await stage.forward(chunk)
            return
        limit = int(stage.attrs["after_bytes"])
        if limit > 0:
            sent = int(stage.state.get("sent", 0))
            room = limit - sent
            if chunk.size < room:
                stage.state["sent"] = sent + chunk.size
                await stage.forward(chunk)
                return
            stage.state["sent"] = limit
            await stage.forward(chunk.split(room)[0])
            await stage.wait_flushed(2.0)  # an RST discards unsent bytes: let the N bytes reach the peer first
        # Toxiproxy discards the chunk that triggers the reset and its wait cannot be interrupted.
        await stage.sleep_until(stage.now() + stage.attrs["timeout"] / 1000.0)
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
    """Fires once per chunk it cuts into two or more pieces."""

    type_name = "slicer"
    summary = "slices chunks into smaller pieces, with a delay between them"
    fields = (
        Field(
            "average_size",
            int,
            0,
            0,
            1 << 30,
            "size in bytes of an average piece; 0 passes data through (Go crashes)",
            "bytes",
        ),
        Field("size_variation", int, 0, 0, 1 << 30, "how much the size of a piece varies, in bytes", "bytes"),
        Field("delay", int, 0, 0, US_MAX, "time in microseconds to wait after each piece", "us"),
    )

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        average = int(stage.attrs["average_size"])
        if chunk is None or average <= 0:
            await stage.forward(chunk)
            return
        cuts = slice_bounds(chunk.size, average, int(stage.attrs["size_variation"]), stage.randrange)
        delay_s = stage.attrs["delay"] / 1_000_000.0
        if len(cuts) > 2:
            stage.fired()
        rest = chunk
        for start, end in itertools.pairwise(cuts):
            piece, rest = rest.split(end - start)
            await stage.forward(piece)
            if not await stage.wait_until(stage.now() + delay_s):
                await stage.forward(rest)
                return


class _LimitData(ToxicKind):
    """Fires when the limit is reached and it closes the connection."""

    type_name = "limit_data"
    summary = "closes the connection once `bytes` bytes have passed"
    fields = (_bytes("bytes", "number of bytes to forward before closing"),)

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            await stage.forward(None)
            return
        limit = int(stage.attrs["bytes"])
        sent = int(stage.state.get("sent", 0))
        head = chunk.split(max(limit - sent, 0))[0]
        if head.size:
            stage.state["sent"] = sent + head.size
            await stage.forward(head)
        if stage.state.get("sent", 0) >= limit:
            stage.fired()
            await stage.forward(None)  # a graceful close: end of stream down the rest of the chain


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
