"""Deploy, validate and roll back the reliability configuration (the seed's ``deploy_reliability_system.py``).

:func:`deploy` snapshots the current config and flag files with :class:`~resilience_core.state.StateStore`,
then writes the environment's preset (``reliability_config.json``, ``feature_flags.json``) atomically;
:func:`rollback` restores the newest snapshot not rolled back yet, byte for byte; :func:`validate` checks
config, flags, paths, permissions and the machine probes, and names a fix for each problem.

>>> import tempfile, pathlib
>>> site = pathlib.Path(tempfile.mkdtemp())
>>> deploy("testing", site).environment
'testing'
>>> rollback(site).restored  # the directory had no config before: the files are gone again
['reliability_config.json', 'feature_flags.json']
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience_core.errors import ConfigError, ResilienceError, SnapshotError
from resilience_core.health import HealthCheck

__all__ = [
    "CONFIG_FILE",
    "ENVIRONMENTS",
    "FLAGS_FILE",
    "DeployResult",
    "Finding",
    "RollbackResult",
    "deploy",
    "preset_config",
    "preset_flags",
    "rollback",
    "validate",
]

ENVIRONMENTS = ("development", "testing", "production")
CONFIG_FILE = "reliability_config.json"
FLAGS_FILE = "feature_flags.json"
_STATE_DIR = ".resilience/deploy"
_ROLLED_BACK = "rolled_back.json"
_LABEL = "deploy:"

_PRESETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    # Debug logging, shorter timeouts for faster testing, every experimental feature available.
    "development": {
        "features": {"reliability_level": "standard"},
        "timeouts": {"model_download_seconds": 600.0, "dependency_install_seconds": 300.0},
        "deployment": {"environment": "development", "log_level": "DEBUG", "enable_debug_mode": True},
    },
    # Minimal retries for fast test runs, basic features only, comprehensive logging.
    "testing": {
        "features": {"reliability_level": "basic"},
        "retry": {"max_retries": 1, "base_delay_seconds": 0.5},
        "deployment": {"environment": "testing", "log_level": "INFO"},
    },
    # Maximum reliability, performance monitoring, automatic cleanup.
    "production": {
        "features": {"reliability_level": "maximum"},
        "monitoring": {"enable_health_monitoring": True, "enable_performance_tracking": True},
        "recovery": {"automatic_cleanup": True},
        "deployment": {"environment": "production", "log_level": "WARNING", "enable_debug_mode": False},
    },
}


def _check_environment(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"environment={environment!r} is not a deployment environment; fix: use one of {', '.join(ENVIRONMENTS)}",
            field="environment",
            value=environment,
            source="argument",
            allowed=", ".join(ENVIRONMENTS),
        )
    return environment


def preset_config(environment: str) -> dict[str, Any]:
    """The full reliability config ``environment`` deploys (validated, JSON-ready)."""
    from resilience_core.config.reliability import ReliabilityConfig

    preset = _PRESETS[_check_environment(environment)]
    return ReliabilityConfig.from_mapping(preset, source=f"preset:{environment}", env={}).to_dict()


def preset_flags(environment: str) -> dict[str, Any]:
    """The flag file ``environment`` deploys: the shipped defaults; in development every flag at 100%."""
    import dataclasses

    from resilience_core.flags import DEFAULT_FLAGS, FeatureFlags, FlagState

    flags = dict(DEFAULT_FLAGS)
    if _check_environment(environment) == "development":
        flags = {n: dataclasses.replace(f, state=FlagState.ENABLED, rollout_percentage=100.0) for n, f in flags.items()}
    return FeatureFlags(flags).to_dict()


def _store(directory: Path) -> Any:
    from resilience_core.state.snapshot import StateStore

    return StateStore(directory / _STATE_DIR)


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, slots=True)
class DeployResult:
    """What :func:`deploy` wrote, and the snapshot that undoes it."""

    environment: str
    snapshot_id: str
    written: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """What :func:`rollback` restored, from which snapshot (taken before the deploy of ``environment``)."""

    snapshot_id: str
    environment: str
    restored: list[str]


def deploy(environment: str, directory: str | os.PathLike[str] = ".") -> DeployResult:
    """Snapshot ``directory``'s config and flag files, then write ``environment``'s presets there atomically."""
    from resilience_core.state.atomic import atomic_write

    env = _check_environment(environment)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    config, flags = preset_config(env), preset_flags(env)
    files = [root / CONFIG_FILE, root / FLAGS_FILE]
    snapshot = _store(root).snapshot(files, state={"environment": env}, label=f"{_LABEL}{env}", hash_files=True)
    atomic_write(files[0], _dump(config))
    atomic_write(files[1], _dump(flags))
    return DeployResult(env, snapshot.id, tuple(f.name for f in files))


def rollback(directory: str | os.PathLike[str] = ".") -> RollbackResult:
    """Restore the newest deploy snapshot not rolled back yet; each call goes one deploy further back."""
    from resilience_core.documents import load_json
    from resilience_core.state.atomic import atomic_write

    root = Path(directory)
    store = _store(root)
    marker = root / _STATE_DIR / _ROLLED_BACK
    try:
        done = set(load_json(marker.read_bytes(), source=os.fspath(marker)))
    except FileNotFoundError:
        done = set()
    candidates = [s for s in store.list() if s.label.startswith(_LABEL) and s.id not in done]
    if not candidates:
        raise SnapshotError(
            f"no deploy snapshot to roll back to in {root / _STATE_DIR}; fix: deploy first "
            "(`resilience deploy --environment development`); every deploy takes one"
        )
    newest = max(candidates, key=lambda s: (s.created, s.id))
    store.restore(newest.id, copy=True)
    atomic_write(marker, json.dumps(sorted(done | {newest.id})))
    return RollbackResult(newest.id, str(newest.state.get("environment", "")), [Path(r).name for r in newest.roots])


Finding = HealthCheck
"""One validation check: the same record as ``/health``'s checks (``name``, ``ok``, ``detail``, ``fix``)."""


