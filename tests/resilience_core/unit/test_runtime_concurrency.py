"""One Runtime shared by 8 threads and by 100 asyncio tasks keeps per-call state apart and totals exact."""

from __future__ import annotations

import asyncio
import errno
import random
import threading
from typing import Any

from resilience_core import AttemptEvent, FakeClock, RecoveredEvent, RecoveryEvent, ReliabilityConfig, Runtime

CALLS_PER_THREAD = 25


def make_runtime(events: list[RecoveryEvent]) -> Runtime:
    config = ReliabilityConfig.from_mapping(
        {"retry": {"max_retries": 10, "budget_capacity": 100000}, "recovery": {"alternative_sources": []}}, env={}
    )
    lock = threading.Lock()

    def hook(event: RecoveryEvent) -> None:
        with lock:
            events.append(event)

    return Runtime(config=config, clock=FakeClock(), hooks=[hook], rng=random.Random(3), deadline_s=1e9)


def test_eight_threads_keep_params_apart_and_totals_exact() -> None:
    """Each call's degraded batch_size depends only on its own failures; counters add up exactly."""
    events: list[RecoveryEvent] = []
    rt = make_runtime(events)
    results: dict[tuple[int, int], tuple[int, list[int]]] = {}
    errors: list[BaseException] = []

    def worker(thread: int) -> None:
        for call in range(CALLS_PER_THREAD):
            failures = (thread + call) % 4  # 0..3 OOMs before success
            seen: list[int] = []

            def step(batch_size: int, thread: int = thread, failures: int = failures, seen: list[int] = seen) -> int:
                seen.append(batch_size)
                if len(seen) <= failures:
                    raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
                return thread

            try:
                value = rt.run(step, operation="generate", params={"batch_size": 64})
            except BaseException as exc:
                errors.append(exc)
                return
            results[(thread, call)] = (value, seen)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8 * CALLS_PER_THREAD
    expected_failures = 0
    expected_failed_calls = 0
    for (thread, call), (value, seen) in results.items():
        failures = (thread + call) % 4
        assert value == thread
        assert seen == [64 >> i for i in range(failures + 1)]
        expected_failures += failures
        expected_failed_calls += failures > 0
    stats = rt.stats.to_dict()
    assert stats["failures"] == expected_failures
    assert stats["calls"]["failed"] == expected_failed_calls
    assert stats["calls"]["recovered"] == expected_failed_calls
    assert stats["strategies"]["degrade"]["attempts"] == expected_failures
    recovered = [e for e in events if isinstance(e, RecoveredEvent)]
    assert len(recovered) == expected_failed_calls
    assert len({e.correlation_id for e in recovered}) == expected_failed_calls


def test_hundred_asyncio_tasks_switch_sources_independently() -> None:
    """100 tasks on one loop: each switches its own endpoint; changes never leak between tasks."""
    events: list[RecoveryEvent] = []
    rt = make_runtime(events)
    from resilience_core.recovery.strategies import SourceFallbackStrategy

    mirrors = [f"http://127.0.0.1:{9000 + i}" for i in range(4)]
    rt.register(SourceFallbackStrategy(mirrors, switch_after_failures=1))

    async def one(task: int) -> tuple[int, list[str]]:
        bad = task % 4  # how many mirrors fail for this task
        seen: list[str] = []

        async def fetch(endpoint: str) -> int:
            seen.append(endpoint)
            await asyncio.sleep(0)
            if mirrors.index(endpoint) < bad:
                raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
            return task

        value = await rt.arun(fetch, operation="model_download", params={"endpoint": mirrors[0]})
        return value, seen

    async def main() -> list[tuple[int, list[str]]]:
        return await asyncio.gather(*(one(i) for i in range(100)))

    outcomes = asyncio.run(main())
    for task, (value, seen) in enumerate(outcomes):
        assert value == task
        assert seen == mirrors[: task % 4 + 1]
    switched = sum(task % 4 for task in range(100))
    source_results = [e.result for e in events if isinstance(e, AttemptEvent) and e.result.strategy == "source"]
    assert sum(1 for r in source_results if r.success) == switched
    stats: dict[str, Any] = rt.stats.to_dict()
    assert stats["calls"]["recovered"] == sum(1 for t in range(100) if t % 4)
    assert stats["failures"] == switched
