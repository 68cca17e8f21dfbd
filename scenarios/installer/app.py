"""The installer's four commands, embedding :class:`resilience_core.recovery.runtime.Runtime` (the worked example).

``install``: preflight -> snapshot -> pip requirements (``dependency_install``) -> ensure each model
(``model_download`` / ``model_validation``) -> first load (``model_loading``; VRAM OOM degrades batch_size)
-> install manifest (atomic). Any unrecoverable failure after the snapshot restores it (the manifest and the
installed packages go back to how they were); partial model downloads stay, so the next run resumes them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resilience_core.errors import ConfigError, RecoveryFailed
from resilience_core.recovery.runtime import Runtime
from resilience_core.recovery.strategies.rollback import RollbackStrategy
from resilience_core.recovery.taxonomy import FailureEvent, RecoveredEvent, RecoveryEvent
from resilience_core.state.logs import JsonLogHandler, RecoveryLogHook, StructuredLogger, get_logger
from resilience_core.state.snapshot import StateStore
from scenarios.installer.config import AppConfig
from scenarios.installer.deps import pip_install
from scenarios.installer.firstload import first_load
from scenarios.installer.manifest import read_manifest, write_manifest
from scenarios.installer.system import probe_vram, run_preflight

__all__ = ["InstallFailed", "InstallReport", "gc_models", "install", "model_status", "verify_models"]


class InstallFailed(RuntimeError):
    """The install could not complete; ``rolled_back`` says whether the snapshot was restored."""

    def __init__(self, message: str, *, step: str, rolled_back: bool) -> None:
        super().__init__(message)
        self.step = step
        self.rolled_back = rolled_back


@dataclass
class InstallReport:
    """What ``install`` did: the outcome (``ok``, ``recovered``, ``recovered_degraded``) and the manifest."""

    outcome: str
    manifest: dict[str, Any]
    failures: int = 0
    degraded: bool = False
    steps: list[str] = field(default_factory=list)


def _logger(config: AppConfig) -> tuple[StructuredLogger, Callable[[], None]]:
    base = logging.getLogger(f"installer.{config.name}")
    base.setLevel(logging.INFO)
    base.propagate = False
    handler = JsonLogHandler(config.logs_dir / "install.jsonl", max_bytes=5 << 20, backup_count=3)
    base.addHandler(handler)

    def close() -> None:
        base.removeHandler(handler)
        handler.close()

    return get_logger(base.name, app=config.name), close


def install(config: AppConfig, *, runtime: Runtime | None = None) -> InstallReport:
    """Run the whole install; raise :class:`InstallFailed` (after rolling back) when it cannot complete.

    A ``runtime`` you pass gets this install's log and report hooks and the rollback strategy added: give
    each install its own Runtime.
    """
    from resilience_core.hub import ensure_model

    try:
        config.install_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a path under /proc, a file in the way, no permission: the config's to fix
        raise ConfigError(
            f"install_dir={str(config.install_dir)!r} cannot be created ({error.strerror or error}); "
            "fix: set install_dir to a folder you can write",
            field="install_dir",
            value=str(config.install_dir),
            source="config",
            allowed="a writable folder",
        ) from None
    log, close_log = _logger(config)
    events: list[RecoveryEvent] = []
    rt = runtime if runtime is not None else Runtime()
    rt.add_hook(RecoveryLogHook(log.bind(component="recovery")))
    rt.add_hook(events.append)
    report = InstallReport(outcome="ok", manifest={})
    step = "preflight"
    store: StateStore | None = None
    snapshot_id = ""
    try:
        system = run_preflight(config)
        log.info("preflight passed", event="preflight", **system)
        store = StateStore(config.state_dir, roots=[config.site_dir, config.manifest_path])
        snapshot_id = store.snapshot([config.site_dir, config.manifest_path], label="before-install").id
        rt.register(RollbackStrategy(store=store, snapshot_id=snapshot_id))
        log.info("snapshot taken", event="snapshot", snapshot_id=snapshot_id)

        step = "dependencies"
        if config.requirements and config.index_url:
            rt.run(
                pip_install,
                config.requirements,
                operation="dependency_install",
                index_url=config.index_url,
                target=config.site_dir,
                timeout_s=config.timeout_s,
            )
            log.info("requirements installed", event="dependencies", requirements=list(config.requirements))
        report.steps.append(step)

        step = "models"
        models = []
        for ref in config.models:
            result = ensure_model(
                ref.repo_id,
                ref.revision,
                sources=config.sources,
                cache_dir=config.models_dir,
                runtime=rt,
                timeout_s=config.timeout_s,
            )
            models.append(result)
            log.info(
                "model ensured",
                event="model_ensured",
                repo_id=ref.repo_id,
                commit=result.commit,
                downloaded_bytes=result.downloaded_bytes,
                resumed_files=result.resumed_files,
                repaired=list(result.repaired),
            )
        report.steps.append(step)

        step = "first_load"
        vram = probe_vram()
        plan = rt.run(
            first_load,
            operation="model_loading",
            params={"batch_size": config.batch_size},
            folders=[m.path for m in models],
            activation_bytes_per_sample=config.activation_bytes_per_sample,
            vram_total_bytes=vram.total_bytes if vram else None,
            vram_free_bytes=vram.free_bytes if vram else None,
        )
        log.info("first load fits", event="first_load", batch_size=plan.batch_size, weights_bytes=plan.weights_bytes)
        report.steps.append(step)

        step = "manifest"
        report.degraded = any(isinstance(e, RecoveredEvent) and e.degraded for e in events)
        report.failures = sum(isinstance(e, FailureEvent) for e in events)
        report.outcome = "recovered_degraded" if report.degraded else "recovered" if report.failures else "ok"
        manifest = {
            "name": config.name,
            "installed_at": time.time(),
            "outcome": report.outcome,
            "requested_batch_size": config.batch_size,
            "batch_size": plan.batch_size,
            "weights_bytes": plan.weights_bytes,
            "vram": {"free_bytes": vram.free_bytes, "total_bytes": vram.total_bytes, "source": vram.source}
            if vram
            else None,
            "requirements": list(config.requirements),
            "index_url": config.index_url,
            "models": [
                {
                    "repo_id": m.repo_id,
                    "revision": m.revision,
                    "commit": m.commit,
                    "path": str(m.path),
                    "files": m.files,
                    "total_bytes": m.total_bytes,
                }
                for m in models
            ],
        }
        write_manifest(config.manifest_path, manifest)
        report.manifest = manifest
        report.steps.append(step)
        store.prune(keep=3)
        log.info("install complete", event="install_complete", outcome=report.outcome)
        return report
    except Exception as error:
        rolled_back = False
        if store is not None and snapshot_id:
            store.restore(snapshot_id)
            rolled_back = True
        detail = error.user_message if isinstance(error, RecoveryFailed) else str(error)
        log.error(
            "install failed",
            event="install_failed",
            step=step,
            error=f"{type(error).__name__}: {error}",
            rolled_back=rolled_back,
        )
        message = f"install failed at step {step!r}: {detail}" + (" (rolled back)" if rolled_back else "")
        raise InstallFailed(message, step=step, rolled_back=rolled_back) from error
    finally:
        close_log()


def verify_models(config: AppConfig) -> list[dict[str, Any]]:
    """``verify_model`` for every model of the config; one dict per model (``ok``, mismatches, missing)."""
    from resilience_core.hub import verify_model

    out = []
    for ref in config.models:
        result = verify_model(ref.repo_id, ref.revision, cache_dir=config.models_dir)
        out.append(
            {
                "repo_id": ref.repo_id,
                "revision": ref.revision,
                "installed": result.installed,
                "ok": result.ok,
                "checked_files": result.checked_files,
                "mismatched": [{"path": m.path, "reason": m.reason} for m in result.report.mismatched],
                "missing": list(result.report.missing),
            }
        )
    return out


def gc_models(config: AppConfig, *, dry_run: bool = False, unreferenced: bool = False) -> dict[str, Any]:
    """Remove orphaned temp files and unheld locks from the model cache (and unreferenced blobs on request)."""
    from resilience_core.hub import gc

    report = gc(config.models_dir, unreferenced_blobs=unreferenced, dry_run=dry_run)
    return {
        "dry_run": report.dry_run,
        "removed": [str(p) for p in report.removed],
        "freed_bytes": report.freed_bytes,
        "skipped_locked": [str(p) for p in report.skipped_locked],
    }


def model_status(config: AppConfig) -> dict[str, Any]:
    """The install manifest's summary and each model's state on disk (sizes only)."""
    from resilience_core.hub import status

    manifest = read_manifest(config.manifest_path)
    states = [s for ref in config.models for s in status(config.models_dir, repo_id=ref.repo_id, revision=ref.revision)]
    models = [
        {
            "repo_id": state.repo_id,
            "revision": state.revision,
            "state": state.state.value,
            "files": f"{state.files_present}/{state.files_total}",
            "bytes_present": state.bytes_present,
            "bytes_total": state.bytes_total,
            "partial_bytes": state.partial_bytes,
        }
        for state in states
    ]
    return {
        "installed": manifest is not None,
        "outcome": manifest.get("outcome") if manifest else None,
        "batch_size": manifest.get("batch_size") if manifest else None,
        "models": models,
    }
