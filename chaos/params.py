"""Typed, validated fault parameters: :class:`Param`, its units, and the "did you mean" helper.

A parameter that carries a quantity says its unit in its name (STYLE 14): ``after_bytes``, ``latency_ms``,
``delay_us``, ``min_s``, ``rate_kbps``. :data:`UNITS` is that vocabulary; ``Param.unit`` is read from the name's
suffix unless given explicitly, and ``resilience faults list --json`` shows it.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from chaos.errors import FaultParamError

__all__ = ["REQUIRED", "UNITS", "Param", "closest_name", "jsonable", "unit_of_name"]


class _Required(enum.Enum):
    """Sentinel type: a parameter without a default must be given."""

    REQUIRED = "REQUIRED"

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required.REQUIRED

UNITS: Final = {
    "bytes": "bytes",
    "ms": "milliseconds",
    "us": "microseconds",
    "s": "seconds",
    "kbps": "kilobytes per second (1 KB = 1000 bytes)",
}
"""Unit suffix -> what it means. A parameter named ``<quantity>_<suffix>`` is measured in that unit."""

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def closest_name(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (for "did you mean" hints), or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unit_of_name(name: str) -> str:
    """The unit suffix of a parameter name (``"latency_ms"`` -> ``"ms"``), or ``""`` when it has none."""
    suffix = name.rpartition("_")[2]
    return suffix if "_" in name and suffix in UNITS else ""


@dataclass(frozen=True, slots=True)
class Param:
    """One typed, validated parameter of a fault.

    ``type`` is ``int``, ``float``, ``str``, ``bool`` or ``tuple``; ``default`` is :data:`REQUIRED` when the
    caller must give it. ``minimum``/``maximum`` bound numbers, ``choices`` restricts the allowed values.
    ``unit`` defaults to the unit suffix of ``name`` (see :data:`UNITS`).

    >>> Param("after_bytes", int, 0, "bytes before the reset", minimum=0).validate("network.reset_peer", "64")
    64
    >>> Param("after_bytes", int).unit
    'bytes'
    """

    name: str
    type: type
    default: Any = REQUIRED
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.unit:
            object.__setattr__(self, "unit", unit_of_name(self.name))

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is REQUIRED

    def _fail(self, fault_name: str, value: object, must: str, fix: str) -> FaultParamError:
        message = f"{fault_name}.{self.name}={value!r} must be {must}; fix: {fix}"
        return FaultParamError(message, fault=fault_name, field=self.name, value=value)

    def _coerce(self, fault_name: str, value: object) -> Any:
        kind = self.type
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
                return value.strip().lower() in _TRUE_WORDS
            raise self._fail(fault_name, value, "a boolean", "pass True or False")
        if kind is int:
            if isinstance(value, bool):
                raise self._fail(fault_name, value, "an integer", "pass a whole number, not a boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    return int(value.strip().replace("_", ""), 0)
            raise self._fail(fault_name, value, "an integer", "pass a whole number such as 65536")
        if kind is float:
            if isinstance(value, bool):
                raise self._fail(fault_name, value, "a number", "pass a number, not a boolean")
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    return float(value.strip())
            raise self._fail(fault_name, value, "a number", "pass a number such as 0.5")
        if kind is str:
            if isinstance(value, str):
                return value
            if isinstance(value, pathlib.PurePath):
                return str(value)
            raise self._fail(fault_name, value, "a string", "pass text")
        if kind is tuple:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list | tuple | set | frozenset):
                return tuple(value)
            raise self._fail(fault_name, value, "a sequence", "pass a list or a comma-separated string")
        if isinstance(value, kind):
            return value
        raise self._fail(fault_name, value, f"of type {kind.__name__}", f"pass a {kind.__name__}")

    def validate(self, fault_name: str, value: object) -> Any:
        """Coerce ``value`` to this parameter's type and check its bounds; raise FaultParamError otherwise."""
        coerced = self._coerce(fault_name, value)
        if self.choices is not None and coerced not in self.choices:
            allowed = ", ".join(repr(choice) for choice in self.choices)
            hint = closest_name(str(coerced), [str(choice) for choice in self.choices])
            fix = f"use {hint!r}" if hint else f"use one of {allowed}"
            raise self._fail(fault_name, value, f"one of {allowed}", fix)
        if self.minimum is not None and coerced < self.minimum:
            raise self._fail(fault_name, value, f">= {self.minimum:g}", f"pass at least {self.minimum:g}")
        if self.maximum is not None and coerced > self.maximum:
            raise self._fail(fault_name, value, f"<= {self.maximum:g}", f"pass at most {self.maximum:g}")
        return coerced

    def describe(self) -> str:
        """One line for ``resilience faults list``: ``after_bytes: int = 0 (>= 0) bytes before the reset``."""
        default = "required" if self.required else f"= {self.default!r}"
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        if self.choices is not None:
            bounds.append("one of " + "|".join(str(choice) for choice in self.choices))
        limits = f" ({', '.join(bounds)})" if bounds else ""
        return f"{self.name}: {self.type.__name__} {default}{limits} {self.doc}".rstrip()

    def to_json(self) -> dict[str, Any]:
        """The parameter as data, for ``resilience faults list --json``.

        Keys: ``name``, ``type`` (``int``, ``float``, ``str``, ``bool``, ``tuple``), ``default`` (None when
        required), ``required``, ``minimum``, ``maximum``, ``choices`` (lists or None), ``unit`` (``""``: none)
        and ``doc``.
        """
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": None if self.required else jsonable(self.default),
            "required": self.required,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": None if self.choices is None else [jsonable(choice) for choice in self.choices],
            "unit": self.unit,
            "doc": self.doc,
        }


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: tuples become lists, anything unknown its text."""
    if isinstance(value, tuple | list):
        return [jsonable(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
