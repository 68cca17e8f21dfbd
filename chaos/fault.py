"""The fault contract: typed parameters, the :class:`Fault` base class, its context and the registry.

A fault arms something real (a toxic on a proxy, a full filesystem, a corrupted file) when its ``inject``
block is entered and reverts it when the block is left, then proves with ``verify_reverted`` that nothing
is left behind. Built-in faults (``chaos.faults.*``) and third-party ones register the same way, through the
``chaos_add_faults(registry)`` hook::

    from chaos import Fault, FaultContext, Param, hookimpl

    class SlowStart(Fault):
        name = "demo.slow_start"
        summary = "Sleep before the step starts."
        params = (Param("delay_s", float, 0.1, "how long to wait", minimum=0.0),)

        @contextlib.contextmanager
        def inject(self, ctx):
            self.triggered = True
            yield self

        def verify_reverted(self, ctx):
            return []

    @hookimpl
    def chaos_add_faults(registry):
        registry.register(SlowStart)
"""

from __future__ import annotations

import abc
import contextlib
import difflib
import enum
import pathlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from chaos.errors import FaultParamError, UnknownFaultError

__all__ = ["REQUIRED", "Fault", "FaultContext", "FaultRegistry", "Param", "closest_name"]


class _Required(enum.Enum):
    """Sentinel type: a parameter without a default must be given."""

    REQUIRED = "REQUIRED"

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required.REQUIRED

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def closest_name(name: str, known: Iterator[str] | list[str] | tuple[str, ...]) -> str | None:
    """The known name closest to ``name`` (for "did you mean" hints), or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class Param:
    """One typed, validated parameter of a fault.

    ``type`` is ``int``, ``float``, ``str``, ``bool`` or ``tuple``; ``default`` is :data:`REQUIRED` when the
    caller must give it. ``minimum``/``maximum`` bound numbers, ``choices`` restricts the allowed values.

    >>> Param("after_bytes", int, 0, "bytes before the reset", minimum=0).validate("network.reset_peer", "64")
    64
    """

    name: str
    type: type
    default: Any = REQUIRED
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

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


@dataclass(slots=True)
class FaultContext:
    """What a fault may touch during one trial.

    ``rng`` is seeded per trial and per fault, so a replay draws the same offsets and instants. ``target`` holds
    facts the scenario provides: ``{"proxy_name": ..., "paths": [...], "watch_roots": [...], "pid": ...,
    "kind": "inprocess" | "subprocess"}``. ``note`` records an event into the trial's journal entry.
    """

    seed: int
    rng: random.Random
    workdir: pathlib.Path
    proxy: object | None = None
    toxiproxy_url: str | None = None
    target: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_seed(cls, seed: int, workdir: pathlib.Path, **kwargs: Any) -> FaultContext:
        """A context whose ``rng`` is ``random.Random(seed)``; handy in tests and for plugin authors."""
        return cls(seed=seed, rng=random.Random(seed), workdir=workdir, **kwargs)

    def note(self, event: str, **data: Any) -> None:
        """Record ``event`` with ``data`` (JSON-friendly values) into the trial's journal entry."""
        self.events.append({"event": event, **data})


