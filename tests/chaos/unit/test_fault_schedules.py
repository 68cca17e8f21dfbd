"""Hypothesis fault schedules: drawn from Param declarations, shrinking to the minimal defeating schedule."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from chaos import Fault, FaultContext, FaultParamError, Param
from chaos.inject import Chaos
from chaos.schedules import FaultSchedule, ScheduledFault, fault_schedules, param_strategy
from chaos.trials import Trial


class Reset(Fault):
    name = "demo.reset"
    params = (Param("after_bytes", int, 1024, "bytes before the reset", minimum=0, maximum=4096),)

    @contextlib.contextmanager
    def _armed(self) -> Iterator[Fault]:
        self.triggered = True
        yield self

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        return []


class Stall(Reset):
    name = "demo.stall"
    params = (Param("mode", str, "read", "where", choices=("read", "write")), Param("seconds", float, 1.0, minimum=0))


def fragile_install(schedule: FaultSchedule, steps: int = 4) -> bool:
    """A deliberately fragile target: it survives anything except a write stall after a reset at an earlier
    step, or a reset within the first 100 bytes of the last step."""
    reset_seen_at: int | None = None
    for step in range(steps):
        for fault in schedule.at(step):
            if fault.name == "demo.reset":
                if step == steps - 1 and fault.params["after_bytes"] < 100:
                    return False
                reset_seen_at = step if reset_seen_at is None else reset_seen_at
            elif fault.params["mode"] == "write" and reset_seen_at is not None and reset_seen_at < step:
                return False
    return True


def test_failing_property_shrinks_to_minimal_schedule() -> None:
    """Hypothesis finds a schedule defeating the fragile target and shrinks it to the smallest one."""
    strategy = fault_schedules([Reset, Stall], max_faults=4, max_step=3)
    minimal = find(strategy, lambda schedule: not fragile_install(schedule), settings=settings(database=None))
    assert minimal == FaultSchedule(
        (
            ScheduledFault("demo.reset", {"after_bytes": 0}, step=0),
            ScheduledFault("demo.stall", {"mode": "write", "seconds": 0.0}, step=1),
        )
    ) or minimal == FaultSchedule((ScheduledFault("demo.reset", {"after_bytes": 0}, step=3),))


@given(schedule=fault_schedules([Reset, Stall], max_faults=3, max_step=2))
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
def test_schedules_respect_declarations(schedule: FaultSchedule, tmp_path: pathlib.Path) -> None:
    """Every drawn schedule has 1..3 faults within their declared bounds, ordered by step, and arms cleanly."""
    assert 1 <= len(schedule) <= 3
    assert [fault.step for fault in schedule] == sorted(fault.step for fault in schedule)
    chaos = Chaos(
        Trial("s", 0, 1),
        workdir=tmp_path,
        make_fault=lambda name, params: {"demo.reset": Reset, "demo.stall": Stall}[name](**params),
    )
    for step in range(3):
        with contextlib.ExitStack() as stack:
            for fault in schedule.at(step):
                assert 0 <= fault.params.get("after_bytes", 0) <= 4096
                stack.enter_context(chaos.inject(fault.name, **fault.params))
    assert len(chaos.trial.faults) == len(schedule)
    assert all(isinstance(entry["name"], str) for entry in schedule.describe())


def test_overrides_and_required_params() -> None:
    """Param overrides replace drawn values; a required param without bounds needs an override."""
    needs = Param("host", str)
    with pytest.raises(FaultParamError, match=r"demo.x.host is required and has no bounds to draw from"):
        param_strategy("demo.x", needs)
    strategy = fault_schedules([Reset], params={"demo.reset": {"after_bytes": st.just(7)}}, max_faults=1)
    assert find(strategy, lambda schedule: True).faults[0].params == {"after_bytes": 7}
    with pytest.raises(FaultParamError, match=r"is not a parameter of demo\.reset"):
        fault_schedules([Reset], params={"demo.reset": {"nope": st.just(1)}})
    with pytest.raises(FaultParamError, match="needs at least one fault"):
        fault_schedules([])
