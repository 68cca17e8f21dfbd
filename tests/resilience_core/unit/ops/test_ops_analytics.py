"""get_system_health() and the analytics report over a real Runtime's events (StoryCore's shape)."""

from __future__ import annotations

import contextlib
import errno

from resilience_core.analytics import ErrorAnalytics, get_system_health
from resilience_core.config import ReliabilityConfig
from resilience_core.errors import RecoveryFailed
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime


def _runtime(clock: FakeClock, **retry: object) -> Runtime:
    config = ReliabilityConfig.from_mapping({"retry": {"max_retries": 2, **retry}}, env={})
    return Runtime(config=config, clock=clock)


def _flaky(failures: list[BaseException]) -> object:
    def step() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    return step


def test_report_groups_errors_by_category_severity_and_type() -> None:
    """Failures land in their category and severity; the most common exception types are ranked."""
    clock = FakeClock()
    rt = _runtime(clock)
    analytics = ErrorAnalytics.attach(rt)
    resets = [ConnectionResetError(104, "reset"), ConnectionResetError(104, "reset")]
    rt.run(_flaky(resets), operation="model_download")  # type: ignore[arg-type]
    rt.run(_flaky([TimeoutError("timed out")]), operation="model_download")  # type: ignore[arg-type]
    report = analytics.report()
    assert report["total_errors"] == 3
    assert report["errors_by_category"] == {"network": 3}
    assert sum(report["errors_by_severity"].values()) == 3
    assert report["most_common_types"][0] == {"error_type": "ConnectionResetError", "count": 2}
    assert report["recovery_rate"] == 1.0


def test_recent_critical_errors_are_listed_newest_first() -> None:
    """A critical failure (an I/O error of the disk) appears in recent_critical_errors, newest first."""
    clock = FakeClock()
    rt = _runtime(clock)
    analytics = ErrorAnalytics.attach(rt)

    def broken_disk(where: str) -> None:
        raise OSError(errno.EIO, f"Input/output error: {where}")

    for where in ("first", "second"):
        with contextlib.suppress(RecoveryFailed):
            rt.run(broken_disk, where, operation="model_validation")
    report = analytics.report()
    assert report["errors_by_severity"]["critical"] == report["total_errors"] >= 2
    assert report["errors_by_category"] == {"system": report["total_errors"]}
    recent = report["recent_critical_errors"]
    assert "second" in recent[0]["message"]
    assert "first" in recent[-1]["message"]
    assert recent[0]["failure_type"] == "system_resource_error"
    assert report["recovery_rate"] == 0.0


def test_error_rate_per_minute_uses_the_runtime_clock_window() -> None:
    """Errors older than the window no longer count; a young collector still measures over a minute."""
    clock = FakeClock()
    rt = _runtime(clock, base_delay_seconds=0.0)
    analytics = ErrorAnalytics.attach(rt, window_s=120.0)
    rt.run(_flaky([ConnectionResetError(104, "reset")] * 2), operation="model_download")  # type: ignore[arg-type]
    assert analytics.error_rate_per_minute() == 2.0  # two errors within the first minute
    clock.advance(300.0)
    assert analytics.error_rate_per_minute() == 0.0


def test_system_health_degrades_with_open_breakers_and_give_ups() -> None:
    """Full when all is well; each open breaker and a give-up take one level off; breaker states are listed."""
    clock = FakeClock()
    rt = _runtime(clock)
    analytics = ErrorAnalytics.attach(rt)
    health = get_system_health(rt, analytics)
    assert health.degradation_level == "full"
    assert health.healthy
    for _ in range(rt.config.recovery.breaker_failure_threshold):
        rt.breakers.record_failure("hub")

    def refused() -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    with contextlib.suppress(RecoveryFailed):
        rt.run(refused, operation="model_download")
    health = get_system_health(rt, analytics)
    assert health.circuit_breakers == {"hub": {"state": "open"}}
    assert health.degradation_level == "medium", health.reasons
    data = health.to_dict()
    assert set(data) >= {"degradation_level", "error_rate", "recovery_rate", "circuit_breakers"}
    assert data["recovery_rate"] == 0.0


def test_system_health_without_analytics_uses_the_stats_only() -> None:
    """Without a collector the error rate is unknown (None) and lifetime give-ups still count."""
    rt = _runtime(FakeClock())
    assert get_system_health(rt).error_rate is None
    assert get_system_health(rt).recovery_rate is None