class Fault(abc.ABC):
    """Base class of every fault: subclass it, set ``name``, ``summary`` and ``params``, implement two methods.

    ``Fault(**params)`` validates every parameter (an unknown one raises FaultParamError naming the closest
    known name) and stores the coerced values in ``self.values``. ``inject(ctx)`` returns a context manager that
    arms the fault and reverts it on exit, also on exception; set ``self.triggered = True`` when the fault
    actually fired and ``self.backend`` to the mechanism used. ``verify_reverted(ctx)`` returns residue
    descriptions, ``[]`` when clean; the harness fails a trial with residue.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        known = {param.name: param for param in self.params}
        for given, value in params.items():
            if given not in known:
                hint = closest_name(given, list(known))
                fix = f"did you mean {hint!r}?" if hint else f"known parameters: {', '.join(known) or 'none'}"
                message = f"{self.name}.{given}={value!r} is not a parameter of {self.name}; fix: {fix}"
                raise FaultParamError(message, fault=self.name, field=given, value=value)
        values: dict[str, Any] = {}
        for param in self.params:
            if param.name in params:
                values[param.name] = param.validate(self.name, params[param.name])
            elif param.required:
                about = f" ({param.doc})" if param.doc else ""
                message = f"{self.name}.{param.name} is required; fix: pass {param.name}=...{about}"
                raise FaultParamError(message, fault=self.name, field=param.name, value=None)
            else:
                values[param.name] = param.default
        self.values: dict[str, Any] = values
        self.triggered: bool = False
        self.backend: str = ""

    @abc.abstractmethod
    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        """Arm the fault; leaving the returned block reverts it (also on exception)."""

    @abc.abstractmethod
    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue descriptions left after revert; ``[]`` means clean."""

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Adapt a subprocess target's command line and environment; the default leaves both unchanged."""
        return argv, env

    @classmethod
    def availability(cls) -> str | None:
        """None when the fault can run on this machine, else the reason it cannot (used as a skip reason)."""
        return None

    @classmethod
    def backends(cls) -> dict[str, str | None]:
        """Each backend this fault can use, mapped to None when it works here or the reason it does not.

        Shown by ``resilience faults list``; the default (``{}``) means the fault has a single mechanism.
        """
        return {}

    def describe(self) -> dict[str, Any]:
        """The journal entry of this fault: name, params, triggered, backend."""
        return {
            "name": self.name,
            "params": {key: _jsonable(value) for key, value in self.values.items()},
            "triggered": self.triggered,
            "backend": self.backend,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.values.items())
        return f"<Fault {self.name}({args}) triggered={self.triggered}>"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _is_builtin(fault_cls: type[Fault]) -> bool:
    return fault_cls.__module__.startswith("chaos.faults.")


class FaultRegistry:
    """Fault classes by name; filled through the ``chaos_add_faults(registry)`` hook."""

    def __init__(self) -> None:
        self._faults: dict[str, type[Fault]] = {}

    def register(self, fault_cls: type[Fault]) -> type[Fault]:
        """Add ``fault_cls`` under its ``name`` and return it (usable as a decorator).

        On a name clash a plugin's fault replaces a built-in one (``chaos.faults.*``) and never the reverse;
        between two plugins the later registration wins.
        """
        if not (isinstance(fault_cls, type) and issubclass(fault_cls, Fault)):
            raise FaultParamError(f"register({fault_cls!r}): must be a Fault subclass; fix: subclass chaos.Fault")
        if not fault_cls.name or "." not in fault_cls.name:
            message = (
                f"{fault_cls.__qualname__}.name={fault_cls.name!r} must be 'family.fault'; "
                "fix: set name = 'family.fault' on the class"
            )
            raise FaultParamError(message, fault=fault_cls.__qualname__, field="name", value=fault_cls.name)
        existing = self._faults.get(fault_cls.name)
        if existing is not None and _is_builtin(fault_cls) and not _is_builtin(existing):
            return fault_cls
        self._faults[fault_cls.name] = fault_cls
        return fault_cls

    def get(self, name: str) -> type[Fault]:
        """The class registered as ``name``; unknown -> FaultParamError suggesting the closest name."""
        try:
            return self._faults[name]
        except KeyError:
            hint = closest_name(name, list(self._faults))
            fix = f"did you mean {hint!r}?" if hint else "run `resilience faults list` to see the known faults"
            raise UnknownFaultError(f"fault {name!r} is not registered; fix: {fix}", fault=name) from None

    def names(self) -> list[str]:
        """Registered fault names, sorted."""
        return sorted(self._faults)

    def __contains__(self, name: object) -> bool:
        return name in self._faults

    def __iter__(self) -> Iterator[type[Fault]]:
        return iter([self._faults[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self._faults)
