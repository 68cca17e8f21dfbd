"""RepairStrategy: re-fetches damaged files through the caller's callback, a bounded number of times."""

from __future__ import annotations

import errno
import random

from resilience_core import FakeClock, IntegrityError, ReliabilityConfig, Runtime, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.repair import RepairStrategy
from resilience_core.recovery.taxonomy import ErrorContext


def attempt() -> Attempt:
    return Attempt(operation="verify", params={}, max_attempts=5, clock=FakeClock(), started_s=0.0)


BAD = categorize(IntegrityError("sha256 mismatch for model.bin", entry="model.bin"))


def test_callback_gets_the_context_and_success_means_retry() -> None:
    """A True callback makes the result a success naming the repaired entry."""
    seen: list[ErrorContext] = []
    strategy = RepairStrategy(lambda ctx: seen.append(ctx) is None)
    result = strategy.recover(BAD, attempt())
    assert result.success
    assert seen == [BAD]
    assert result.system_changes == {"repaired": "model.bin"}


def test_false_callback_is_a_failed_repair() -> None:
    """A callback returning False hands over to the next strategy."""
    assert not RepairStrategy(lambda ctx: False).recover(BAD, attempt()).success


def test_each_file_is_repaired_at_most_max_repairs_times_per_call() -> None:
    """The third repair of the same file in one call is refused."""
    strategy = RepairStrategy(lambda ctx: True, max_repairs=2)
    a = attempt()
    assert strategy.recover(BAD, a).success
    assert strategy.recover(BAD, a).success
    assert not strategy.recover(BAD, a).success


def test_without_callback_nothing_is_handled() -> None:
    """The built-in default has no callback and claims nothing."""
    assert not RepairStrategy().can_handle(BAD)
    assert RepairStrategy(lambda ctx: True).can_handle(categorize(OSError(errno.EINVAL, "Invalid argument")))


def test_runtime_repairs_then_succeeds() -> None:
    """Through the runtime: verification fails once, the callback re-fetches, the next attempt passes."""
    state = {"good": False}

    def verify() -> str:
        if not state["good"]:
            raise IntegrityError("sha256 mismatch", entry="model.bin")
        return "verified"

    rt = Runtime(config=ReliabilityConfig.from_mapping({}, env={}), clock=FakeClock(), rng=random.Random(0))
    rt.register(RepairStrategy(lambda ctx: state.update(good=True) is None))
    assert rt.run(verify) == "verified"
    assert rt.stats.strategy("repair").successes == 1
