"""The fault contract: the :class:`Fault` base class, its capabilities, its context and the registry.

A fault arms something real (a toxic on a proxy, a full filesystem, a corrupted file) when its ``inject``
block is entered and reverts it when the block is left, then proves with ``verify_reverted`` that nothing
is left behind. Write the arming once, as a generator: everything before ``yield`` arms, the ``finally`` after
it reverts; :meth:`Fault.inject` turns it into the context manager. Built-in fault families (``chaos.faults.*``)
and third-party ones register the same way, through the ``chaos_add_faults(registry)`` hook::

    from chaos import Fault, FaultContext, Param, hookimpl

    class SlowStart(Fault):
        name = "demo.slow_start"
        summary = "Sleep before the step starts."
        params = (Param("delay_s", float, 0.1, "how long to wait", minimum=0.0),)

        def arm(self, ctx):
            self.triggered = True
            try:
                yield
            finally:
                pass  # revert here

        def verify_reverted(self, ctx):
            return []

    @hookimpl
    def chaos_add_faults(registry):
        registry.register(SlowStart)

Capabilities are class attributes the harness reads instead of guessing from the fault's name:

- ``needs_proxy``: the fault acts on a proxy; the harness puts a :class:`~chaos.proxy_backend.ProxyBackend` in
  ``ctx.proxy`` (and fails the arming with FaultArmError when the trial has none).
- ``checks_disk``: after the trial, watched roots must give their free disk space back (a ballast left behind).
- ``wraps_command``: the fault reaches a subprocess target only through :meth:`Fault.wrap_command`, which it
  overrides; the harness applies it to the commands it starts (``Chaos.wrap_command``, ``Chaos.run``), in
  ascending ``command_order`` (an int: :data:`ORDER_NAMESPACE` for a namespace wrapper, :data:`ORDER_ENV` for a
  fault that only adds environment), so a later wrapper wraps the earlier one's command line.
- ``targets_process``: the fault acts on the started process (a kill schedule); ``Chaos.run`` puts its
  :class:`subprocess.Popen` in ``ctx.target["popen"]`` while it runs.

``fired_now()`` tells whether the fault has fired so far while it is still armed; ``Chaos.run`` reads it to
list the faults that fired during a command. It returns ``triggered`` unless a fault that learns it only at
revert overrides it.
"""

from __future__ import annotations

import abc
import contextlib
import random
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from chaos.errors import ChaosError, FaultArmError, FaultParamError, UnknownFaultError, UnsupportedFault
from chaos.params import REQUIRED, Param, closest_name, jsonable
from chaos.proxy_backend import ProxyBackend, as_proxy_backend

if TYPE_CHECKING:
    import pathlib

    from chaos.proxy.server import EmbeddedToxiproxy

__all__ = [
    "CAPABILITIES",
    "ORDER_ENV",
    "ORDER_NAMESPACE",
    "REQUIRED",
    "Fault",
    "FaultContext",
    "FaultRegistry",
    "Param",
    "closest_name",
]

CAPABILITIES = ("needs_proxy", "checks_disk", "wraps_command", "targets_process")
"""The capability attributes of :class:`Fault`, each a ``ClassVar[bool]`` defaulting to False."""

ORDER_NAMESPACE = 10
"""``command_order`` of a fault whose ``wrap_command`` runs the command in a namespace (``disk.full``): first."""
ORDER_ENV = 20
"""``command_order`` of a fault whose ``wrap_command`` only adds environment (``vram.exhaust``'s shim)."""

# Raised while arming, these already say what to change; anything else becomes a FaultArmError naming the fault.
_USAGE_OR_ARM_ERRORS = (FaultParamError, UnsupportedFault, FaultArmError)


def _no_failures() -> int:
    return 0


