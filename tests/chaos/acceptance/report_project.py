"""A small chaos project whose run writes a journal with every kind of row the reports show.

A flaky download under the runtime (passes with failing trials), the same at a bar it misses (fails), a
corrupted file that is repaired (a real file.corrupt fault, with params and fired), and a baseline without the
runtime. With ``CHAOS_PLANTED_REGRESSION=1`` in the environment, every reset turns into a permission error the
runtime cannot recover from: a planted regression for ``report diff``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

SCENARIOS = """
import hashlib
import os
import pathlib

import pytest

from resilience_core import FakeClock, Runtime

PLANTED = os.environ.get("CHAOS_PLANTED_REGRESSION") == "1"
SOURCE = b"x" * 65536
DIGEST = hashlib.sha256(SOURCE).hexdigest()


def download(state):
    state["calls"] += 1
    if state["calls"] <= state["resets"]:
        if PLANTED:
            raise PermissionError(13, "Permission denied: ~/.cache/models")
        raise ConnectionResetError(104, "Connection reset by peer")
    return b"weights"


@pytest.mark.chaos(trials=20, min_recovery_rate=0.5)
def test_download_survives_resets(chaos):
    state = {"calls": 0, "resets": chaos.rng.randrange(0, 6)}
    chaos.note("resets", count=state["resets"])
    runtime = Runtime(clock=FakeClock(), hooks=[chaos.runtime_hook])
    assert runtime.run(download, state, operation="model_download") == b"weights"


@pytest.mark.chaos(trials=10, min_recovery_rate=0.9)
def test_download_meets_a_high_bar(chaos):
    state = {"calls": 0, "resets": chaos.rng.randrange(0, 6)}
    runtime = Runtime(clock=FakeClock(), hooks=[chaos.runtime_hook])
    assert runtime.run(download, state, operation="model_download") == b"weights"


@pytest.mark.chaos(trials=6, min_recovery_rate=1.0)
def test_corrupted_weights_are_repaired(chaos, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    chaos.watch(models)
    target = models / "model.bin"
    with chaos.inject("file.corrupt", root=str(models), glob="*.bin", mode="bitflip", when="after") as fault:
        target.write_bytes(SOURCE)
    assert fault.triggered
    if hashlib.sha256(target.read_bytes()).hexdigest() != DIGEST:
        target.write_bytes(SOURCE)


@pytest.mark.chaos(trials=8, min_recovery_rate=0.0)
def test_baseline_plain_download(chaos):
    state = {"calls": 0, "resets": chaos.rng.randrange(0, 3)}
    assert download(state) == b"weights"
"""


def write_project(root: pathlib.Path) -> pathlib.Path:
    """Write the scenarios into ``root``; returns the test file."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "test_report_project.py"
    path.write_text(SCENARIOS)
    return path


def run_project(
    root: pathlib.Path, report: str, *, seed: int = 7, planted: bool = False, extra: tuple[str, ...] = ()
) -> pathlib.Path:
    """Run the project with ``resilience run`` (a real process; ``extra`` arguments appended) and return its
    journal's path."""
    write_project(root)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "GITHUB_"))}
    env["CHAOS_PLANTED_REGRESSION"] = "1" if planted else "0"
    command = [sys.executable, "-m", "chaos.cli", "run", "test_report_project.py", "--seed", str(seed)]
    command += ["--report", report, "--no-progress", *extra]
    completed = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    journal = root / report / "journal.json"
    assert journal.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    return journal
