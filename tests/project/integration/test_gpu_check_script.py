"""scripts/gpu-check on a machine without a GPU: what can be checked here is its refusal and its arguments.

The measurement itself (cuda-hog against real torch and the degrade strategy) has not run on hardware yet;
see docs/any-installer-python.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos.faults.vram import cuda_hog_availability

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gpu-check"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(cuda_hog_availability() is None, reason="this machine has a GPU: the refusal cannot be seen")
def test_without_a_gpu_it_refuses_in_one_line_before_installing_anything(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    done = _run("--venv", str(venv))
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("gpu-check: no usable NVIDIA GPU here: ")
    assert str(cuda_hog_availability()) in line
    assert not venv.exists()  # refused before creating the venv or downloading torch


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--free-gib", "0"], "--free-gib 0.0 must be > 0; fix: e.g. --free-gib 2"),
        (["--sample-mib", "0"], "--sample-mib 0 must be >= 1"),
        (["--device", "-1"], "--device -1 must be >= 0"),
        (["--free-gib", "lots"], "argument --free-gib: invalid float value: 'lots'"),
    ],
)
def test_bad_arguments_name_the_option(args: list[str], message: str) -> None:
    done = _run(*args)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]


def test_help_describes_the_check() -> None:
    done = _run("--help")
    assert done.returncode == 0
    assert "cuda-hog" in done.stdout
    assert "--torch-index" in done.stdout