@dataclass(slots=True)
class FaultContext:
    """What a fault may touch during one trial.

    ``rng`` is seeded per trial and per fault, so a replay draws the same offsets and instants. ``proxy`` is the
    trial's proxy backend (set for faults that declare ``needs_proxy``). ``target`` holds facts the scenario
    provides: ``{"proxy_name": ..., "paths": [...], "watch_roots": [...], "pid": ..., "kind": "inprocess" |
    "subprocess"}``. ``failures_seen()`` counts the failures the target reported so far (through
    ``chaos.runtime_hook``; 0 when it reports none). ``note`` records an event into the trial's journal entry.
    """

    seed: int
    rng: random.Random
    workdir: pathlib.Path
    proxy: ProxyBackend | None = None
    target: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    failures_seen: Callable[[], int] = _no_failures

    @classmethod
    def for_seed(
        cls,
        seed: int,
        workdir: pathlib.Path,
        *,
        proxy: EmbeddedToxiproxy | ProxyBackend | None = None,
        toxiproxy_url: str | None = None,
        target: dict[str, Any] | None = None,
        failures_seen: Callable[[], int] = _no_failures,
    ) -> FaultContext:
        """A context whose ``rng`` is ``random.Random(seed)``; handy in tests and for plugin authors.

        ``proxy`` may be the embedded server itself; ``toxiproxy_url`` (which wins) drives a server over REST.
        """
        source = toxiproxy_url or proxy
        return cls(
            seed=seed,
            rng=random.Random(seed),
            workdir=workdir,
            proxy=None if source is None else as_proxy_backend(source),
            target=dict(target or {}),
            failures_seen=failures_seen,
        )

    def note(self, event: str, **data: Any) -> None:
        """Record ``event`` with ``data`` (JSON-friendly values) into the trial's journal entry."""
        self.events.append({"event": event, **data})


class Fault(abc.ABC):
    """Base class of every fault: set ``name``, ``summary``, ``params`` and the capabilities; write ``arm``.

    ``Fault(**params)`` validates every parameter (an unknown one raises FaultParamError naming the closest
    known name) and stores the coerced values in ``self.values``; a fault that resolves a value while arming
    (its proxy or path from the scenario's target) writes it back there, so the journal holds what was used.
    ``arm(ctx)`` is a generator: arm, ``yield``, revert in a ``finally``. Set ``self.triggered = True`` when the
    fault actually fired and ``self.backend`` to the mechanism used. ``verify_reverted(ctx)`` returns residue
    descriptions, ``[]`` when clean; the harness fails a trial with residue.

    An OSError or ChaosError raised while arming that is not already a FaultParamError, UnsupportedFault or
    FaultArmError (a missing file, a proxy that refused) reaches the caller as FaultArmError naming the fault: the
    trial could not be run as asked (``indeterminate``), which is not a failure to recover.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    needs_proxy: ClassVar[bool] = False
    checks_disk: ClassVar[bool] = False
    wraps_command: ClassVar[bool] = False
    targets_process: ClassVar[bool] = False
    command_order: ClassVar[int] = 50

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
        self.armed: bool = False
        self.backend: str = ""

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Arm the fault, ``yield`` while the block runs, revert in a ``finally`` (write it as a generator)."""
        raise NotImplementedError(f"{type(self).__qualname__} defines neither arm() nor inject()")

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        """Arm the fault for a ``with`` block; leaving the block reverts it (also on exception)."""
        return _Injection(self, ctx)

    @abc.abstractmethod
    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue descriptions left after revert; ``[]`` means clean."""

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Adapt a subprocess target's command line and environment (faults declaring ``wraps_command``)."""
        return argv, env

    def fired_now(self) -> bool:
        """Whether the fault has fired so far, asked while it is armed (default: ``triggered``)."""
        return self.triggered

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

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        """The capability attributes (:data:`CAPABILITIES`) and their values."""
        return {capability: bool(getattr(cls, capability)) for capability in CAPABILITIES}

    def describe(self) -> dict[str, Any]:
        """The journal entry of this fault: name, params (as used), triggered, backend."""
        return {
            "name": self.name,
            "params": {key: jsonable(value) for key, value in self.values.items()},
            "triggered": self.triggered,
            "backend": self.backend,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.values.items())
        return f"<Fault {self.name}({args}) triggered={self.triggered}>"


class _Injection(contextlib.AbstractContextManager[Fault]):
    """The context manager :meth:`Fault.inject` returns: runs ``arm`` up to its ``yield``, and on past it."""

    def __init__(self, fault: Fault, ctx: FaultContext) -> None:
        self._fault = fault
        self._armed = contextlib.contextmanager(fault.arm)(ctx)

    def __enter__(self) -> Fault:
        fault = self._fault
        try:
            self._armed.__enter__()
        except _USAGE_OR_ARM_ERRORS:
            raise
        except (OSError, ChaosError) as error:
            message = f"{fault.name} could not be armed: {type(error).__name__}: {error}"
            raise FaultArmError(message, fault=fault.name) from error
        fault.armed = True
        return fault

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> bool | None:
        return self._armed.__exit__(exc_type, exc, traceback)


