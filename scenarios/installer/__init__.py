"""The reference installer: a small but real installer for a WAN-like app, embedding resilience_core.

``python -m scenarios.installer install|verify|gc|status --config app.toml`` (see :mod:`.cli`); the chaos
scenarios break it with real faults, and ``docs/embedding.md`` walks through it as the worked example.
"""

from __future__ import annotations

from scenarios.installer.app import InstallFailed, InstallReport, gc_models, install, model_status, verify_models
from scenarios.installer.config import AppConfig, ModelRef, load_config
from scenarios.installer.firstload import OutOfMemoryError, first_load

__all__ = [
    "AppConfig",
    "InstallFailed",
    "InstallReport",
    "ModelRef",
    "OutOfMemoryError",
    "first_load",
    "gc_models",
    "install",
    "load_config",
    "model_status",
    "verify_models",
]
