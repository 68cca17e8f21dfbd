"""ensure_model sends huggingface_hub's token by default (never to the CDN), and a hub that stays down gives up
within the configured deadline: the runtime owns the retries, nothing underneath adds its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.targets import HubServer, HubSpec, model_repo
from resilience_core import RecoveryFailed, ReliabilityConfig, Runtime
from resilience_core.hub import ModelNotFoundError, ensure_model

REPO = "acme/gated"
TOKEN = "hf_local_secret_123"


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub (with a CDN for LFS files) that answers 401 GatedRepo unless the request carries TOKEN."""
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=8192),), seed=2)
    with HubServer(spec, root=tmp_path_factory.mktemp("gated"), cdn=True, token=TOKEN) as server:
        yield server


def test_hf_token_from_the_environment_is_sent_by_default(
    gated: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HF_TOKEN set and no token= argument, ensure_model installs the gated repo; the CDN never sees it."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    gated.reset_counters()
    result = ensure_model(REPO, sources=[gated.url], cache_dir=tmp_path / "cache")
    assert (result.path / "config.json").read_bytes() == gated.file(REPO, "config.json").read_bytes()
    hub_requests = [r for r in gated.requests if r.server == "hub"]
    cdn_requests = [r for r in gated.requests if r.server == "cdn"]
    assert hub_requests
    assert all(r.authorized for r in hub_requests)
    assert cdn_requests  # the shard came from the CDN ...
    assert not any(r.authorized for r in cdn_requests)  # ... without the token


def test_token_false_opts_out(gated: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """token=False sends nothing even with HF_TOKEN set: the gated repo is refused with a line naming the fix."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(ModelNotFoundError, match=r"needs an access token.*HF_TOKEN"):
        ensure_model(REPO, sources=[gated.url], cache_dir=tmp_path / "cache", token=False)


def test_a_wrong_token_gets_the_error_that_says_how_to_set_one(gated: HubServer, tmp_path: Path) -> None:
    """A token the hub refuses: one ModelNotFoundError that says to export HF_TOKEN or log in."""
    with pytest.raises(ModelNotFoundError, match="hf auth login"):
        ensure_model(REPO, sources=[gated.url], cache_dir=tmp_path / "cache", token="hf_wrong")


def test_the_token_stored_by_hf_auth_login_is_used(gated: HubServer, tmp_path: Path) -> None:
    """In a fresh process whose HF_HOME holds a stored token (and no HF_TOKEN), ensure_model installs the repo."""
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text(TOKEN)  # where `hf auth login` writes it
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")}
    env |= {"HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    script = (
        "import json, sys\n"
        "from resilience_core.hub import ensure_model\n"
        "r = ensure_model(sys.argv[1], sources=[sys.argv[2]], cache_dir=sys.argv[3])\n"
        "print(json.dumps({'files': r.files, 'commit': r.commit}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, REPO, gated.url, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["commit"] == gated.commit(REPO)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there now: every connect is refused at once


@pytest.mark.parametrize("deadline_s", [3.0])
def test_a_hub_that_stays_down_gives_up_within_the_deadline(tmp_path: Path, deadline_s: float) -> None:
    """A closed hub port, the real client, a real clock: the runtime retries (more than one attempt) and gives up
    within 1.2x timeouts.model_download_seconds; no library retry loop stacks on top of its own."""
    config = ReliabilityConfig.from_mapping({"timeouts": {"model_download_seconds": deadline_s}}, env={})
    runtime = Runtime(config=config)
    started = time.monotonic()
    with pytest.raises(RecoveryFailed) as caught:
        ensure_model(REPO, sources=[f"http://127.0.0.1:{_closed_port()}"], cache_dir=tmp_path, runtime=runtime)
    elapsed_s = time.monotonic() - started
    assert caught.value.context.failure_type.value == "network_connectivity_loss"
    assert caught.value.context.attempt >= 2
    assert elapsed_s <= 1.2 * deadline_s, f"gave up after {elapsed_s:.2f} s, deadline {deadline_s} s"