def _check_contract(fault_cls: type[Fault]) -> str | None:
    """What is wrong with ``fault_cls`` as a fault class, or None."""
    if not fault_cls.name or "." not in fault_cls.name:
        return f"{fault_cls.__qualname__}.name={fault_cls.name!r} must be 'family.fault'; fix: set name on the class"
    if fault_cls.arm is Fault.arm and fault_cls.inject is Fault.inject:
        return f"{fault_cls.name} defines neither arm() nor inject(); fix: write arm(self, ctx) as a generator"
    for capability in CAPABILITIES:
        if not isinstance(getattr(fault_cls, capability), bool):
            return f"{fault_cls.name}.{capability} must be True or False; fix: declare it as a bool class attribute"
    order = fault_cls.command_order
    if isinstance(order, bool) or not isinstance(order, int):
        return f"{fault_cls.name}.command_order={order!r} must be an int; fix: e.g. command_order = ORDER_ENV"
    overrides = fault_cls.wrap_command is not Fault.wrap_command
    if overrides != fault_cls.wraps_command:
        if overrides:
            return f"{fault_cls.name} overrides wrap_command but declares wraps_command=False; fix: set it True"
        return f"{fault_cls.name} declares wraps_command=True without a wrap_command(); fix: implement it"
    return None


class FaultRegistry:
    """Fault classes by name; filled through the ``chaos_add_faults(registry)`` hook.

    The first class registered under a name is kept and a later one of the same name is ignored (see
    :meth:`shadowed`). The plugin manager calls ``chaos_add_faults`` in precedence order: conftest.py files and
    plugins registered later first, the built-in families (``trylast``) last; so a plugin's fault replaces a
    built-in one of the same name, and never the reverse.
    """

    def __init__(self) -> None:
        self._faults: dict[str, type[Fault]] = {}
        self._shadowed: dict[str, list[type[Fault]]] = {}

    def register(self, fault_cls: type[Fault]) -> type[Fault]:
        """Add ``fault_cls`` under its ``name`` and return it (usable as a decorator).

        Raises FaultParamError when the class breaks the contract (not a Fault, a name without a family, no
        ``arm``, a capability that does not match what the class implements).
        """
        if not (isinstance(fault_cls, type) and issubclass(fault_cls, Fault)):
            raise FaultParamError(f"register({fault_cls!r}): must be a Fault subclass; fix: subclass chaos.Fault")
        problem = _check_contract(fault_cls)
        if problem is not None:
            raise FaultParamError(problem, fault=fault_cls.name or fault_cls.__qualname__, field="class")
        existing = self._faults.get(fault_cls.name)
        if existing is None:
            self._faults[fault_cls.name] = fault_cls
        elif existing is not fault_cls and fault_cls not in self._shadowed.setdefault(fault_cls.name, []):
            self._shadowed[fault_cls.name].append(fault_cls)
        return fault_cls

    def get(self, name: str) -> type[Fault]:
        """The class registered as ``name``; unknown -> UnknownFaultError suggesting the closest name."""
        try:
            return self._faults[name]
        except KeyError:
            hint = closest_name(name, list(self._faults))
            fix = f"did you mean {hint!r}?" if hint else "run `resilience faults list` to see the known faults"
            raise UnknownFaultError(f"fault {name!r} is not registered; fix: {fix}", fault=name) from None

    def shadowed(self, name: str) -> list[type[Fault]]:
        """Classes registered under ``name`` after the one in use (e.g. the built-in a plugin replaced)."""
        return list(self._shadowed.get(name, ()))

    def clear(self) -> None:
        """Forget every registration (the plugin manager refills the registry when its plugins change)."""
        self._faults.clear()
        self._shadowed.clear()

    def names(self) -> list[str]:
        """Registered fault names, sorted."""
        return sorted(self._faults)

    def __contains__(self, name: object) -> bool:
        return name in self._faults

    def __iter__(self) -> Iterator[type[Fault]]:
        return iter([self._faults[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self._faults)
