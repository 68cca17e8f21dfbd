"""Aggregation under pytest-xdist: -n 2 gives the same totals as a serial run with the same seed."""

from __future__ import annotations

import json

import pytest

from chaos.trials import trial_seed

pytest_plugins = ("pytester",)

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]

SCENARIOS = """
import random
import pytest

@pytest.mark.chaos(trials=12, min_recovery_rate=0.5)
def test_flaky_a(chaos):
    assert random.Random(chaos.seed).random() < 0.7

@pytest.mark.chaos(trials=8, min_recovery_rate=0.9)
@pytest.mark.parametrize("size", [1, 2])
def test_flaky_b(chaos, size):
    if random.Random(chaos.seed).random() < 0.2 * size:
        chaos.mark_degraded()
    assert random.Random(chaos.seed + 1).random() < 0.9
"""


def test_xdist_totals_equal_serial_totals(pytester: pytest.Pytester) -> None:
    """Under -n 2 the controller draws one seed for all workers, and the summaries (outcomes, rates, intervals,
    verdicts) and exit status equal a serial run replayed with that seed."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_scenarios=SCENARIOS)
    parallel_run = pytester.runpytest_subprocess("--chaos-report=out0", "-p", "no:cacheprovider", "-n", "2")
    parallel = json.loads((pytester.path / "out0" / "journal.json").read_text())
    seed = parallel["run"]["seed"]
    parallel_run.stdout.fnmatch_lines([f"chaos: --chaos-seed={seed}"])
    assert all(t["seed"] == trial_seed(seed, t["scenario"], t["index"]) for t in parallel["trials"])
    serial_run = pytester.runpytest_subprocess(f"--chaos-seed={seed}", "--chaos-report=out1", "-p", "no:cacheprovider")
    serial = json.loads((pytester.path / "out1" / "journal.json").read_text())
    assert [s["id"] for s in serial["scenarios"]] == [
        "test_scenarios.py::test_flaky_a",
        "test_scenarios.py::test_flaky_b[1]",
        "test_scenarios.py::test_flaky_b[2]",
    ]
    assert serial["scenarios"] == parallel["scenarios"]
    assert [(t["scenario"], t["index"], t["seed"], t["outcome"]) for t in serial["trials"]] == [
        (t["scenario"], t["index"], t["seed"], t["outcome"]) for t in parallel["trials"]
    ]
    assert serial_run.ret == parallel_run.ret
    assert sum(s["trials"] for s in serial["scenarios"]) == 28
