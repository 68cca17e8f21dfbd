"""Fixtures shared by the shipped chaos scenarios: the local hub, its mirror and the package index behind the
session's embedded proxy, and :class:`Installer`, one trial's handle on the reference installer.

Every scenario breaks the *real* reference installer (``scenarios.installer``): in-process where that is
fastest, as ``python -m scenarios.installer`` where the fault needs a process of its own (SIGKILL, a tmpfs in a
private mount namespace). Retry backoff is shortened (50 ms base) so a campaign fits in minutes; nothing else
about the runtime is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chaos.targets import HubServer, HubSpec, IndexSpec, PackageIndex
from resilience_core import ReliabilityConfig, Runtime
from scenarios.installer import InstallReport, install, verify_models
from scenarios.installer.config import AppConfig, from_mapping

# huggingface_hub reads these at import (the baseline scenario imports it lazily, after this).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent
VAE_REPO = "wan-ai/wan-mini-vae"  # config + one 1.5 MB safetensors file: the small model most scenarios fetch
T2V_REPO = "wan-ai/wan-mini-t2v"  # 8 MB in three shards: for faults that need a transfer long enough to hit
# Short backoff so a campaign fits in minutes; the strategies and attempt limits are the runtime's own.
FAST_RETRY: dict[str, Any] = {"retry": {"base_delay_seconds": 0.05, "max_delay_seconds": 0.5, "max_retries": 8}}
FAST_RETRY_ENV = {
    "RESILIENCE_RETRY_BASE_DELAY_SECONDS": "0.05",
    "RESILIENCE_RETRY_MAX_DELAY_SECONDS": "0.5",
    "RESILIENCE_RETRY_MAX_RETRIES": "8",
}
RESUMABLE_PARTIALS = ("*.part",)  # hub partials kept on purpose after a network failure: the next run resumes


# -- session targets -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chaos_hub_spec() -> HubSpec:
    """The repos of scenarios/hub_repos.toml (a WAN-like t2v model and its VAE)."""
    return HubSpec.from_toml(SCENARIOS / "hub_repos.toml")


@pytest.fixture(scope="session")
def chaos_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """pypiserver over the packages of scenarios/index_packages.toml (wan-app and its dependencies)."""
    spec = IndexSpec.from_toml(SCENARIOS / "index_packages.toml")
    with PackageIndex(spec, root=tmp_path_factory.mktemp("chaos-index")) as index:
        yield index


@pytest.fixture(scope="session")
def hub_proxy(chaos_proxy: Any, chaos_hub: HubServer) -> Any:
    """The proxy named ``hub`` in front of the local hub; network faults act on it by that name."""
    return chaos_proxy.create_proxy("hub", upstream=f"127.0.0.1:{chaos_hub.port}", listen="127.0.0.1:0")


@pytest.fixture(scope="session")
def index_proxy(chaos_proxy: Any, chaos_index: PackageIndex) -> Any:
    """The proxy named ``index`` in front of the package index."""
    upstream = chaos_index.url.split("//", 1)[1].split("/", 1)[0]
    return chaos_proxy.create_proxy("index", upstream=upstream, listen="127.0.0.1:0")


@pytest.fixture(scope="session")
def hub_mirror(chaos_hub: HubServer) -> Iterator[Any]:
    """A second hub serving the same bytes and commit shas (the installer's ``mirrors``)."""
    with chaos_hub.mirror() as mirror:
        yield mirror


@pytest.fixture
def installer(chaos: Any, tmp_path: Path) -> Installer:
    """This trial's handle on the reference installer, writing under ``tmp_path``."""
    return Installer(chaos, tmp_path)


# -- one trial's installer ---------------------------------------------------------------------------------------


@dataclass
class CliResult:
    """What one ``python -m scenarios.installer`` run did: exit status, its JSON line, stderr."""

    returncode: int
    out: dict[str, Any]
    stderr: str
    outs: list[dict[str, Any]]


class Installer:
    """The reference installer for one trial: configs, in-process and subprocess runs, steady-state checks."""

    def __init__(self, chaos: Any, root: Path) -> None:
        self.chaos = chaos
        self.root = root
        self.install_dir = root / "install"
        self.models_dir = self.install_dir / "models"
        self.site_dir = self.install_dir / "site-packages"
        self.config_path = root / "app.json"

    def config(
        self,
        endpoints: Sequence[str],
        *,
        models: Sequence[str] = (VAE_REPO,),
        mirrors: Sequence[str] = (),
        requirements: Sequence[str] = (),
        index_url: str | None = None,
        **extra: Any,
    ) -> AppConfig:
        """An app config for this trial (also written to ``app.json`` for subprocess runs)."""
        body: dict[str, Any] = {
            "name": "wan-mini",
            "install_dir": "install",
            "batch_size": 8,
            "endpoints": list(endpoints),
            "mirrors": list(mirrors),
            "models": [{"repo_id": repo, "revision": "main"} for repo in models],
            "activation_bytes_per_sample": 1 << 20,
            "timeout_s": 2,
            **extra,
        }
        if requirements:
            body["requirements"] = list(requirements)
            body["index_url"] = index_url
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(body))
        return from_mapping(body, base_dir=self.root, source=str(self.config_path))

    def runtime(self) -> Runtime:
        """A runtime with the fast retry settings whose hooks report into the trial."""
        return Runtime(config=ReliabilityConfig.from_mapping(FAST_RETRY, env={}), hooks=[self.chaos.runtime_hook])

    def install(self, config: AppConfig) -> InstallReport:
        """Run ``install`` in-process."""
        return install(config, runtime=self.runtime())

    def verify(self, config: AppConfig) -> list[str]:
        """Problems ``verify`` finds in the installed models (hashes against the hub's); [] when all is well."""
        return [
            f"{model['repo_id']}: mismatched={model['mismatched']} missing={model['missing']}"
            for model in verify_models(config)
            if not model["ok"]
        ]

    def watch(self, *, resumable_partials: bool = False, check_disk: bool = False) -> None:
        """Check the install dir for leftovers (temp, partial, held lock files) after the trial.

        ``resumable_partials``: a hub partial (``*.part`` beside its ``*.part.json`` ETag record) left after a
        network failure is the designed resume point, not residue; an orphan one (no record) still is.
        ``check_disk``: also require free space back to baseline (off by default: no fault in these scenarios
        can leave ballast on the host filesystem, and other processes sharing it make that check noisy).
        """
        self.install_dir.mkdir(parents=True, exist_ok=True)
        ignore = RESUMABLE_PARTIALS if resumable_partials else ()
        # Not .state/snapshots: a rollback snapshot keeps copies of what site-packages held, names and all.
        for root in (self.models_dir, self.site_dir, self.install_dir / "logs", *self._state_scratch()):
            self.chaos.watch(root, ignore=ignore, check_disk=check_disk and root == self.models_dir)
        if resumable_partials:
            self.chaos.verify(self._orphan_partials)

    def _state_scratch(self) -> tuple[Path, ...]:
        return (self.install_dir / ".state" / "tmp", self.install_dir / ".state" / "pending")

    def _orphan_partials(self) -> list[str]:
        return [
            f"partial without its ETag record: {part}"
            for part in self.models_dir.rglob("*.part")
            if not part.with_name(part.name + ".json").exists()
        ]

    def verified_after(self, config: AppConfig) -> None:
        """Add a steady-state check: the installed models hash to the hub's published values."""

        def models_verify() -> list[str]:
            return self.verify(config) if config.manifest_path.exists() else []

        self.chaos.verify(models_verify)

    # -- subprocess runs ------------------------------------------------------------------------------------

    def command(self, command: str = "install") -> list[str]:
        """``python -m scenarios.installer <command> --config app.json``."""
        return [sys.executable, "-m", "scenarios.installer", command, "--config", str(self.config_path)]

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The subprocess environment: this one, the repo on PYTHONPATH, fast retries, no fake VRAM."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INSTALLER_FAKE_VRAM", "RESILIENCE_"))}
        env.update(FAST_RETRY_ENV)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        env.update(extra or {})
        return env

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        """Start a subprocess in the repo root, in its own session (a kill reaches its whole group)."""
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )

    def run_cli(
        self,
        command: str = "install",
        *,
        wrap: Sequence[Any] = (),
        env: Mapping[str, str] | None = None,
        argv: list[str] | None = None,
        timeout_s: float = 120.0,
    ) -> CliResult:
        """Run the installer CLI to its end; ``wrap`` faults wrap the command (namespace, VRAM shim)."""
        args, full_env = (argv or self.command(command)), self.env(env)
        for fault in wrap:
            args, full_env = fault.wrap_command(args, full_env)
        process = self.start(args, full_env)
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        outs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return CliResult(process.returncode, outs[-1] if outs else {}, err, outs)


