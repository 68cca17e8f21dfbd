"""Toxic types beyond Toxiproxy 2.12, for installs: corruption in transit, a slow first byte, bursty loss."""

from __future__ import annotations

import math

from chaos.proxy.toxics import Chunk, Field, Stage, ToxicKind

__all__ = ["BEYOND_KINDS"]


class _Corrupt(ToxicKind):
    type_name = "corrupt"
    beyond = True
    summary = "flips one bit in bytes chosen at a probability, or in the byte at `offset`"
    fields = (
        Field("probability", float, 0.0, 0.0, 1.0, doc="chance that each byte gets one bit flipped"),
        Field("offset", int, -1, -1, doc="flip one bit of the byte at this offset of the link's stream; -1: off"),
    )

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None or not chunk.data:
            stage.forward(chunk)
            return
        start = int(stage.state.get("position", 0))
        end = start + len(chunk.data)
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
            data = bytearray(chunk.data)
            for index in flips:
                data[index] ^= 1 << stage.randrange(0, 8)
            chunk = Chunk(bytes(data), chunk.ts)
            stage.fired()
        stage.forward(chunk)

    @staticmethod
    def _gap(stage: Stage, probability: float) -> int:
        if probability >= 1.0:
            return 0
        return int(math.log(1.0 - stage.random()) / math.log(1.0 - probability))


class _SlowOpen(ToxicKind):
    type_name = "slow_open"
    beyond = True
    summary = "delays the first chunk of the link by `delay` ms (Toxiproxy #123, PR #536)"
    fields = (Field("delay", int, doc="time in milliseconds the first data waits"),)

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is not None and not stage.state.get("opened"):
            stage.state["opened"] = True
            stage.fired()
            stage.wait_until(chunk.ts + stage.attrs["delay"] / 1000.0)
        stage.forward(chunk)


class _PacketLoss(ToxicKind):
    type_name = "packet_loss"
    beyond = True
    summary = "drops whole chunks, in bursts (simplified Gilbert-Elliott, Toxiproxy PR #739)"
    fields = (
        Field("loss_rate", float, 0.1, 0.0, 1.0, doc="chance that a chunk is dropped"),
        Field("correlation", float, 0.0, 0.0, 1.0, doc="extra drop chance when the previous chunk was dropped"),
    )

    def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        if chunk is None:
            stage.forward(None)
            return
        chance = float(stage.attrs["loss_rate"])
        if stage.state.get("dropped"):
            chance += float(stage.attrs["correlation"])
        dropped = stage.random() < chance
        stage.state["dropped"] = dropped
        if dropped:
            stage.fired()
        else:
            stage.forward(chunk)


BEYOND_KINDS: tuple[ToxicKind, ...] = (_Corrupt(), _SlowOpen(), _PacketLoss())
"""The toxic types this proxy adds to Toxiproxy's (old clients simply never ask for them)."""
