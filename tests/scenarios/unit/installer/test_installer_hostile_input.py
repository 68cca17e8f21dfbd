"""The reference installer's CLI under hostile input: one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenarios.installer.cli import main

APP = 'name = "x"\ninstall_dir = "{install}"\nindex_url = "http://127.0.0.1:1/simple/"\nrequirements = []\n'
APP += 'endpoints = ["http://127.0.0.1:1"]\n[[models]]\nrepo_id = "a/b"\n'


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.toml", b"a = " + b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"),
        ("latin1.toml", b'name = "J\xfcrgen"\n', "is not UTF-8 text"),
    ],
)
def test_hostile_config_files_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, expected: str
) -> None:
    """Deep or non-UTF-8 --config files exit 2 with one line naming the file."""
    config = tmp_path / name
    config.write_bytes(content)
    assert main(["status", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert expected in err
    assert str(config) in err


def test_an_install_dir_under_proc_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """install_dir where nothing can be created (under /proc) exits 2 naming install_dir and the fix."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this machine")
    config = tmp_path / "app.toml"
    config.write_text(APP.format(install="/proc/self/chaos-install"))
    assert main(["install", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "install_dir='/proc/self/chaos-install' cannot be created" in err
    assert "fix:" in err
