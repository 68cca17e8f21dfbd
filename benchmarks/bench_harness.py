"""Chaos harness cost: overhead per in-process trial against a bare pytest test, and serial vs ``-n 2``.

Both figures come from real pytest sessions in subprocesses on a generated project:

- overhead: chaos trials (marker expansion, trial seed, the ``chaos`` fixture, one ``chaos.inject`` of a no-op
  fault with ``verify_reverted``, classification, the record on ``user_properties``, aggregation, the journal)
  against parametrized bare tests. Measured as CPU seconds of the pytest process (a loaded machine disturbs
  them less than wall time), per test as the difference between a 100- and an 800-test session (best of 4
  interleaved rounds), which cancels start-up and import costs;
- speedup: an I/O-bound scenario (each trial waits 80 ms, as a download does) serially and under ``-n 2``
  (wall time), with the journal totals compared.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks._report import figure

SMALL, LARGE = 100, 800
ROUNDS = 4
SPEEDUP_TRIALS = 100
SPEEDUP_WAIT_S = 0.08

CONFTEST = """
import contextlib
from chaos import Fault

class Nop(Fault):
    name = "bench.nop"
    summary = "does nothing"

    @contextlib.contextmanager
    def _armed(self):
        self.triggered = True
        yield self

    def inject(self, ctx):
        return self._armed()

    def verify_reverted(self, ctx):
        return []

def chaos_add_faults(registry):
    registry.register(Nop)
"""

BARE = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_bare(i):
    assert i >= 0
"""

CHAOS = """
import pytest

@pytest.mark.chaos(trials={n}, min_recovery_rate=1.0)
def test_trial(chaos):
    with chaos.inject("bench.nop"):
        assert chaos.index >= 0
"""

IO_BOUND = f"""
import time
import pytest

@pytest.mark.chaos(trials={SPEEDUP_TRIALS}, min_recovery_rate=0.5)
def test_io(chaos):
    time.sleep({SPEEDUP_WAIT_S})
    assert chaos.rng.random() < 0.9
"""


def _session(project: pathlib.Path, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one pytest session in a subprocess."""
    env = {**os.environ, "CHAOS_NO_PLUGINS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let pytest cache its rewritten modules, as on a user's machine
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--chaos-seed=1", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"pytest {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _per_test_cpu_ms(project: pathlib.Path) -> dict[str, float]:
    """CPU ms per test for each kind: (CPU(LARGE) - CPU(SMALL)) / (LARGE - SMALL), best of ROUNDS sessions per
    size. Rounds interleave the kinds and sizes so a burst of load on this shared machine hits both alike."""
    templates = {"bare": BARE, "chaos": CHAOS}
    for kind, template in templates.items():
        for n in (SMALL, LARGE):
            (project / f"test_{kind}_{n}.py").write_text(template.format(n=n))
    best: dict[tuple[str, int], float] = {}
    for _ in range(ROUNDS):
        for kind in templates:
            for n in (SMALL, LARGE):
                cpu = _session(project, f"test_{kind}_{n}.py")[1]
                best[kind, n] = min(cpu, best.get((kind, n), cpu))
    return {kind: (best[kind, LARGE] - best[kind, SMALL]) / (LARGE - SMALL) * 1000 for kind in templates}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        project = pathlib.Path(tmp)
        (project / "conftest.py").write_text(CONFTEST)
        (project / "test_io.py").write_text(IO_BOUND)
        (project / "test_warm.py").write_text(CHAOS.format(n=2))
        _session(project, "test_warm.py")  # warm the bytecode caches (pytest rewrites the plugin's modules)
        per_test = _per_test_cpu_ms(project)
        bare_ms, chaos_ms = per_test["bare"], per_test["chaos"]
        overhead_ms = chaos_ms - bare_ms
        figure(
            "harness overhead per in-process trial (CPU)",
            overhead_ms,
            "ms",
            anchor=f"bare pytest test {bare_ms:.3g} ms, chaos trial {chaos_ms:.3g} ms",
            ratio=chaos_ms / bare_ms if bare_ms > 0 else None,
            target="<= 5 ms",
            ok=overhead_ms <= 5.0,
        )

        serial_s = _session(project, "test_io.py", "--chaos-report=serial")[0]
        parallel_s = _session(project, "test_io.py", "--chaos-report=parallel", "-n", "2")[0]
        journals = [json.loads((project / name / "journal.json").read_text()) for name in ("serial", "parallel")]
        same = journals[0]["scenarios"] == journals[1]["scenarios"]
        figure(
            f"-n 2 speedup, {SPEEDUP_TRIALS} trials waiting {SPEEDUP_WAIT_S * 1000:g} ms each",
            serial_s / parallel_s,
            "x",
            anchor=f"serial {serial_s:.2f} s vs -n 2 {parallel_s:.2f} s wall, totals equal: {same}",
            target="> 1 and equal totals",
            ok=serial_s / parallel_s > 1.0 and same,
        )


if __name__ == "__main__":
    main()
