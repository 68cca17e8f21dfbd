"""The runtime's fast paths keep run()'s behaviour: protect's inlined happy path, per-operation deadlines, the
strategy timing rule, and correlation ids."""

from __future__ import annotations

import errno
import random
from typing import Any

import pytest

from resilience_core import (
    AttemptEvent,
    FailureType,
    FakeClock,
    RecoveryFailed,
    RecoveryResult,
    ReliabilityConfig,
    Runtime,
)
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, RecoveryEvent


def make_runtime(**kwargs: Any) -> tuple[Runtime, FakeClock]:
    clock = FakeClock()
    config = kwargs.pop("config", ReliabilityConfig.from_mapping({}, env={}))
    return Runtime(config=config, clock=clock, rng=random.Random(3), **kwargs), clock


def test_protect_passes_keyword_arguments_to_the_function_and_recovers() -> None:
    """@rt.protect() hands call-time keywords to the function, retries a reset, and counts the recovered call."""
    rt, clock = make_runtime()
    calls: list[dict[str, Any]] = []

    @rt.protect(operation="model_download")
    def fetch(name: str, *, revision: str = "main") -> str:
        calls.append({"name": name, "revision": revision})
        if len(calls) == 1:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return f"{name}@{revision}"

    assert fetch("acme/tiny", revision="v2") == "acme/tiny@v2"
    assert calls == [{"name": "acme/tiny", "revision": "v2"}] * 2
    assert len(clock.sleeps) == 1
    assert rt.stats.to_dict()["calls"]["recovered"] == 1


def test_protect_call_time_options_still_reach_run() -> None:
    """A call-time max_attempts overrides the decorator's, as run()'s keyword would."""
    rt, _ = make_runtime()
    seen: list[int] = []

    @rt.protect(operation="model_download", max_attempts=5)
    def always_reset() -> None:
        seen.append(1)
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    with pytest.raises(RecoveryFailed):
        always_reset(max_attempts=2)  # type: ignore[call-arg]
    assert len(seen) == 2


def test_deadline_for_reads_the_operation_timeout_and_the_runtime_override() -> None:
    """Without deadline_s a call's deadline is timeouts.<operation>_seconds; with it, deadline_s everywhere."""
    config = ReliabilityConfig.from_mapping({"timeouts": {"model_download_seconds": 42}}, env={})
    rt, _ = make_runtime(config=config)
    assert (rt.deadline_for("model_download"), rt.deadline_for("model_download")) == (42.0, 42.0)
    assert rt.deadline_for("no_such_operation") is None
    fixed, _ = make_runtime(config=config, deadline_s=5.0)
    assert fixed.deadline_for("model_download") == 5.0


class Slow:
    """Takes ``seconds`` of (fake) time and succeeds."""

    name = "slow"

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def can_handle(self, ctx: ErrorContext) -> bool:
        return True

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        self.clock.advance(self.seconds)
        return RecoveryResult(True, self.name, message="waited")


class Pass:
    """Hands over without changing anything."""

    name = "pass"

    def can_handle(self, ctx: ErrorContext) -> bool:
        return True

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        return RecoveryResult(False, self.name, message="nothing to do")


def test_a_success_is_timed_and_a_hand_over_that_changed_nothing_is_not() -> None:
    """recovery_time_s: the measured time for a success; 0.0 for a hand-over that did no recovery work."""
    rt, clock = make_runtime(strategies=[])
    rt.register(Pass(), [FailureType.NETWORK_CONNECTIVITY_LOSS], priority=99)
    rt.register(Slow(clock, 1.5), [FailureType.NETWORK_CONNECTIVITY_LOSS], priority=98)
    events: list[RecoveryEvent] = []
    rt.add_hook(events.append)
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return "ok"

    assert rt.run(step, operation="model_download") == "ok"
    times = {e.result.strategy: e.result.recovery_time_s for e in events if isinstance(e, AttemptEvent)}
    assert times == {"pass": 0.0, "slow": 1.5}


def test_correlation_ids_are_unique_and_name_the_operation() -> None:
    """Each failed call gets its own correlation id, prefixed by its operation."""
    rt, _ = make_runtime()
    events: list[RecoveryEvent] = []
    rt.add_hook(events.append)
    for _ in range(50):
        state = {"n": 0}

        def step(state: dict[str, int] = state) -> int:
            state["n"] += 1
            if state["n"] == 1:
                raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
            return state["n"]

        rt.run(step, operation="model_download")
    ids = [e.correlation_id for e in events if e.kind == "on_recovered"]  # type: ignore[union-attr]
    assert len(ids) == 50
    assert len(set(ids)) == 50
    assert all(i.startswith("model_download-") for i in ids)
