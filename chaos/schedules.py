"""Fault schedules: Hypothesis strategies that draw them; a failing property shrinks to the minimal schedule.

A schedule is a list of faults, each with drawn parameters and the step of the target before which it is
armed. Hypothesis shrinks toward fewer faults, earlier steps, the first fault name listed and parameters at
their minimum, so the counterexample it reports is the smallest schedule that defeats recovery::

    from hypothesis import given
    from chaos.schedules import fault_schedules

    @given(fault_schedules([ResetPeer, DiskFull], max_faults=3, max_step=5))
    def test_install_survives(schedule):
        for step in range(6):
            with contextlib.ExitStack() as stack:
                for fault in schedule.at(step):
                    stack.enter_context(chaos.inject(fault.name, **fault.params))
                run_step(step)

Parameters are drawn from each fault's :class:`~chaos.fault.Param` declarations (bounds, choices); pass
``params={"network.reset_peer": {"after_bytes": st.integers(0, 4096)}}`` to override or to supply strategies
for required parameters without bounds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from chaos.errors import FaultParamError
from chaos.fault import Fault, FaultRegistry, Param

__all__ = ["FaultSchedule", "ScheduledFault", "fault_schedules", "param_strategy"]

_OPEN_INT_SPAN = 1 << 16
_OPEN_FLOAT_SPAN = 10.0


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """One fault of a schedule: its name, its parameters, and the step before which it is armed."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    step: int = 0

    def describe(self) -> dict[str, Any]:
        """JSON-ready form for notes and journals."""
        return {"name": self.name, "params": dict(self.params), "step": self.step}


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """A drawn sequence of faults, ordered by step (then by the order drawn)."""

    faults: tuple[ScheduledFault, ...] = ()

    def at(self, step: int) -> list[ScheduledFault]:
        """The faults to arm before ``step``."""
        return [fault for fault in self.faults if fault.step == step]

    def __iter__(self) -> Iterator[ScheduledFault]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready form for notes and journals."""
        return [fault.describe() for fault in self.faults]


def param_strategy(fault_name: str, param: Param) -> st.SearchStrategy[Any]:
    """A strategy for one parameter from its declaration; values shrink toward the minimum / first choice."""
    if param.choices is not None:
        return st.sampled_from(param.choices)
    if param.type is bool:
        return st.booleans()
    if param.type is int:
        low = int(param.minimum) if param.minimum is not None else 0
        default = param.default if isinstance(param.default, int) else 0
        high = int(param.maximum) if param.maximum is not None else max(low + _OPEN_INT_SPAN, 2 * default)
        return st.integers(min_value=low, max_value=high)
    if param.type is float:
        low_f = float(param.minimum) if param.minimum is not None else 0.0
        default_f = float(param.default) if isinstance(param.default, int | float) else 0.0
        high_f = float(param.maximum) if param.maximum is not None else max(low_f + _OPEN_FLOAT_SPAN, 2 * default_f)
        return st.floats(min_value=low_f, max_value=high_f, allow_nan=False, allow_infinity=False)
    if not param.required:
        return st.just(param.default)
    message = (
        f"{fault_name}.{param.name} is required and has no bounds to draw from; "
        f"fix: pass params={{{fault_name!r}: {{{param.name!r}: <strategy>}}}}"
    )
    raise FaultParamError(message, fault=fault_name, field=param.name)


def _fault_strategy(
    fault_cls: type[Fault], overrides: Mapping[str, st.SearchStrategy[Any]], max_step: int
) -> st.SearchStrategy[ScheduledFault]:
    unknown = set(overrides) - {param.name for param in fault_cls.params}
    if unknown:
        name = sorted(unknown)[0]
        raise FaultParamError(
            f"params[{fault_cls.name!r}][{name!r}] is not a parameter of {fault_cls.name}; fix: remove it",
            fault=fault_cls.name,
            field=name,
        )
    drawn = {
        param.name: overrides[param.name] if param.name in overrides else param_strategy(fault_cls.name, param)
        for param in fault_cls.params
    }
    return st.builds(
        ScheduledFault,
        name=st.just(fault_cls.name),
        params=st.fixed_dictionaries(drawn),
        step=st.integers(min_value=0, max_value=max_step),
    )


def fault_schedules(
    faults: Sequence[type[Fault] | str],
    *,
    params: Mapping[str, Mapping[str, st.SearchStrategy[Any]]] | None = None,
    min_faults: int = 1,
    max_faults: int = 3,
    max_step: int = 0,
    registry: FaultRegistry | None = None,
) -> st.SearchStrategy[FaultSchedule]:
    """Draw schedules of ``min_faults``..``max_faults`` faults picked from ``faults`` (classes or names).

    Names are looked up in ``registry`` (default: the built-in and installed plugins). Each fault is armed
    before a step in ``0..max_step``.
    """
    if not faults:
        raise FaultParamError("fault_schedules(faults=[]) needs at least one fault; fix: pass fault classes or names")
    if not 0 <= min_faults <= max_faults:
        raise FaultParamError(
            f"fault_schedules(min_faults={min_faults}, max_faults={max_faults}) must satisfy 0 <= min <= max; "
            "fix: e.g. min_faults=1, max_faults=3"
        )
    classes: list[type[Fault]] = []
    for fault in faults:
        if isinstance(fault, str):
            if registry is None:
                from chaos.manager import ChaosManager

                registry = ChaosManager.build().registry
            classes.append(registry.get(fault))
        else:
            classes.append(fault)
    overrides = params or {}
    one_fault = st.one_of([_fault_strategy(cls, overrides.get(cls.name, {}), max_step) for cls in classes])
    return st.lists(one_fault, min_size=min_faults, max_size=max_faults).map(
        lambda drawn: FaultSchedule(tuple(sorted(drawn, key=lambda fault: fault.step)))
    )
