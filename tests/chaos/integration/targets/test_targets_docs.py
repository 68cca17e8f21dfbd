"""The examples in docs/targets.md run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[4] / "docs" / "targets.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_example_runs(index: int, tmp_path: Path) -> None:
    """Each ```python block of docs/targets.md runs in a fresh interpreter (huggingface_hub reads env at import)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PIP_"))}
    env["TMPDIR"] = str(tmp_path)  # the examples' mkdtemp() folders (an HF_HOME, a pip --target) go with tmp_path
    done = subprocess.run(
        [sys.executable, "-c", _blocks("python")[index]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_toml_examples_are_valid_specs(tmp_path: Path) -> None:
    """The ```toml blocks are specs the loaders accept."""
    from chaos.targets import HubSpec, IndexSpec

    hub_toml, index_toml = _blocks("toml")
    (tmp_path / "repos.toml").write_text(hub_toml)
    (tmp_path / "packages.toml").write_text(index_toml)
    assert HubSpec.from_toml(tmp_path / "repos.toml").repos[0].revisions == ("main", "v1.0")
    assert [p.name for p in IndexSpec.from_toml(tmp_path / "packages.toml").packages] == ["wan-app", "wan-core"]