# -- arming a fault for part of a step ---------------------------------------------------------------------------


def under_fault(
    chaos: Any,
    name: str,
    action: Callable[[], T],
    *,
    hold_s: float | None = None,
    until: Callable[[], bool] | None = None,
    join_timeout_s: float = 120.0,
    **params: Any,
) -> T:
    """Run ``action`` in a worker thread with fault ``name`` armed, and return its value (or raise its error).

    ``hold_s=None``: the fault stays armed until the action ends. Otherwise it is reverted after ``hold_s``
    seconds, or as soon as ``until()`` is true (the network coming back mid-step), and the action runs on.
    """
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = action()
        except BaseException as error:  # noqa: BLE001  # re-raised in the test's thread below
            result["error"] = error

    worker = threading.Thread(target=work, name=f"scenario-{name}", daemon=True)
    with chaos.inject(name, **params):
        worker.start()
        deadline = None if hold_s is None else time.monotonic() + hold_s
        while worker.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if until is not None and until():
                break
            worker.join(0.01)
    worker.join(join_timeout_s)
    if worker.is_alive():
        raise AssertionError(f"the step under {name} did not finish within {join_timeout_s} s after the revert")
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]  # set by the worker when it did not raise


def after_first_failure(chaos: Any, extra_s: float = 0.0) -> Callable[[], bool]:
    """An ``until`` for :func:`under_fault`: true ``extra_s`` seconds after the runtime reported its first
    failure in this trial (so the fault is sure to have hit the step, however long the step took to start)."""
    seen: list[float] = []

    def check() -> bool:
        if not seen and chaos.trial.failure_types:
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= extra_s

    return check
