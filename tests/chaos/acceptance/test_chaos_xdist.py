"""Aggregation under pytest-xdist: -n 2 gives the same totals as a serial run with the same seed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaos.trials import trial_seed

pytest_plugins = ("pytester",)

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]

SCENARIOS = """
import random
import pytest

@pytest.mark.chaos(trials=12, min_recovery_rate=0.5)
def test_flaky_a(chaos):
    weights = chaos.workdir / "w.bin"
    weights.write_bytes(bytes(4096))
    with chaos.inject("file.corrupt", mode="zero_range", when="before", length_bytes=16, root=str(chaos.workdir)):
        pass
    chaos.note("weights", file=weights, size_bytes=weights.stat().st_size)
    assert random.Random(chaos.seed).random() < 0.7

@pytest.mark.chaos(trials=8, min_recovery_rate=0.9)
@pytest.mark.parametrize("size", [1, 2])
def test_flaky_b(chaos, size):
    if random.Random(chaos.seed).random() < 0.2 * size:
        chaos.mark_degraded()
    assert random.Random(chaos.seed + 1).random() < 0.9
"""


def _portable_notes(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notes without the paths, which name each run's own temporary directories."""
    return [{**note, "data": {k: v for k, v in note["data"].items() if k not in ("path", "file")}} for note in notes]


def test_xdist_totals_equal_serial_totals(pytester: pytest.Pytester) -> None:
    """Under -n 2 the controller draws one seed for all workers, and the summaries (outcomes, rates, intervals,
    verdicts), the trials' notes (from a fault and from chaos.note) and exit status equal a serial run replayed
    with that seed."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_scenarios=SCENARIOS)
    parallel_run = pytester.runpytest_subprocess("--chaos-report=out0", "-p", "no:cacheprovider", "-n", "2")
    parallel = json.loads((pytester.path / "out0" / "journal.json").read_text())
    seed = parallel["run"]["seed"]
    parallel_run.stdout.fnmatch_lines([f"chaos: --chaos-seed={seed}"])
    assert all(t["seed"] == trial_seed(seed, t["scenario"], t["index"]) for t in parallel["trials"])
    failing = [t for t in parallel["trials"] if t["outcome"] == "failed_clean"]
    assert failing  # each failing trial's report, forwarded by a worker, still ends with its replay command
    assert {f"replay: {t['replay']}" for t in failing} <= set(parallel_run.stdout.lines)
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
    notes = [_portable_notes(t["notes"]) for t in serial["trials"]]
    assert notes == [_portable_notes(t["notes"]) for t in parallel["trials"]]
    first = parallel["trials"][0]["notes"]
    assert [(note["event"], note["fault"]) for note in first] == [("file.corrupt", "file.corrupt"), ("weights", None)]
    assert first[0]["data"]["path"].endswith("w.bin")
    assert len(first[0]["data"]["sha256_after"]) == 64
    assert first[1]["data"]["file"] == first[0]["data"]["path"]
    assert sum(s["trials"] for s in serial["scenarios"]) == 28
