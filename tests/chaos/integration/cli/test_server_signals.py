"""Every `resilience ... serve` stops the same way on SIGTERM, whenever it comes, and a closed pipe is quiet."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parents[4]
RUNS = 20
# Start-up of a server CLI takes ~0.4-1.5 s here (imports, then generation and binding). The runs spread their
# SIGTERM over that window and past it: before main() runs, while it imports and builds, and once it serves.
DELAYS_S = [0.0, 0.01, 0.05] + [0.1 * i for i in range(1, RUNS - 2)]
STOP_TIMEOUT_S = 30.0


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "repos.toml"
    spec.write_text(
        'seed = 3\n[[repos]]\nrepo_id = "acme/tiny"\n[[repos.files]]\npath = "config.json"\n'
        '[[repos.files]]\npath = "model.safetensors"\nsize_bytes = 65536\n'
    )
    return spec


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "hub": ["hub", "serve", "--spec", str(_spec(tmp_path)), "--root", str(tmp_path / "root"), "--port", "0"],
        "proxy": ["proxy", "serve", "--port", "0"],
    }


def _run_and_term(argv: list[str], delay_s: float) -> tuple[int | str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(delay_s)
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        return "hung", err
    return process.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("server", ["hub", "proxy"])
def test_sigterm_right_after_start_always_ends_the_same_way(tmp_path: Path, server: str) -> None:
    """20 runs, SIGTERM at 0 s .. 1.7 s after start: every run ends promptly, dead of SIGTERM, no traceback."""
    argv = _commands(tmp_path)[server]
    outcomes = [_run_and_term(argv, delay) for delay in DELAYS_S]
    statuses = [status for status, _ in outcomes]
    assert statuses == [-signal.SIGTERM] * RUNS, statuses
    for _, err in outcomes:
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert not lines or lines[-1].endswith("stopped (SIGTERM)"), err


@pytest.mark.parametrize("server", ["hub", "proxy", "index", "monitor"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_serving_server_stops_cleanly_on_the_signal(tmp_path: Path, server: str, signum: signal.Signals) -> None:
    """Once its URL is printed, each server stops on SIGTERM or SIGINT with one line and dies of that signal."""
    monitoring = tmp_path / "monitoring.json"
    monitoring.write_text('{"database": "metrics.db", "check_interval_seconds": 0.2}')
    argv = {
        **_commands(tmp_path),
        "index": ["index", "serve", "--port", "0"],
        "monitor": ["monitor", "serve", "--port", "0", "--monitoring", str(monitoring)],
    }[server]
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "serving on" in line or "listening on" in line:
            break
    process.send_signal(signum)
    _, err = process.communicate(timeout=STOP_TIMEOUT_S)
    assert process.returncode == -signum
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(f"stopped ({signum.name})")


def test_output_to_a_closed_pipe_exits_quietly() -> None:
    """`resilience faults list` whose reader went away exits 141 with nothing on stderr (no BrokenPipeError)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "faults", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the command writes a byte
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141
    assert err == b""


def test_head_in_a_shell_pipeline_leaves_stderr_empty() -> None:
    """`resilience faults list | head -n 1` as a user types it: one line out, nothing on stderr."""
    done = subprocess.run(
        f"'{sys.executable}' -m chaos.cli faults list | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""
