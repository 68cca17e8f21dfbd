"""Corrupted model files after a download: ``verify`` detects every mode of ``file.corrupt``, and the next
``install`` (``ensure_model``) repairs the file (DESIGN §7: corrupted files 100 % detected).

Each trial installs the VAE, damages one installed file in place with a seeded mode and offset, then checks
that ``verify`` reports it and that a second install fetches a good copy: afterwards every file verifies.
"""

from __future__ import annotations

from typing import Any

import pytest

from chaos.faults.corrupt import MODES
from chaos.faults.install import repo_folder
from chaos.targets import HubServer
from scenarios.conftest import VAE_REPO, Installer

# Modes that only make sense for one kind of file; the rest hit a seeded choice of weights or config.
GLOB_FOR_MODE = {"bad_json": "*.json", "bad_safetensors_header": "*.safetensors"}


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
@pytest.mark.parametrize("mode", MODES)
def test_corrupted_file_is_detected_and_repaired(
    chaos: Any, installer: Installer, chaos_hub: HubServer, mode: str
) -> None:
    """verify finds the damaged file; the next install repairs it; then every file verifies."""
    config = installer.config([chaos_hub.url])
    installer.watch()
    installer.install(config)
    snapshots = installer.models_dir / repo_folder(VAE_REPO) / "snapshots"
    glob = GLOB_FOR_MODE.get(mode) or chaos.rng.choice(["*.safetensors", "*.json"])
    with chaos.inject("file.corrupt", root=str(snapshots), glob=f"*/{glob}", mode=mode, when="before") as fault:
        problems = installer.verify(config)
    chaos.note("detected", problems=problems)
    assert fault.triggered, f"file.corrupt {mode} found nothing to damage under {snapshots}"
    assert problems, f"verify did not detect the {mode} damage"
    report = installer.install(config)
    chaos.note("repair", outcome=report.outcome)
    assert installer.verify(config) == []
