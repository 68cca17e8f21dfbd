"""`resilience run` and `resilience faults list`."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from chaos.cli import build_parser, main


def test_run_builds_the_pytest_command_line() -> None:
    """resilience run maps its options onto pytest and chaos options."""
    from chaos.run_cli import build_pytest_args

    args = build_parser().parse_args(
        [
            "run",
            "scen/",
            "--trials",
            "3",
            "--seed",
            "9",
            "-n",
            "auto",
            "--report",
            "out",
            "-k",
            "net",
            "--pytest",
            "-x -q",
        ]
    )
    assert build_pytest_args(args) == [
        "scen/",
        "-p",
        "no:cacheprovider",
        "-ra",
        "--chaos-trials=3",
        "--chaos-seed=9",
        "-n",
        "auto",
        "--chaos-report=out",
        "-k",
        "net",
        "-x",
        "-q",
    ]


def test_run_rejects_zero_trials(capsys: pytest.CaptureFixture[str]) -> None:
    """--trials 0 exits 2 with one line naming the option and the fix."""
    assert main(["run", "--trials", "0"]) == 2
    assert capsys.readouterr().err == "resilience run: error: --trials=0 must be >= 1; fix: pass e.g. --trials 5\n"


def test_faults_list_shows_params_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    """faults list prints each fault with its parameters; --json gives the same as data."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    assert main(["faults", "list"]) == 0
    text = capsys.readouterr().out
    assert "dns.fail  [available]  (chaos_dns_fault)" in text
    assert "    - error: str = 'noname' (one of noname|again)" in text
    assert main(["faults", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["dns.fail"]["unavailable"] is None
    assert rows["dns.fail"]["backends"] == {}


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
