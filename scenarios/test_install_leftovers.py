"""Leftovers of an earlier, killed install in the model cache: a stale blob lock and an orphaned
``.incomplete`` partial (huggingface_hub's layout). The installer must neither hang on the lock nor trip over
the partial, and must collect the orphan: after the install the cache holds no temp file and every model
file verifies.
"""

from __future__ import annotations

from typing import Any

import pytest

from chaos.targets import HubServer
from scenarios.conftest import VAE_REPO, Installer

MODEL_FILE = "diffusion_pytorch_model.safetensors"
# "held" (a live peer keeps the flock) is left out: the installer then waits its full 60 s lock timeout by
# design, which is the right behaviour but too slow for a campaign.
LOCK_KINDS = ("flock", "soft_dead_pid", "soft_other_host")


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
def test_stale_lock_does_not_block_install(chaos: Any, installer: Installer, chaos_hub: HubServer) -> None:
    """A lock file left by a killed download on the very blob being installed does not stop the install."""
    config = installer.config([chaos_hub.url])
    installer.watch()
    etag = chaos_hub.file(VAE_REPO, MODEL_FILE).etag
    kind = chaos.rng.choice(LOCK_KINDS)
    with chaos.inject(
        "install.stale_lock", root=str(installer.models_dir), repo_id=VAE_REPO, etag=etag, kind=kind, age_s=7200.0
    ):
        report = installer.install(config)
    chaos.note("install", outcome=report.outcome, kind=kind)
    assert installer.verify(config) == []


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
def test_orphan_partial_is_collected(chaos: Any, installer: Installer, chaos_hub: HubServer) -> None:
    """An orphaned .incomplete blob (for the blob being installed, or another) is removed by the install."""
    config = installer.config([chaos_hub.url])
    installer.watch()
    etag = chaos.rng.choice([chaos_hub.file(VAE_REPO, MODEL_FILE).etag, ""])  # "": a seeded foreign etag
    params = {"size_bytes": chaos.rng.randrange(1 << 16, 1 << 20), "style": chaos.rng.choice(["2.x", "1.x"])}
    with chaos.inject(
        "install.orphan_partial", root=str(installer.models_dir), repo_id=VAE_REPO, etag=etag, **params
    ) as fault:
        installer.install(config)
        assert fault.path is not None
        assert not fault.path.exists(), f"the install left the orphan {fault.path.name}"
    assert installer.verify(config) == []
