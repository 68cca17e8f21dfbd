"""The shipped scenarios (scenarios/) stay runnable: the suite collects, and one small scenario runs end-to-end
through ``resilience run`` into a report directory, as ``make run`` does for all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Every scenario family the issue lists; a rename or a lost file shows up here, not in a 10-minute `make run`.
EXPECTED_SCENARIOS = (
    "test_network_download.py::test_model_download_under_network_fault[reset_peer]",
    "test_network_download.py::test_model_download_under_network_fault[timeout]",
    "test_network_download.py::test_model_download_under_network_fault[down]",
    "test_network_download.py::test_model_download_under_network_fault[bandwidth]",
    "test_network_download.py::test_model_download_under_network_fault[slicer]",
    "test_network_download.py::test_model_download_under_network_fault[limit_data]",
    "test_network_download.py::test_model_download_under_network_fault[corrupt]",
    "test_network_download.py::test_baseline_plain_hf_hub_download[reset_peer]",
    "test_dependency_install.py::test_pip_install_through_faulty_proxy[down]",
    "test_disk_full.py::test_disk_full_during_model_download",
    "test_disk_full.py::test_disk_full_during_pip_unpack",
    "test_vram_first_load.py::test_vram_exhaustion_at_first_load_degrades_batch_size",
    "test_corrupted_files.py::test_corrupted_file_is_detected_and_repaired[bitflip]",
    "test_corrupted_files.py::test_corrupted_file_is_detected_and_repaired[lfs_pointer]",
    "test_process_kill.py::test_sigkill_mid_install_then_rerun",
    "test_install_leftovers.py::test_stale_lock_does_not_block_install",
    "test_install_leftovers.py::test_orphan_partial_is_collected",
    "test_mirror_fallback.py::test_primary_hub_down_falls_back_to_mirror",
    "test_combined_schedule.py::test_combined_fault_schedule",
)


def _resilience(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "PYTEST_"))}
    code = "import sys; from chaos.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_shipped_scenarios_collect() -> None:
    """`pytest scenarios --collect-only` succeeds and finds every scenario family, each with its trials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOS_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = result.stdout
    for scenario in EXPECTED_SCENARIOS:
        base, _, params = scenario.partition("[")
        trial_id = f"{base}[trial0-{params}" if params else f"{base}[trial0]"
        assert f"scenarios/{trial_id}" in collected, f"scenario {scenario} is not collected"


@pytest.mark.slow
def test_one_scenario_runs_end_to_end_into_reports(tmp_path: Path) -> None:
    """`resilience run` on one small scenario with 2 trials writes journal, junit and summary; none failed_dirty."""
    reports = tmp_path / "reports"
    result = _resilience(
        "run",
        "scenarios/test_vram_first_load.py",
        "--trials",
        "2",
        "--seed",
        "7",
        "--report",
        str(reports),
        "--no-progress",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for name in ("journal.json", "junit.xml", "summary.md"):
        assert (reports / name).is_file(), f"{name} was not written"
    journal = json.loads((reports / "journal.json").read_text())
    assert journal["schema"] == "resilience-chaos/journal@1"
    assert journal["run"]["seed"] == 7
    (scenario,) = journal["scenarios"]
    assert scenario["trials"] == 2
    assert scenario["passed"] is True
    assert scenario["outcomes"]["failed_dirty"] == 0
    assert scenario["outcomes"]["recovered_degraded"] == 2
    assert [trial["outcome"] for trial in journal["trials"]] == ["recovered_degraded", "recovered_degraded"]
    assert "test_vram_exhaustion_at_first_load_degrades_batch_size" in (reports / "summary.md").read_text()