def _file_checks(path: Path, what: str) -> list[Finding]:
    if not path.exists():
        return [
            Finding(
                f"{what}.exists", False, f"{path} does not exist", "run `resilience deploy --environment development`"
            )
        ]
    mode = path.stat().st_mode
    out = [Finding(f"{what}.exists", True, str(path))]
    if not os.access(path, os.R_OK):
        out.append(Finding(f"{what}.readable", False, f"{path} is not readable", f"chmod u+r {path}"))
    if mode & stat.S_IWOTH:
        out.append(
            Finding(
                f"{what}.permissions",
                False,
                f"{path} is writable by every user ({stat.filemode(mode)})",
                f"chmod o-w {path}",
            )
        )
    else:
        out.append(Finding(f"{what}.permissions", True, stat.filemode(mode)))
    return out


def validate(directory: str | os.PathLike[str] = ".", *, probes: bool = True) -> list[Finding]:
    """Check the deployed config and flags, the folders they need, their permissions and the machine.

    >>> import tempfile
    >>> [f.name for f in validate(tempfile.mkdtemp(), probes=False) if not f.ok]
    ['config.exists', 'flags.exists']
    """
    from resilience_core.config.reliability import load_config
    from resilience_core.flags import FeatureFlags

    root = Path(directory)
    findings: list[Finding] = []
    if root.is_dir() and os.access(root, os.W_OK | os.X_OK):
        findings.append(Finding("paths.directory", True, f"{root} is writable"))
    else:
        findings.append(
            Finding(
                "paths.directory", False, f"{root} is missing or not writable", f"mkdir -p {root} && chmod u+w {root}"
            )
        )
    logs = root / "logs"
    parent = logs if logs.exists() else root
    if os.access(parent, os.W_OK):
        findings.append(Finding("paths.logs", True, f"{logs} can be written"))
    else:
        findings.append(
            Finding("paths.logs", False, f"{logs} cannot be written", f"mkdir -p {logs} && chmod u+w {logs}")
        )
    config = None
    config_path = root / CONFIG_FILE
    findings += _file_checks(config_path, "config")
    if config_path.exists():
        try:
            config = load_config(config_path)
        except ResilienceError as error:
            findings.append(Finding("config.valid", False, str(error), "correct the value named, or redeploy"))
        else:
            level = config.features.reliability_level
            findings.append(
                Finding("config.valid", True, f"level {level}, environment {config.deployment.environment}")
            )
    flags_path = root / FLAGS_FILE
    findings += _file_checks(flags_path, "flags")
    if flags_path.exists():
        try:
            flags = FeatureFlags.load(flags_path, config=config)
        except ResilienceError as error:
            findings.append(Finding("flags.valid", False, str(error), "correct the flag named, or redeploy"))
        else:
            findings.append(Finding("flags.valid", True, f"{len(flags.flags)} flag(s)"))
    if probes:
        findings += _probe_findings(root, config)
    return findings


def _probe_findings(root: Path, config: Any) -> list[Finding]:
    try:
        import psutil  # noqa: F401 -- only whether it imports
    except ImportError:
        return [Finding("probes.psutil", False, "psutil is not installed", "pip install 'psutil>=5.9'")]
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.monitor.health import HealthService

    service = HealthService.from_config(config if config is not None else ReliabilityConfig(), disk_paths=[root])
    return [Finding(f"probes.{check.name}", check.ok, check.detail, check.fix) for check in service.checks()]
