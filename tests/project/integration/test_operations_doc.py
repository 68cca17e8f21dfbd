"""docs/operations.md: every ``python runnable`` and ``bash runnable`` block runs, in order, in one temporary
folder, against a real local hub; the entry-point snippet names the real group."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from chaos.targets import HubServer, HubSpec, model_repo
from resilience_core.monitor import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"```(python runnable|bash runnable|toml entry-points)\n(.*?)```", re.DOTALL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_operations_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example executes without error; the shell ones exit 0 under `set -euo pipefail`."""
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert sum(kind == "bash runnable" for kind, _ in blocks) >= 6
    assert sum(kind == "python runnable" for kind, _ in blocks) >= 6
    for key in [k for k in os.environ if k.startswith("RESILIENCE_")]:
        monkeypatch.delenv(key)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spec = HubSpec(repos=(model_repo("acme/demo-model", shards=1, shard_size_bytes=100_000),), seed=11)
    with HubServer(spec, root=tmp_path / "hub") as hub:
        env = {
            **os.environ,
            "HUB": hub.url,
            "PORT": str(_free_port()),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": str(ROOT),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        namespace: dict[str, object] = {"__name__": "operations_doc"}
        for index, (kind, source) in enumerate(blocks):
            where = f"{DOC.name}[block {index}]"
            if kind == "python runnable":
                exec(compile(source, where, "exec"), namespace)  # running the documentation's own examples is the point
            elif kind == "bash runnable":
                done = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", source],
                    check=False,
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
                assert done.returncode == 0, (
                    f"{where} failed:\n{source}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
                )
            else:
                points = tomllib.loads(source)["project"]["entry-points"]
                assert list(points) == [ENTRY_POINT_GROUP]
