"""RecoveryStats: counts per failure type and strategy, percentiles, to_dict and Prometheus text; thread-safe."""

from __future__ import annotations

import threading

from resilience_core import RecoveryStats
from resilience_core.recovery.stats import percentile
from resilience_core.recovery.taxonomy import FailureType


def test_percentile_nearest_rank() -> None:
    """p50 and p95 use the nearest-rank method; no samples gives None."""
    assert percentile([], 50) is None
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile([3.0], 95) == 3.0


def test_counts_rates_and_time_to_recover() -> None:
    """Per type: attempts, successes, rate and p50/p95 of time to recover; per strategy likewise."""
    stats = RecoveryStats()
    for ttr in (1.0, 2.0, 3.0):
        stats.record_call(FailureType.NETWORK_TIMEOUT, recovered=True, time_to_recover_s=ttr, degraded=False)
    stats.record_call(FailureType.NETWORK_TIMEOUT, recovered=False, time_to_recover_s=0.0, degraded=False)
    stats.record_call(FailureType.VRAM_EXHAUSTION, recovered=True, time_to_recover_s=0.5, degraded=True)
    stats.record_strategy("retry", success=True, duration_s=0.1)
    stats.record_strategy("retry", success=False, duration_s=0.0)
    data = stats.to_dict()
    timeout = data["failure_types"]["network_timeout"]
    assert (timeout["attempts"], timeout["successes"], timeout["rate"]) == (4, 3, 0.75)
    assert timeout["time_to_recover_s"] == {"p50": 2.0, "p95": 3.0}
    assert data["strategies"]["retry"]["rate"] == 0.5
    assert data["calls"] == {
        "failed": 5,
        "recovered": 4,
        "recovered_degraded": 1,
        "gave_up": 1,
        "rate": 0.8,
        "time_to_recover_s": {"p50": 1.0, "p95": 3.0},
    }
    assert stats.failure_type("network_timeout").attempts == 4
    stats.reset()
    assert stats.to_dict()["calls"]["failed"] == 0


def test_prometheus_exposition() -> None:
    """The text exposition has HELP/TYPE lines, labelled counters and quantiles."""
    stats = RecoveryStats()
    stats.record_failure(FailureType.HTTP_ERROR)
    stats.record_call(FailureType.HTTP_ERROR, recovered=True, time_to_recover_s=1.5, degraded=False)
    stats.record_strategy("retry", success=True, duration_s=0.0)
    text = stats.to_prometheus()
    assert "# TYPE resilience_calls_total counter" in text
    assert 'resilience_calls_total{result="recovered"} 1' in text
    assert 'resilience_failure_types_attempts_total{failure_type="http_error"} 1' in text
    assert 'resilience_strategies_successes_total{strategy="retry"} 1' in text
    assert 'resilience_time_to_recover_seconds{failure_type="http_error",quantile="0.5"} 1.5' in text
    assert 'resilience_failed_attempts_total{failure_type="http_error"} 1' in text
    assert stats.to_dict()["failures_by_type"] == {"http_error": 1}
    assert text.endswith("\n")


def test_concurrent_recording_is_exact() -> None:
    """Eight threads recording 1000 results each lose nothing."""
    stats = RecoveryStats()

    def work() -> None:
        for i in range(1000):
            stats.record_strategy("retry", success=i % 2 == 0, duration_s=0.0)
            stats.record_call(FailureType.UNKNOWN, recovered=True, time_to_recover_s=0.0, degraded=False)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.strategy("retry").attempts == 8000
    assert stats.strategy("retry").successes == 4000
    assert stats.to_dict()["calls"]["recovered"] == 8000
