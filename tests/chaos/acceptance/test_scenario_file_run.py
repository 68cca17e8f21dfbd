"""A user directory holding only a chaos.toml and a 10-line shell installer, run with `resilience run chaos.toml`."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the user's installer is a curl script")

INSTALL_SH = """\
#!/bin/sh
# install.sh DEST: fetch acme/tiny's weights from $HF_ENDPOINT, resuming (-C -), 20 tries.
dest=$1; mkdir -p "$dest"; tries=0
until curl -fsS -C - -o "$dest/model.safetensors" "$HF_ENDPOINT/acme/tiny/resolve/main/model.safetensors"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 20 ]; then echo "install.sh: gave up after $tries tries" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS -o "$dest/config.json" "$HF_ENDPOINT/acme/tiny/resolve/main/config.json" || exit 1
echo "installed into $dest"
"""

CHAOS_TOML = """\
command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]
timeout_s = 60
trials = 1
min_recovery_rate = 0.0

[hub]
seed = 3

[[hub.repos]]
repo_id = "acme/tiny"

[[hub.repos.files]]
path = "config.json"

[[hub.repos.files]]
path = "model.safetensors"
size_bytes = 300_000

[[matrix]]
id = "resets"
fault = "network.reset_peer"
params = { after_bytes = 100000 }

[[matrix]]
id = "full-disk-and-resets"
faults = [
  { fault = "disk.full", params = { path = "{workdir}/model", free_bytes = 100000 } },
  { fault = "network.reset_peer", params = { after_bytes = 50000 } },
]

[verify]
leftovers = ["{workdir}/model"]
hf_cache = [{ path = "{workdir}/model", repos = ["acme/tiny"] }]
"""


def resilience(cwd: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chaos.cli", *args]
    env = {**os.environ, "CHAOS_NO_PLUGINS": "1"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=300)


def notes(trial: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [note["data"] for note in trial.get("notes", []) if note["event"] == event]


@pytest.mark.slow
def test_a_user_directory_runs_and_its_journal_has_exit_codes_checks_and_fired_faults(tmp_path: pathlib.Path) -> None:
    """chaos.toml + install.sh, nothing else: the journal's trials carry the command's exit codes, the results of
    the file's checks and the faults that fired (both of a combined entry)."""
    (tmp_path / "install.sh").write_text(INSTALL_SH)
    (tmp_path / "chaos.toml").write_text(CHAOS_TOML)
    assert len(INSTALL_SH.splitlines()) == 10
    result = resilience(tmp_path, "run", "chaos.toml", "--seed", "5", "--no-progress")
    journal = json.loads((tmp_path / "reports" / "journal.json").read_text())
    trials = {trial["scenario"]: trial for trial in journal["trials"]}
    assert set(trials) == {"chaos.toml::resets", "chaos.toml::full-disk-and-resets"}, result.stdout

    resets = trials["chaos.toml::resets"]
    assert resets["outcome"] == "recovered", result.stdout
    [run] = notes(resets, "command.run")
    assert run["returncode"] == 0
    assert run["fired"] == ["network.reset_peer"]
    assert notes(resets, "command.verify")[0]["problems"] == []

    combined = trials["chaos.toml::full-disk-and-resets"]
    assert combined["outcome"] in ("failed_clean", "failed_dirty")  # 300 kB cannot fit in 100 kB
    [run] = notes(combined, "command.run")
    assert run["returncode"] != 0
    assert sorted(run["fired"]) == ["disk.full", "network.reset_peer"]
    verify = notes(combined, "command.verify")[0]
    assert verify["returncode"] == run["returncode"]
    assert isinstance(verify["problems"], list)
    assert (combined["outcome"] == "failed_dirty") is bool(verify["problems"])
    assert result.returncode in (0, 1), result.stderr  # pytest's own status: the report's rows decide


