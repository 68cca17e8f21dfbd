"""`resilience report diff` on real runs: the same seed twice is no regression, a planted one is named."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from report_project import run_project

pytestmark = pytest.mark.acceptance


def _diff(base: pathlib.Path, new: pathlib.Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chaos.cli", "report", "diff", str(base), str(new)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_same_seed_twice_exits_0_and_a_planted_regression_exits_1_naming_it(tmp_path: pathlib.Path) -> None:
    """Two runs of seed 7 diff clean (exit 0); a run where resets became permission errors exits 1, naming both
    scenarios whose rate dropped and the new failure type."""
    base = run_project(tmp_path, "base")
    again = run_project(tmp_path, "again")
    same = _diff(base, again)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "NO REGRESSION" in same.stdout
    planted = run_project(tmp_path, "planted", planted=True)
    worse = _diff(base, planted)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "- **rate drop** `test_report_project.py::test_download_survives_resets`" in worse.stdout
    assert "- **rate drop** `test_report_project.py::test_download_meets_a_high_bar`" in worse.stdout
    assert "new failure type permission_denied" in worse.stdout
    assert "test_corrupted_weights_are_repaired" not in worse.stdout.split("### Scenarios")[0]
