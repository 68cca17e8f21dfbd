"""resilience run as a user runs it: a subprocess over a scenario file."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_run_executes_scenarios_and_writes_reports(tmp_path: pathlib.Path) -> None:
    """resilience run runs a scenario file through pytest, writes the reports and returns pytest's status."""
    (tmp_path / "test_scenario.py").write_text(
        "import pytest\n\n@pytest.mark.chaos(trials=3, min_recovery_rate=1.0)\ndef test_ok(chaos):\n    pass\n"
    )
    env = {**os.environ, "CHAOS_NO_PLUGINS": "1"}
    command = [sys.executable, "-m", "chaos.cli", "run", "test_scenario.py", "--seed", "4", "--report", "rep"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chaos: --chaos-seed=4" in result.stdout
    journal = json.loads((tmp_path / "rep" / "journal.json").read_text())
    assert journal["scenarios"][0]["outcomes"]["recovered"] == 3
