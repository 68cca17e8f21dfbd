"""The runtime against tenacity, in the same run (DESIGN §7, issue 13).

- happy path: ``Runtime.run`` and ``@Runtime.protect`` overhead over a bare call, against tenacity's ``@retry``;
- one recovered ``ConnectionResetError`` (fail once, succeed on the retry), against tenacity retrying the same
  step with the same stop/wait and a no-op sleep; our runtime gets a clock whose sleep is a no-op too;
- ``categorize()`` per exception over a mix of real ones, and of a 3-deep ``__cause__`` chain.

Times are process CPU time (best of 7), so a busy CI machine inflates them less than wall-clock time would; the
ratios compare figures measured seconds apart in the same process.
"""

from __future__ import annotations

import errno
import functools
import json
import time
from collections.abc import Callable

from benchmarks._report import figure


def _per_call_s(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    # CPU time of this process, best of several runs: other jobs on a shared CI machine do not count.
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - started) / number)
    return best


class _NoSleepClock:
    """A real monotonic clock whose waits return at once: what tenacity gets with ``sleep=lambda s: None``."""

    monotonic = staticmethod(time.monotonic)

    def sleep(self, seconds: float) -> None:
        return None

    async def asleep(self, seconds: float) -> None:
        return None


def _flaky_step() -> Callable[[], int]:
    """A step that raises ConnectionResetError on every other call: each call of the runtime recovers once."""
    calls = [0]

    def step() -> int:
        calls[0] += 1
        if calls[0] % 2:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return calls[0]

    return step


def _chain() -> BaseException:
    """huggingface_hub's LocalEntryNotFoundError <- httpx2.ConnectError <- ConnectionRefusedError, as raised."""
    import httpx2
    import huggingface_hub.errors as hf

    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    connect = httpx2.ConnectError("[Errno 111] Connection refused")
    connect.__cause__ = refused
    outer = hf.LocalEntryNotFoundError(
        "An error happened while trying to locate the file on the Hub and we cannot find the requested files in "
        "the local cache. Please check your connection and try again or make sure your Internet connection is on."
    )
    outer.__cause__ = connect
    return outer


