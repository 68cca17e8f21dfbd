"""Toxic types beyond Toxiproxy 2.12, for installs: corruption in transit, a slow first byte, bursty loss."""

from __future__ import annotations

import math

from chaos.proxy.toxics import BYTES_MAX, MS_MAX, Chunk, Field, Stage, ToxicKind

__all__ = ["BEYOND_KINDS"]

_NO_FLIP_BYTES = float(1 << 62)  # a gap this long means no flip in any stream this proxy will carry


class _Corrupt(ToxicKind):
    """Fires once per chunk in which it flips at least one bit."""

    type_name = "corrupt"
    beyond = True
    summary = "flips one bit in bytes chosen at a probability, or in the byte at `offset`"
    fields = (
        Field("probability", float, 0.0, 0.0, 1.0, "chance that each byte gets one bit flipped"),
        Field(
            "offset",
            int,
            -1,
            -1,
            BYTES_MAX,
            "flip one bit of the byte at this offset of the link's stream; -1: off",
            "bytes",
        ),
    )

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None or not chunk.size:
            await stage.forward(chunk)
            return
        start = int(stage.state.get("position", 0))
        end = start + chunk.size
        stage.state["position"] = end
        flips: list[int] = []
        offset = int(stage.attrs["offset"])
        if start <= offset < end:
            flips.append(offset - start)
        probability = float(stage.attrs["probability"])
        if probability > 0:
            # Skip ahead geometrically instead of rolling once per byte.
            next_flip = stage.state.get("next_flip")
            if next_flip is None or stage.state.get("p") != probability:
                next_flip = start + self._gap(stage, probability)
            while next_flip < end:
                flips.append(next_flip - start)
                next_flip += 1 + self._gap(stage, probability)
            stage.state["next_flip"] = next_flip
            stage.state["p"] = probability
        if flips:
            data = bytearray(stage.content(chunk))  # only a chunk with a flip leaves the kernel pipe
            for index in flips:
                data[index] ^= 1 << stage.randrange(0, 8)
            chunk = Chunk(bytes(data), chunk.ts)
            stage.fired()
        await stage.forward(chunk)

    @staticmethod
    def _gap(stage: Stage, probability: float) -> int:
        if probability >= 1.0:
            return 0
        # log1p keeps a tiny probability from rounding to log(1.0) == 0; the clamp keeps int() finite.
        gap = math.log1p(-stage.random()) / math.log1p(-probability)
        return int(min(gap, _NO_FLIP_BYTES))


class _SlowOpen(ToxicKind):
    """Fires when it holds the first chunk of a link (``delay`` > 0 and the delay is not already over)."""

    type_name = "slow_open"
    beyond = True
    summary = "delays the first chunk of the link by `delay` ms (Toxiproxy #123, PR #536)"
    fields = (Field("delay", int, 0, 0, MS_MAX, "time in milliseconds the first data waits", "ms"),)

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None and not stage.state.get("opened"):
            stage.state["opened"] = True
            release = chunk.ts + stage.attrs["delay"] / 1000.0
            if release > stage.now():
                stage.fired()
                await stage.wait_until(release)
        await stage.forward(chunk)


class _PacketLoss(ToxicKind):
    """Fires once per chunk it drops."""

    type_name = "packet_loss"
    beyond = True
    chunk_bytes = 32 * 1024  # "a chunk" is what Toxiproxy reads at once: at most 32 KiB
    summary = "drops whole chunks, in bursts (simplified Gilbert-Elliott, Toxiproxy PR #739)"
    fields = (
        Field("loss_rate", float, 0.1, 0.0, 1.0, "chance that a chunk is dropped"),
        Field("correlation", float, 0.0, 0.0, 1.0, "extra drop chance when the previous chunk was dropped"),
    )

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            await stage.forward(None)
            return
        chance = float(stage.attrs["loss_rate"])
        if stage.state.get("dropped"):
            chance += float(stage.attrs["correlation"])
        dropped = stage.random() < chance
        stage.state["dropped"] = dropped
        if dropped:
            stage.fired()
        else:
            await stage.forward(chunk)


BEYOND_KINDS: tuple[ToxicKind, ...] = (_Corrupt(), _SlowOpen(), _PacketLoss())
"""The toxic types this proxy adds to Toxiproxy's (old clients simply never ask for them)."""
