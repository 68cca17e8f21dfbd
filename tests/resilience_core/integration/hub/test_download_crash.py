"""SIGKILL at random instants during ensure_model never corrupts the cache, and the next run resumes."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from chaos.targets import HubServer, HubSpec, model_repo
from resilience_core.hub import ensure_model, verify_model
from resilience_core.hub.maintenance import gc
from resilience_core.recovery.clock import FakeClock
from resilience_core.recovery.runtime import Runtime

REPO = "acme/crash-mini"
KILLS = 20
RATE_BYTES_PER_S = 160_000  # the hub sends 8 kB slices; a kill wastes about one: 20 kills ~5% of the repo
DELAY_S = (0.3, 0.9)  # 20 kills land across about the first 60% of the download


def partials(cache: Path) -> list[Path]:
    """Files a killed download leaves to resume from (ours) or to discard (huggingface_hub's)."""
    return [p for p in cache.rglob("*") if p.name.endswith((".part", ".part.json", ".incomplete"))]


def run_and_kill(hub: HubServer, cache: Path, rng: random.Random) -> None:
    """Fork a child running ensure_model, SIGKILL it after a random delay, reap it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=Runtime(clock=FakeClock()))
        finally:
            os._exit(0)
    time.sleep(rng.uniform(*DELAY_S))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the download ended before it was killed"


@pytest.mark.slow
def test_sigkill_during_download_then_rerun_gives_identical_files_and_resumes(tmp_path: Path) -> None:
    """20 SIGKILLs mid-download, then a rerun: verified, byte-identical, no leftovers, <= 1.1x the bytes."""
    spec = HubSpec(repos=(model_repo(REPO, shards=2, shard_size_bytes=1_500_000),), seed=11)
    cache = tmp_path / "cache"
    rng = random.Random(20261122)
    with HubServer(spec, root=tmp_path / "hub", cdn=False) as hub:
        repo_bytes = sum(f.size_bytes for f in hub.files(REPO).values())
        # Warm up the lazy imports before the forks, so each child starts downloading at once.
        ensure_model(REPO, "main", sources=[hub.url], cache_dir=tmp_path / "warm", runtime=Runtime(clock=FakeClock()))
        hub.reset_counters()
        hub.throttle(RATE_BYTES_PER_S)
        mid_file = 0
        for _ in range(KILLS):
            run_and_kill(hub, cache, rng)
            parts = [p for p in partials(cache) if p.name.endswith(".part")]
            mid_file += any(p.stat().st_size > 0 for p in parts)
            # A kill never leaves a blob that is not fully verified.
            for blob in (cache / "models--acme--crash-mini" / "blobs").glob("*"):
                if not blob.name.endswith((".part", ".part.json", ".incomplete")):
                    assert any(blob.read_bytes() == f.read_bytes() for f in hub.files(REPO).values()), blob.name
        assert mid_file >= KILLS // 2, f"only {mid_file} of {KILLS} kills landed mid-file"
        hub.throttle(None)
        result = ensure_model(REPO, "main", sources=[hub.url], cache_dir=cache, runtime=Runtime(clock=FakeClock()))
        served = hub.total_served_bytes()
        files = hub.files(REPO)
        assert verify_model(REPO, "main", cache_dir=cache).ok
        for path, generated in files.items():
            assert (result.path / path).read_bytes() == generated.read_bytes(), path
    assert partials(cache) == []
    # Lock files stay after any run (as with huggingface_hub), but none is held: a SIGKILLed holder released its
    # lock with its process, so gc sweeps every one and skips none.
    report = gc(cache, repo_id=REPO)
    assert report.skipped_locked == ()
    assert list(cache.rglob("*.lock")) == []
    assert verify_model(REPO, "main", cache_dir=cache).ok
    assert served <= 1.1 * repo_bytes, f"served {served} bytes for a {repo_bytes}-byte repo"
