"""What a toxic type is: its attributes (:class:`Field`), the chunks it gets, and its view of the link.

The types themselves are in chaos.proxy.standard (Toxiproxy's eight) and chaos.proxy.beyond (ours); the
registry by name is ``chaos.proxy.kinds.KINDS``.

A link runs each chunk through the proxy's toxics for that direction in order. A toxic's ``handle`` is a
coroutine that receives a :class:`Stage` (its view of the link) and a chunk (``None`` is end of stream) and may
hold it (``await stage.wait_until(t)``), split it (``chunk.split(n)``), drop it (not forward it), pass it on
(``await stage.forward(chunk)``) or reset the connection. Waits end early when the toxic is updated or
removed, so live changes reach held data at once, as in Toxiproxy. A toxic must forward a chunk's pieces in
stream order before ``handle`` returns; bytes it does not forward are dropped.

Each toxic calls ``stage.fired()`` exactly when it acted on the stream, and before the effect can reach a peer
(before it forwards, waits, resets or closes): the rule of each type is in its docstring and in docs/proxy.md
("When a toxic fires").
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, Protocol

from chaos.proxy.jsonbody import BodyError, JsonObject

__all__ = ["BYTES_MAX", "MS_MAX", "RATE_MAX", "US_MAX", "Chunk", "Field", "Number", "Stage", "Toxic", "ToxicKind"]

Number = int | float
MS_MAX = 86_400_000  # one day: longer waits are a hang, and bandwidth rate 0 or timeout 0 say that
US_MAX = MS_MAX * 1000
BYTES_MAX = 1 << 50  # 1 PiB: beyond any install, and far from overflowing anything downstream
RATE_MAX = 10**9  # KB/s: 1 TB/s


class Chunk:
    """Bytes of one link's stream read in one go (or a piece of such a read), and the time they were read.

    ``data`` is None while the bytes are still in the link's kernel pipe; a toxic that needs them calls
    ``stage.content(chunk)``. ``offset`` is the position of the first byte in the link's stream (-1 for bytes a
    toxic made up).
    """

    __slots__ = ("data", "offset", "size", "ts")

    def __init__(self, data: bytes | None, ts: float, *, size: int = 0, offset: int = -1) -> None:
        self.data = data
        self.size = size if data is None else len(data)
        self.ts = ts
        self.offset = offset

    def __len__(self) -> int:
        return self.size

    def split(self, at: int) -> tuple[Chunk, Chunk]:
        """The first ``at`` bytes and the rest, as two chunks read at the same time."""
        at = min(max(at, 0), self.size)
        rest_offset = self.offset + at if self.offset >= 0 else -1
        if self.data is None:
            head = Chunk(None, self.ts, size=at, offset=self.offset)
            return head, Chunk(None, self.ts, size=self.size - at, offset=rest_offset)
        head = Chunk(self.data[:at], self.ts, offset=self.offset)
        return head, Chunk(self.data[at:], self.ts, offset=rest_offset)


class Stage(Protocol):
    """What a toxic may do with the link it runs on (implemented by the link's pipeline)."""

    attrs: dict[str, Number]
    state: dict[str, Any]  # per link and toxic; kept across updates of the toxic (limit_data's counter)

    def now(self) -> float: ...
    def random(self) -> float: ...
    def randrange(self, start: int, stop: int) -> int: ...
    def wait_until(self, deadline: float) -> Awaitable[bool]: ...
    def sleep_until(self, deadline: float) -> Awaitable[None]: ...
    def forward(self, chunk: Chunk | None) -> Awaitable[None]: ...
    def wait_flushed(self, limit_s: float) -> Awaitable[None]: ...
    def content(self, chunk: Chunk) -> bytes: ...
    def reset(self) -> NoReturn: ...
    def fired(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute of a toxic: JSON integer (``int``) or number (``float``), its default, range and unit.

    A value outside ``minimum..maximum`` is refused with a 400 naming the attribute (``maximum`` None: no
    bound). ``unit`` is what the number counts (``ms``, ``us``, ``bytes``, ``KB/s``; empty for a ratio).
    """

    name: str
    kind: type[int] | type[float]
    default: Number = 0
    minimum: Number = 0
    maximum: Number | None = None
    doc: str = ""
    unit: str = ""


class ToxicKind:
    """A toxic type. Subclasses set ``type_name``, ``fields`` and override ``handle``."""

    type_name: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    beyond: ClassVar[bool] = False  # True for types Toxiproxy 2.12 does not have
    summary: ClassVar[str] = ""
    chunk_bytes: ClassVar[int | None] = None  # the largest chunk the type wants (None: whatever one read gives)

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
                unit = f" {f.unit}" if f.unit else ""
                raise BodyError(f"attribute {f.name}={value!r} of toxic {self.type_name} must be {allowed}{unit}")
            values[f.name] = value
        return values

    def restart(self, stage: Stage) -> None:
        """Called when the toxic starts on a link, and again after each update."""

    def idle_deadline(self, stage: Stage) -> float | None:
        """A monotonic time at which ``on_idle`` must run even if no data arrives (None: never)."""
        return None

    async def on_idle(self, stage: Stage) -> None:
        """Runs at ``idle_deadline`` when no chunk came first."""

    async def handle(self, stage: Stage, chunk: Chunk | None) -> None:
        """Process one chunk (None is end of stream); the default passes it on untouched."""
        await stage.forward(chunk)


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
        self.fired = 0  # times the toxic acted on a link; only the proxy's loop thread writes it

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
