"""process.kill: a real SIGKILL at a seeded instant or after N bytes; descendants die too unless tree=False."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import psutil
import pytest

from chaos.errors import FaultParamError
from chaos.fault import FaultContext
from chaos.faults.process import KillProcess

pytestmark = pytest.mark.integration

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
# Writes 8 KiB every 5 ms into argv[1] (about 1.6 MB/s) for at most 5 s.
WRITER = """
import sys, time
with open(sys.argv[1], "wb") as f:
    for _ in range(1000):
        f.write(b"w" * 8192); f.flush(); time.sleep(0.005)
"""
# Starts a grandchild that sleeps, prints its pid, then sleeps itself.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(child.pid, flush=True)
time.sleep(30)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ctx(tmp_path: pathlib.Path, seed: int = 1, **target: object) -> FaultContext:
    return FaultContext.for_seed(seed, tmp_path, target={"kind": "subprocess", **target})


def test_sigkill_at_a_seeded_instant(tmp_path: pathlib.Path) -> None:
    """The target dies of SIGKILL between min_s and max_s after it is first seen; the note says when."""
    fault = KillProcess(min_s=0.05, max_s=0.15)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        proc = subprocess.Popen(SLEEPER)
        ctx.target["popen"] = proc  # published inside the block: the watcher picks it up
        assert proc.wait(timeout=10) == -signal.SIGKILL
    assert fault.triggered
    assert fault.backend == "timer"
    (note,) = [e for e in ctx.events if e["event"] == "process.kill"]
    assert 0.05 <= note["at_s"] <= 0.15 + 0.1
    assert note["pid"] == proc.pid
    assert fault.verify_reverted(ctx) == []


def test_same_seed_same_instant(tmp_path: pathlib.Path) -> None:
    """The instant comes from ctx.rng: the same seed draws the same instant (visible when nothing is killed)."""
    delays = []
    for _ in range(2):
        fault = KillProcess(min_s=5.0, max_s=9.0)
        ctx = _ctx(tmp_path, seed=99)
        with fault.inject(ctx):
            pass
        assert not fault.triggered
        delays.append([e["delay_s"] for e in ctx.events if e["event"] == "process.kill.not_triggered"])
    assert delays[0] == delays[1]
    assert 5.0 <= delays[0][0] <= 9.0


def test_kill_after_bytes_written_under_a_path(tmp_path: pathlib.Path) -> None:
    """With after_bytes the kill comes once the watched path holds that many bytes, mid-write."""
    out = tmp_path / "out" / "blob.incomplete"
    out.parent.mkdir()
    fault = KillProcess(after_bytes=64 * 1024, watch_path=str(out.parent))
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)])
        ctx.target["pid"] = proc.pid
        assert proc.wait(timeout=20) == -signal.SIGKILL
    assert fault.triggered
    assert fault.backend == "bytes-watch"
    assert 64 * 1024 <= out.stat().st_size < 1000 * 8192
    assert fault.verify_reverted(ctx) == []


def test_tree_kill_takes_the_grandchildren_too(tmp_path: pathlib.Path) -> None:
    """tree=True (default) kills the target's descendants, so none is left behind."""
    fault = KillProcess(min_s=0.0, max_s=0.0)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        grandchild = int(proc.stdout.readline())
        ctx.target["popen"] = proc
        proc.wait(timeout=10)
        proc.stdout.close()
    assert grandchild in fault.killed_pids
    assert fault.verify_reverted(ctx) == []


def test_leaky_kill_leaves_a_grandchild_and_verify_catches_it(tmp_path: pathlib.Path) -> None:
    """tree=False kills only the target: its orphaned child is residue that verify_reverted reports."""
    fault = KillProcess(min_s=0.0, max_s=0.0, tree=False)
    ctx = _ctx(tmp_path)
    grandchild = -1
    try:
        with fault.inject(ctx):
            proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            grandchild = int(proc.stdout.readline())
            ctx.target["popen"] = proc
            proc.wait(timeout=10)
            proc.stdout.close()
        residue = fault.verify_reverted(ctx)
        assert len(residue) == 1
        assert f"descendant pid {grandchild}" in residue[0]
    finally:
        if grandchild > 0:
            os.kill(grandchild, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.01)  # SIGKILL delivery is asynchronous
    assert fault.verify_reverted(ctx) == []


def test_a_target_that_finished_first_is_not_triggered(tmp_path: pathlib.Path) -> None:
    """A target that exits before the instant is left alone and the fault reports it did not fire."""
    fault = KillProcess(min_s=3.0, max_s=3.0)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        ctx.target["popen"] = proc
        assert proc.wait(timeout=10) == 0
    assert not fault.triggered
    assert fault.verify_reverted(ctx) == []


def test_the_harness_itself_is_never_killed(tmp_path: pathlib.Path) -> None:
    """A target pid that is this process (or its parent) is refused and noted instead of killed."""
    fault = KillProcess(min_s=0.0, max_s=0.0)
    ctx = _ctx(tmp_path, pid=os.getpid())
    with fault.inject(ctx):
        deadline = time.monotonic() + 5
        while not any(e["event"] == "process.kill.refused" for e in ctx.events) and time.monotonic() < deadline:
            time.sleep(0.005)
    assert not fault.triggered
    assert any(e["event"] == "process.kill.refused" for e in ctx.events)


def test_after_bytes_needs_a_path(tmp_path: pathlib.Path) -> None:
    """after_bytes without watch_path nor watch_roots is one clear error naming the fix."""
    fault = KillProcess(after_bytes=10)
    with (
        pytest.raises(FaultParamError, match="fix: pass watch_path="),
        fault.inject(FaultContext.for_seed(1, tmp_path)),
    ):
        pass
