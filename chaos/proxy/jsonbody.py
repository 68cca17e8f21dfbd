"""Request bodies decoded the way Go's ``encoding/json`` decodes them into Toxiproxy's structs.

Go's rules differ from ``json.loads`` in ways clients rely on: keys match case-insensitively, unknown keys are
ignored, only the first JSON value of the body is read, ``null`` leaves a field untouched, an empty body is the
error ``EOF``, and a number with a fraction or exponent does not fit an integer field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

__all__ = ["MISSING", "BodyError", "JsonObject", "decode_first"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


class BodyError(ValueError):
    """The body is not JSON, or a field has the wrong type; the message names the field."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class JsonObject:
    """A decoded JSON object that keeps its key order and looks keys up like Go does (case-insensitively)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def raw(self, field: str) -> Any:
        """The value of the last key equal to ``field`` ignoring case, or MISSING (JSON null counts as absent)."""
        wanted = field.casefold()
        found: Any = MISSING
        for key, value in self.pairs:
            if key.casefold() == wanted:
                found = value
        return MISSING if found is None else found

    def has(self, field: str) -> bool:
        """Whether the field is present with a non-null value."""
        return self.raw(field) is not MISSING

    def string(self, field: str, default: str) -> str:
        """A string field; null or absent gives ``default``."""
        value = self.raw(field)
        if value is MISSING:
            return default
        if not isinstance(value, str):
            raise BodyError(f"json: cannot unmarshal {_kind(value)} into field {field} of type string")
        return value

    def boolean(self, field: str, default: bool) -> bool:
        """A boolean field; null or absent gives ``default``."""
        value = self.raw(field)
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            raise BodyError(f"json: cannot unmarshal {_kind(value)} into field {field} of type bool")
        return value

    def integer(self, field: str, default: int) -> int:
        """An int64 field: an integer literal in range; ``1.5`` or ``1e3`` is an error, as in Go."""
        value = self.raw(field)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            shown = _number_text(value) if isinstance(value, float) else _kind(value)
            raise BodyError(f"json: cannot unmarshal {shown} into field {field} of type int64")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise BodyError(f"json: cannot unmarshal number {value} into field {field} of type int64")
        return value

    def number(self, field: str, default: float) -> float:
        """A float32 field: any JSON number within float32 range."""
        value = self.raw(field)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BodyError(f"json: cannot unmarshal {_kind(value)} into field {field} of type float32")
        if abs(float(value)) > _FLOAT32_MAX:
            raise BodyError(f"json: cannot unmarshal number {value} into field {field} of type float32")
        return float(value)

    def obj(self, field: str) -> JsonObject | None:
        """A nested object field, or None when absent or null."""
        value = self.raw(field)
        if value is MISSING:
            return None
        if not isinstance(value, JsonObject):
            raise BodyError(f"json: cannot unmarshal {_kind(value)} into field {field} of type object")
        return value

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.pairs)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_text(value: float) -> str:
    return f"number {value!r}"


def _reject_constant(name: str) -> Any:
    raise BodyError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(object_pairs_hook=JsonObject, parse_constant=_reject_constant)


def decode_first(body: bytes) -> Any:
    """Decode the first JSON value in ``body`` and ignore whatever follows it, like ``json.Decoder.Decode``.

    >>> decode_first(b'{"Name": "a"} trailing').string("name", "")
    'a'
    """
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise BodyError("EOF")
    try:
        value, _end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as error:
        if error.pos >= len(text):
            raise BodyError("unexpected EOF") from None
        raise BodyError(f"invalid JSON at offset {error.pos}: {error.msg}") from None
    except RecursionError:
        raise BodyError("exceeded max depth") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise BodyError("number out of range")
    return value
