"""The installer end to end with real pip and a real hub: install, verify, status, gc, repair, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaos.targets import HubServer, PackageIndex
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime
from scenarios.installer import InstallFailed, install, load_config
from scenarios.installer.cli import main

REPO = "acme/wan-mini"
SHARD = "diffusion_pytorch_model-00001-of-00002.safetensors"
ROOT = Path(__file__).resolve().parents[4]
MIB = 1 << 20


def _cli(command: str, config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, INSTALLER_FAKE_VRAM_TOTAL=str(8 * MIB), INSTALLER_FAKE_VRAM_FREE=str(6 * MIB))
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.installer", command, "--config", str(config), *extra],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    out = json.loads(done.stdout.splitlines()[-1]) if done.stdout.strip() else {}
    return done.returncode, out, done.stderr


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out.splitlines()[-1])


@pytest.mark.slow
def test_install_verify_status_gc(
    hub: HubServer,
    index: PackageIndex,
    write_config: Callable[..., Path],
    fake_vram: Callable[[int, int], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """install (pip + models + degraded first load) -> verify ok -> corrupt -> verify fails -> install repairs."""
    config = write_config(hub.url, index_url=index.url, requirements=["wan-app==1.0.0"])
    code, out, err = _cli("install", config)  # the real command line, in its own process
    assert code == 0, err
    assert out["outcome"] == "recovered_degraded"
    manifest = out["manifest"]
    assert manifest["batch_size"] < manifest["requested_batch_size"] == 8
    assert (tmp_path / "install" / "site-packages" / "wan_app").is_dir()
    assert json.loads((tmp_path / "install" / "install-manifest.json").read_text())["batch_size"] == 2
    logs = (tmp_path / "install" / "logs" / "install.jsonl").read_text().splitlines()
    assert {json.loads(line)["context"].get("event") for line in logs} >= {"preflight", "install_complete"}

    fake_vram(8 * MIB, 6 * MIB)
    assert _main(capsys, "verify", "--config", str(config))[0] == 0
    blob = (Path(manifest["models"][0]["path"]) / SHARD).resolve()
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    code, out = _main(capsys, "verify", "--config", str(config))
    assert code == 1
    assert out["models"][0]["mismatched"][0]["path"] == SHARD

    code, out = _main(capsys, "install", "--config", str(config))
    assert code == 0
    assert _main(capsys, "verify", "--config", str(config))[0] == 0
    code, out = _main(capsys, "status", "--config", str(config))
    assert out["models"][0]["state"] == "complete"
    assert out["installed"] is True
    code, out = _main(capsys, "gc", "--config", str(config), "--dry-run")
    assert code == 0
    assert out["dry_run"] is True


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{not json", "must be valid JSON"),
        (json.dumps({"install_dir": "x", "endpoints": ["http://127.0.0.1:1"]}), "models=None"),
        (
            json.dumps({"install_dir": "x", "endpoints": ["ftp://h"], "models": [{"repo_id": "a/b"}]}),
            "endpoints[0]='ftp://h'",
        ),
        (
            json.dumps({"install_dir": "x", "endpoints": ["http://h:1"], "models": [{"repo_id": "a/b"}], "bogus": 1}),
            "bogus",
        ),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, body: str, needle: str) -> None:
    """A bad config file exits 2 with one stderr line naming the key and the fix, and installs nothing."""
    config = tmp_path / "app.json"
    config.write_text(body)
    code, _, err = _cli("install", config)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert needle in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_failed_dependency_install_rolls_back(
    hub: HubServer,
    index: PackageIndex,
    write_config: Callable[..., Path],
    fake_vram: Callable[[int, int], None],
    tmp_path: Path,
) -> None:
    """A requirement no index has fails the install cleanly: the previous manifest and packages are restored."""
    fake_vram(64 * MIB, 64 * MIB)
    install(load_config(write_config(hub.url)), runtime=Runtime(clock=FakeClock()))
    manifest = tmp_path / "install" / "install-manifest.json"
    before = manifest.read_bytes()
    config = load_config(write_config(hub.url, index_url=index.url, requirements=["no-such-package==9.9"]))
    with pytest.raises(InstallFailed) as caught:
        install(config, runtime=Runtime(clock=FakeClock()))
    assert caught.value.step == "dependencies"
    assert caught.value.rolled_back
    assert manifest.read_bytes() == before
    assert not any((tmp_path / "install" / "site-packages").glob("*"))


def test_unknown_model_fails_clean(
    hub: HubServer, write_config: Callable[..., Path], fake_vram: Callable[[int, int], None], tmp_path: Path
) -> None:
    """An unknown repository fails at the models step with the repo named; no manifest, no model files."""
    fake_vram(64 * MIB, 64 * MIB)
    config = load_config(write_config(hub.url, models=[{"repo_id": "acme/missing"}]))
    with pytest.raises(InstallFailed, match="acme/missing") as caught:
        install(config, runtime=Runtime(clock=FakeClock()))
    assert caught.value.step == "models"
    assert not (tmp_path / "install" / "install-manifest.json").exists()
    assert not [p for p in (tmp_path / "install" / "models").rglob("*") if p.is_file()]
