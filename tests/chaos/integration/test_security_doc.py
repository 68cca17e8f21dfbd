"""docs/security.md: its python blocks run in order in one fresh interpreter; its console blocks print what it says."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[3] / "docs" / "security.md"
REPO = Path(__file__).parents[3]


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_python_examples_run_in_order(tmp_path: Path) -> None:
    """Every ```python block of docs/security.md runs, one after the other, in a fresh interpreter."""
    blocks = _blocks("python")
    assert len(blocks) >= 4
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "RESILIENCE_"))}
    env["PYTHONPATH"] = str(REPO)
    env["TMPDIR"] = str(tmp_path)  # the examples' mkdtemp() folders go with tmp_path
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_console_examples_print_what_the_page_says(tmp_path: Path) -> None:
    """Each `$ resilience ...` line of a ```console block prints exactly the lines shown under it."""
    blocks = _blocks("console")
    assert blocks
    for block in blocks:
        command, *expected = block.strip().splitlines()
        assert command.startswith("$ resilience ")
        argv = shlex.split(command[len("$ resilience ") :])
        done = subprocess.run(
            [sys.executable, "-m", "chaos.cli", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.stdout + done.stderr).splitlines() == expected
        assert done.returncode == 2