BAD_FILES = {
    "unknown fault": ('fault = "network.reset_peer"', 'fault = "network.rest_peer"', ":21: matrix[0]: fault"),
    "bad param": ("after_bytes = 100000", "after_bytes = -5", ":22: matrix[0]: network.reset_peer.after_bytes=-5"),
    "missing command": ('command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]', "", ": command is missing"),
    "wrong type": ("timeout_s = 60", 'timeout_s = "60"', ":2: timeout_s='60' must be a number"),
    "unknown key": ("trials = 1", "trials = 1\nretries = 3", ":4: retries is not a known key"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_scenario_file_is_one_line_before_any_trial(tmp_path: pathlib.Path, case: str) -> None:
    """Unknown fault, bad param, missing command, wrong type, unknown key: exactly one stderr line naming the
    file, the line and the key, exit 2, and no trial ran (no report written)."""
    old, new, says = BAD_FILES[case]
    text = CHAOS_TOML.replace(old, new, 1)
    assert text != CHAOS_TOML
    (tmp_path / "install.sh").write_text(INSTALL_SH)
    (tmp_path / "chaos.toml").write_text(text)
    result = resilience(tmp_path, "run", "chaos.toml", "--no-progress")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"resilience run: error: chaos.toml{says}"), result.stderr
    assert "fix" in result.stderr
    assert not (tmp_path / "reports").exists()


CONFTEST_FAULT = """\
from chaos import Fault, Param
from chaos.fault import ORDER_ENV


class DeadMirror(Fault):
    \"\"\"Point the command at a dead mirror through its environment.\"\"\"

    name = "acme.dead_mirror"
    summary = "Set ACME_MIRROR=dead for the command."
    params = (Param("value", str, "dead", "what ACME_MIRROR is set to"),)
    wraps_command = True
    command_order = ORDER_ENV

    def arm(self, ctx):
        yield

    def wrap_command(self, argv, env):
        self.triggered = True
        return argv, {**env, "ACME_MIRROR": self.values["value"]}

    def verify_reverted(self, ctx):
        return []


def chaos_add_faults(registry):
    registry.register(DeadMirror)
"""

CONFTEST_TOML = """\
command = ["sh", "-c", "test \\"$ACME_MIRROR\\" = dead || (echo mirror not dead >&2; exit 1)"]
timeout_s = 30
trials = 1
min_recovery_rate = 1.0

[[matrix]]
id = "dead-mirror"
fault = "acme.dead_mirror"
"""


def test_a_fault_defined_in_a_conftest_runs_from_resilience_run(tmp_path: pathlib.Path) -> None:
    """`resilience run` checks scenario files before pytest starts, with a registry that cannot know a
    conftest.py's faults: beside a conftest it leaves an unknown name to pytest, which loads the conftest (the
    trial runs and the fault fires) and still refuses a misspelt name in one line naming the closest fault."""
    (tmp_path / "conftest.py").write_text(CONFTEST_FAULT)
    (tmp_path / "chaos.toml").write_text(CONFTEST_TOML)
    result = resilience(tmp_path, "run", "chaos.toml", "--seed", "5", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    (trial,) = json.loads((tmp_path / "reports" / "journal.json").read_text())["trials"]
    assert trial["outcome"] == "recovered"
    assert notes(trial, "command.run")[0]["fired"] == ["acme.dead_mirror"]

    (tmp_path / "chaos.toml").write_text(CONFTEST_TOML.replace('"acme.dead_mirror"', '"acme.dead_mirorr"'))
    result = resilience(tmp_path, "run", "chaos.toml", "--seed", "5", "--no-progress")
    assert result.returncode != 0
    [line] = [line for line in result.stdout.splitlines() if "acme.dead_mirorr" in line and "fix:" in line]
    assert "chaos.toml:8: matrix[0]: fault 'acme.dead_mirorr' is not registered" in line
    assert "did you mean 'acme.dead_mirror'?" in line
