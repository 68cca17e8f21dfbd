"""Runtime happy-path overhead against tenacity's @retry, and categorize() cost per exception (DESIGN §7).

Both overheads are measured in the same run against the same bare call, so the ratio holds on any machine.
Times are process CPU time (best of 7), so a busy CI machine inflates them less than wall-clock time would.
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

    def step(x: int = 1) -> int:
        return x

    rt = Runtime(config=ReliabilityConfig.from_mapping({}, env={}))
    retried = tenacity.retry(step)
    number = 200_000
    bare = _per_call_s(step, number)
    ours = _per_call_s(functools.partial(rt.run, step), number)
    theirs = _per_call_s(retried, number // 20)
    ours_overhead = max(ours - bare, 1e-9)
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
    cold = Runtime(config=ReliabilityConfig.from_mapping({}, env={}))
    started = time.perf_counter()
    cold.categorizer.classify(errors[3])
    figure("categorize() first call of a type (cold cache)", (time.perf_counter() - started) * 1e6, "us")


if __name__ == "__main__":
    main()
