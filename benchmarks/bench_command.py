"""``chaos.run`` cost: the time one command trial adds over a bare ``subprocess.run`` of the same command.

The command is ``true`` (so the figure is the harness's, not the command's). Per round, the anchor runs it with
``subprocess.run(capture_output=True)``; the subject builds a trial handle and runs it with ``chaos.run``: the
routed environment (hub and index), the fault wrapping, the bounded output readers, the journal note. Once with
no fault armed, once with ``process.kill`` armed (its watcher polls every 2 ms; the kill instant lies beyond
the run, so it gets the process but never fires). Rounds interleave anchor and subjects; the figure is the
median difference. Target: <= 20 ms per trial.
"""

from __future__ import annotations

import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

from benchmarks._report import figure

ROUNDS = 60
TARGET_MS = 20.0


def _bare(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - started


def _trial(argv: list[str], workdir: pathlib.Path, index: int, *, kill_armed: bool) -> float:
    from chaos.inject import Chaos
    from chaos.manager import ChaosManager
    from chaos.trials import Trial

    manager = ChaosManager.build()
    started = time.perf_counter()
    chaos = Chaos(Trial("bench", index, index), workdir=workdir, make_fault=manager.make_fault)
    if kill_armed:
        with chaos.inject("process.kill", min_s=30.0, max_s=30.0):
            result = chaos.run(argv, hub="http://127.0.0.1:9", index="http://127.0.0.1:9/simple/")
    else:
        result = chaos.run(argv, hub="http://127.0.0.1:9", index="http://127.0.0.1:9/simple/")
    elapsed = time.perf_counter() - started
    assert result.ok, result.stderr_tail
    return elapsed


def main() -> None:
    true = shutil.which("true") or "/bin/true"
    argv = [true]
    from chaos.manager import ChaosManager

    ChaosManager.build()  # built once per process: not a per-trial cost
    bare: list[float] = []
    plain: list[float] = []
    killed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-command-") as scratch:
        root = pathlib.Path(scratch)
        for index in range(3):  # warm-up: imports, page cache
            _bare(argv)
            _trial(argv, root, index, kill_armed=True)
        for index in range(ROUNDS):
            bare.append(_bare(argv))
            plain.append(_trial(argv, root, index, kill_armed=False))
            killed.append(_trial(argv, root, index, kill_armed=True))
    anchor_ms = statistics.median(bare) * 1000
    for label, samples in (("no fault armed", plain), ("process.kill armed", killed)):
        subject_ms = statistics.median(samples) * 1000
        overhead_ms = subject_ms - anchor_ms
        figure(
            f"chaos.run overhead per trial, {label}",
            overhead_ms,
            "ms",
            anchor=f"bare subprocess.run {anchor_ms:.2f} ms",
            ratio=subject_ms / anchor_ms,
            target=f"<= {TARGET_MS:g} ms",
            ok=overhead_ms <= TARGET_MS,
        )


if __name__ == "__main__":
    main()
