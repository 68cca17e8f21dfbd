"""The examples in docs/builtin-faults.md run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[4] / "docs" / "builtin-faults.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)


def test_the_page_has_examples() -> None:
    """The page carries one runnable example per fault family section (guards the regex)."""
    assert len(_python_blocks()) == 5


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_python_example_runs(index: int, tmp_path: Path) -> None:
    """Each ```python block runs in a fresh interpreter in an empty directory and exits 0."""
    done = subprocess.run(
        [sys.executable, "-c", _python_blocks()[index]],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
