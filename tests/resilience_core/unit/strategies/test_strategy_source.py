"""SourceFallbackStrategy: switches the call's endpoint after repeated failures, in configured order."""

from __future__ import annotations

import errno

from resilience_core import FakeClock, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.source import SourceFallbackStrategy

MIRRORS = ["http://a.test", "http://b.test/", "http://c.test"]
DOWN = categorize(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))


def attempt(params: dict[str, object], max_attempts: int = 10) -> Attempt:
    return Attempt(operation="op", params=params, max_attempts=max_attempts, clock=FakeClock(), started_s=0.0)


def test_switches_after_the_configured_number_of_failures() -> None:
    """With switch_after_failures=2 the first failure stays, the second switches and records the change."""
    strategy = SourceFallbackStrategy(MIRRORS, switch_after_failures=2)
    a = attempt({"endpoint": "http://a.test"})
    first = strategy.recover(DOWN, a)
    assert not first.success
    assert a.params["endpoint"] == "http://a.test"
    second = strategy.recover(DOWN, a)
    assert second.success
    assert a.params["endpoint"] == "http://b.test"
    assert a.take_changes() == {"endpoint": ["http://a.test", "http://b.test"]}


def test_order_wraps_around_from_the_current_mirror() -> None:
    """Starting on the second mirror it goes to the third, then the first, then gives up."""
    strategy = SourceFallbackStrategy(MIRRORS, switch_after_failures=1)
    a = attempt({"endpoint": "http://b.test"})
    assert strategy.recover(DOWN, a).success
    assert a.params["endpoint"] == "http://c.test"
    assert strategy.recover(DOWN, a).success
    assert a.params["endpoint"] == "http://a.test"
    last = strategy.recover(DOWN, a)
    assert not last.success
    assert "every source was tried" in last.message


def test_a_call_without_an_endpoint_param_is_left_alone() -> None:
    """No endpoint parameter: nothing to switch, the next strategy takes over."""
    result = SourceFallbackStrategy(MIRRORS).recover(DOWN, attempt({"batch_size": 1}))
    assert not result.success


def test_custom_param_name_and_non_retryable_failures() -> None:
    """param='index_url' switches that key; a non-retryable failure is not handled."""
    strategy = SourceFallbackStrategy(["http://x", "http://y"], param="index_url", switch_after_failures=1)
    a = attempt({"index_url": "http://x"})
    assert strategy.recover(DOWN, a).success
    assert a.params["index_url"] == "http://y"
    assert not strategy.can_handle(categorize(PermissionError(errno.EACCES, "denied")))
    assert not SourceFallbackStrategy([]).can_handle(DOWN)


def test_state_is_per_call() -> None:
    """Two calls (two Attempt objects) count their failures separately."""
    strategy = SourceFallbackStrategy(MIRRORS, switch_after_failures=2)
    a, b = attempt({"endpoint": "http://a.test"}), attempt({"endpoint": "http://a.test"})
    strategy.recover(DOWN, a)
    assert not strategy.recover(DOWN, b).success
    assert strategy.recover(DOWN, a).success


def test_an_endpoint_outside_the_list_is_never_abandoned() -> None:
    """A local hub the caller chose is not swapped for a public mirror it did not list."""
    strategy = SourceFallbackStrategy(MIRRORS, switch_after_failures=1)
    a = attempt({"endpoint": "http://127.0.0.1:8765"})
    result = strategy.recover(DOWN, a)
    assert not result.success
    assert a.params["endpoint"] == "http://127.0.0.1:8765"
