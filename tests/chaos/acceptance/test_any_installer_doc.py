"""The declarative path of docs/any-installer.md runs as written: init, the user directory, run, the error line."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "any-installer.md"
FILE_BLOCK = re.compile(r"```(?:sh|toml) file=(\S+)\n(.*?)```\n", re.DOTALL)


def resilience(cwd: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOS_NO_PLUGINS": "1"}
    command = [sys.executable, "-m", "chaos.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=300)


def shown(prefix: str) -> list[str]:
    """The lines of the page's console examples that start with ``prefix``."""
    return [line for line in DOC.read_text().splitlines() if line.startswith(prefix)]


def test_init_prints_what_the_page_shows(tmp_path: pathlib.Path) -> None:
    """`resilience init --command ...` as on the page: the printed line matches and the file loads."""
    [command] = shown("$ resilience init")
    argv = command.removeprefix("$ resilience ").split(" ", 2)
    result = resilience(tmp_path, *argv[:2], argv[2].strip('"'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == shown("wrote chaos.toml")
    assert (tmp_path / "chaos.toml").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the page's installer is a curl script")
def test_the_user_directory_of_the_page_runs_as_shown(tmp_path: pathlib.Path) -> None:
    """install.sh + chaos.toml from the page: `resilience run chaos.toml --seed 1` prints the shown rows and a
    journal; the shown mistake gives the shown error line."""
    files = dict(FILE_BLOCK.findall(DOC.read_text()))
    assert set(files) == {"install.sh", "chaos.toml"}
    assert len(files["install.sh"].splitlines()) == 10
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = resilience(tmp_path, "run", "chaos.toml", "--seed", "1", "--no-progress")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for row in shown("PASS "):
        assert row in result.stdout.splitlines(), result.stdout[-3000:]
    journal = json.loads((tmp_path / "reports" / "journal.json").read_text())
    assert {trial["outcome"] for trial in journal["trials"]} == {"recovered"}

    (tmp_path / "chaos.toml").write_text(files["chaos.toml"].replace("network.reset_peer", "network.rest_peer"))
    result = resilience(tmp_path, "run", "chaos.toml")
    assert result.returncode == 2
    assert result.stderr.splitlines() == shown("resilience run: error: ")
