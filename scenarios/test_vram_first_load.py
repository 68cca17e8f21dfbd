"""VRAM exhaustion at the first load: the installer's first-load check meets an out-of-memory error, the
runtime's degrade strategy halves ``batch_size`` until the model fits, and the install ends
``recovered_degraded`` with the reduced batch size in its manifest.

The GPU is the fake one of ``vram.exhaust`` (fake NVML in-process, no GPU needed), with a seeded amount of
free memory: enough for the weights plus one to three samples of activations, never for the requested eight.
"""

from __future__ import annotations

from typing import Any

import pytest

from chaos.targets import HubServer
from scenarios.conftest import VAE_REPO, Installer

MIB = 1 << 20


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
def test_vram_exhaustion_at_first_load_degrades_batch_size(
    chaos: Any, installer: Installer, chaos_hub: HubServer
) -> None:
    """The install completes with a smaller batch size and is classified recovered_degraded."""
    config = installer.config([chaos_hub.url])  # batch_size 8, 1 MiB of activations per sample
    installer.watch()
    weights_bytes = chaos_hub.file(VAE_REPO, "diffusion_pytorch_model.safetensors").size_bytes
    samples = chaos.rng.randint(1, 3)
    free_bytes = weights_bytes + samples * MIB + MIB // 2
    with chaos.inject("vram.exhaust", free_bytes=free_bytes, total_bytes=8 << 30, backend="fake"):
        report = installer.install(config)
    chaos.note("first_load", batch_size=report.manifest["batch_size"], free_bytes=free_bytes)
    assert report.outcome == "recovered_degraded"
    assert report.manifest["batch_size"] < report.manifest["requested_batch_size"]
    assert report.manifest["batch_size"] <= samples
