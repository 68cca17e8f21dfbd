"""An installer that embeds the runtime gets the runtime, not the harness: a fresh venv proves it.

The project is built into a wheel once, installed into a new virtual environment without extras, and used
there for real: a recovered Runtime.run and a StateStore snapshot/restore. Then the ``hub`` extra is added and
``ensure_model`` downloads a model from a local hub. Needs the package index for psutil (and huggingface_hub,
filelock for the extra); pip's cache makes reruns fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from chaos.targets import HubServer, HubSpec, model_repo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
# The harness code (the chaos package) ships in the same wheel but cannot load without these: its dependencies
# are the [chaos] extra, and that is what an installer must not drag to its users.
HARNESS = ("pytest", "pluggy", "hypothesis", "rich", "pyfakefs")

_PROBE = """
import importlib.util, json, pathlib, sys, tempfile
from resilience_core import Runtime, StateStore, set_testing

set_testing(True)
calls = []
def step():
    calls.append(1)
    if len(calls) == 1:
        raise ConnectionResetError(104, "Connection reset by peer")
    return "done"
work = pathlib.Path(tempfile.mkdtemp())
app = work / "app"
app.mkdir()
(app / "config.json").write_text("old")
store = StateStore(work / "store")
snap = store.snapshot([app], label="before")
(app / "new.tmp").write_text("new")
(app / "new.tmp").replace(app / "config.json")
store.restore(snap.id)
print(json.dumps({
    "run": Runtime().run(step, operation="model_download"),
    "attempts": len(calls),
    "restored": (app / "config.json").read_text(),
    "absent": [name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None],
}))
"""

_ENSURE = """
import json, sys
from resilience_core.hub import ensure_model, verify_model
result = ensure_model("acme/tiny", "main", sources=[sys.argv[1]], cache_dir=sys.argv[2])
print(json.dumps({"files": result.files, "ok": verify_model("acme/tiny", "main", cache_dir=sys.argv[2]).ok}))
"""


def _pip(python: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once from a copy of the working tree (setuptools writes build/ into its source)."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "resilience-chaos"
    skip = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "reports")
    shutil.copytree(ROOT, source, ignore=skip, symlinks=True)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", out]
    result = subprocess.run([*map(str, command), str(source)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("resilience_chaos-*.whl")
    return built


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv holding only `pip install resilience-chaos` (no extras); yields its python."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    python = home / "bin" / "python"
    _pip(python, str(wheel))
    return python


def test_runtime_alone_installs_no_harness_and_works(runtime_venv: Path, tmp_path: Path) -> None:
    """Without extras: pytest, pluggy, hypothesis, rich and pyfakefs are absent, and Runtime and StateStore work."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TMPDIR"] = str(tmp_path)  # the probe's mkdtemp() work folder goes with tmp_path
    result = subprocess.run(
        [str(runtime_venv), "-c", _PROBE, *HARNESS],
        capture_output=True,
        text=True,
        check=False,
        cwd=runtime_venv.parent,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts == {"run": "done", "attempts": 2, "restored": "old", "absent": []}


def test_hub_extra_adds_ensure_model(runtime_venv: Path, wheel: Path, tmp_path: Path) -> None:
    """With the hub extra, ensure_model downloads and verifies a model from a local hub; still no harness."""
    _pip(runtime_venv, f"{wheel}[hub]")
    spec = HubSpec(repos=(model_repo("acme/tiny", shards=1, shard_size_bytes=50_000),), seed=3)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HF_TOKEN")}
    env |= {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf")}
    with HubServer(spec, root=tmp_path / "hub") as hub:
        result = subprocess.run(
            [str(runtime_venv), "-c", _ENSURE, hub.url, str(tmp_path / "cache")],
            capture_output=True,
            text=True,
            check=False,
            cwd=runtime_venv.parent,
            env=env,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["ok"] is True
    assert facts["files"] >= 2
    check = [
        str(runtime_venv),
        "-c",
        "import importlib.util, sys; print([m for m in sys.argv[1:] if importlib.util.find_spec(m)])",
    ]
    found = subprocess.run([*check, *HARNESS], capture_output=True, text=True, check=True, env=env)
    assert found.stdout.strip() == "[]"