def _paired_s(ours: Callable[[], object], theirs: Callable[[], object], number: int) -> tuple[float, float]:
    """Per-call CPU time of both, best of 7 rounds taken in turn, so a burst of load elsewhere hits both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(7):
        for index, fn in enumerate((ours, theirs)):
            started = time.process_time()
            for _ in range(number):
                fn()
            best[index] = min(best[index], (time.process_time() - started) / number)
    return best[0], best[1]


def _exceptions() -> list[BaseException]:
    import httpx2
    import huggingface_hub.errors as hf
    import requests
    import safetensors

    lenf = hf.LocalEntryNotFoundError("cannot find the requested files")
    lenf.__cause__ = httpx2.ConnectError("[Errno 111] Connection refused")
    response = httpx2.Response(503, request=httpx2.Request("GET", "http://127.0.0.1:1/x"))
    try:
        json.loads('{"a": ')
    except json.JSONDecodeError as exc:
        bad_json = exc
    torch_oom = type("OutOfMemoryError", (RuntimeError,), {"__module__": "torch"})
    return [
        OSError(errno.ENOSPC, "No space left on device"),
        httpx2.ReadError("[Errno 104] Connection reset by peer"),
        httpx2.ReadTimeout("timed out"),
        lenf,
        hf.HfHubHTTPError("503 error", response=response),
        requests.exceptions.ChunkedEncodingError("Connection broken"),
        safetensors.SafetensorError("Error while deserializing header: header too large"),
        bad_json,
        torch_oom("CUDA out of memory. Tried to allocate 576.00 MiB."),
        MemoryError(),
        KeyError("unknown"),
    ]


def main() -> None:
    import tenacity

    from resilience_core import Runtime, categorize
    from resilience_core.config import ReliabilityConfig
    from resilience_core.recovery.strategies.base import RetryBudget

    def step(x: int = 1) -> int:
        return x

    rt = Runtime(config=ReliabilityConfig.from_mapping({}, env={}))
    retried = tenacity.retry(step)
    protected = rt.protect(operation="model_download")(step)
    number = 200_000
    bare = _per_call_s(step, number)
    ours = _per_call_s(functools.partial(rt.run, step), number)
    ours_protect = _per_call_s(protected, number)
    theirs = _per_call_s(retried, number // 20)
    ours_overhead = max(ours - bare, 1e-9)
    protect_overhead = max(ours_protect - bare, 1e-9)
    theirs_overhead = theirs - bare
    ratio = theirs_overhead / ours_overhead
    figure(
        "tenacity @retry happy-path overhead",
        theirs_overhead * 1e6,
        "us/call",
        anchor=f"bare call {bare * 1e9:.0f} ns",
    )
    figure(
        "Runtime.run happy-path overhead",
        ours_overhead * 1e6,
        "us/call",
        anchor=f"tenacity {theirs_overhead * 1e6:.2f} us",
        ratio=ratio,
        target="<= 1 us and >= 15x lower",
        ok=ours_overhead <= 1e-6 and ratio >= 15,
    )
    figure(
        "Runtime.protect happy-path overhead",
        protect_overhead * 1e6,
        "us/call",
        anchor=f"Runtime.run {ours_overhead * 1e6:.2f} us",
        ratio=protect_overhead / ours_overhead,
        target="<= 1 us and <= 1.5x run (as cheap as run)",
        ok=protect_overhead <= 1e-6 and protect_overhead <= 1.5 * ours_overhead,
    )

    # One recovered ConnectionResetError: the same step, the same stop (4 attempts) and backoff, no real sleep.
    clock = _NoSleepClock()
    config = ReliabilityConfig.from_mapping({"retry": {"max_retries": 3}}, env={})
    recovering = Runtime(config=config, clock=clock, retry_budget=RetryBudget(1e18, 0.0, clock))
    ours_step, theirs_step = _flaky_step(), _flaky_step()
    tenacity_retry = tenacity.retry(
        retry=tenacity.retry_if_exception_type(OSError),
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_random_exponential(multiplier=2.0, max=60.0),
        sleep=lambda _seconds: None,
    )(theirs_step)
    rounds = 5_000
    recovered_ours, recovered_theirs = _paired_s(
        lambda: recovering.run(ours_step, operation="model_download"), tenacity_retry, rounds
    )
    figure(
        "tenacity: one recovered ConnectionResetError (no-op sleep)",
        recovered_theirs * 1e6,
        "us/call",
    )
    figure(
        "Runtime.run: one recovered ConnectionResetError (no-op sleep)",
        recovered_ours * 1e6,
        "us/call",
        anchor=f"tenacity {recovered_theirs * 1e6:.1f} us",
        ratio=recovered_ours / recovered_theirs,
        target="<= 1.0x tenacity",
        ok=recovered_ours <= recovered_theirs,
    )

    errors = _exceptions()
    for error in errors:
        categorize(error)  # warm the per-type caches, as a long-running installer would have them
    per_batch = _per_call_s(lambda: [categorize(e) for e in errors], 2_000)
    per_exception = per_batch / len(errors)
    figure(
        "categorize() per exception",
        per_exception * 1e6,
        "us",
        anchor=f"mix of {len(errors)} real exceptions",
        target="<= 20 us",
        ok=per_exception <= 20e-6,
    )
    chained = _chain()
    categorize(chained)
    per_chain = _per_call_s(lambda: categorize(chained), 5_000)
    figure(
        "categorize() of a 3-deep __cause__ chain",
        per_chain * 1e6,
        "us",
        anchor="LocalEntryNotFoundError <- httpx2.ConnectError <- ConnectionRefusedError",
        target="<= 20 us",
        ok=per_chain <= 20e-6,
    )
    cold = Runtime(config=ReliabilityConfig.from_mapping({}, env={}))
    started = time.perf_counter()
    cold.categorizer.classify(errors[3])
    figure("categorize() first call of a type (cold cache)", (time.perf_counter() - started) * 1e6, "us")


if __name__ == "__main__":
    main()
