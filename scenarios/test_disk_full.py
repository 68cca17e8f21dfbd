"""Disk full during the model download and during pip's unpack, with the real kernel answering ENOSPC: the
installer runs as a subprocess in a private mount namespace where its target directory is a small tmpfs
(``disk.full`` backend ``tmpfs-namespace``; root, or ``unshare -rm`` as a user; skipped with the reason where
neither works).

The disk is full of leftovers of an earlier crashed install (stale ``.incomplete`` partials in the model cache,
stale ``*.tmp`` files in site-packages): space the installer may reclaim. A trial is recovered when the
install frees it, completes, and (inside the same namespace, before the tmpfs vanishes) verifies.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from chaos.faults.install import repo_folder
from chaos.targets import HubServer, PackageIndex
from scenarios.conftest import VAE_REPO, Installer
from scenarios.test_dependency_install import EXPECTED_MODULES, REQUIREMENT

MIB = 1 << 20
# Never "auto": its last resort fills the real filesystem, and the fill loop below writes until the disk refuses.
# Where no mount namespace is possible the fault raises UnsupportedFault and the trial is skipped with the reason.
BACKEND = "tmpfs-namespace"
# NO_HOST_DISK_CHECK: the tmpfs lives only in the target's namespace, so no ballast can land on the host
# filesystem; disk.full's own verify_reverted proves the mount, the namespace and its scratch are gone. The
# harness's machine-wide free-space comparison would only measure other processes sharing the disk.
# Runs inside the namespace: fill DIR with aged junk named PATTERN until the disk refuses, then run
# `install` and `verify` (the tmpfs, and all it holds, is gone once this process exits).
FILL_THEN_INSTALL = r"""
import os, sys, time
from scenarios.installer.cli import main
folder, pattern, config, expect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(folder, exist_ok=True)
chunk, index = b"\xa5" * (1 << 20), 0
try:
    while True:
        with open(os.path.join(folder, pattern.format(index)), "wb") as handle:
            for _ in range(4):
                handle.write(chunk)
        index += 1
except OSError:
    pass
aged = time.time() - 7200
for name in os.listdir(folder):
    os.utime(os.path.join(folder, name), (aged, aged))
code = main(["install", "--config", config])
missing = [path for path in expect if not os.path.exists(path)]
if missing:
    print("missing after install:", missing, file=sys.stderr)
sys.exit(code or (3 if missing else main(["verify", "--config", config])))
"""


def _run_filled(
    installer: Installer, fault: Any, folder: str, pattern: str, *, expect: tuple[str, ...] = (), **env: str
) -> Any:
    argv = [sys.executable, "-c", FILL_THEN_INSTALL, folder, pattern, str(installer.config_path), *expect]
    return installer.run_cli(argv=argv, wrap=[fault], env=env)


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
def test_disk_full_during_model_download(chaos: Any, installer: Installer, chaos_hub: HubServer) -> None:
    """The model cache is full of stale partials; the install reclaims them, downloads and verifies."""
    installer.config([chaos_hub.url])
    installer.watch()  # see NO_HOST_DISK_CHECK
    installer.models_dir.mkdir(parents=True)
    # ensure_model keeps a 64 MiB reserve free beyond the download: the tmpfs must be bigger than that.
    size_bytes = (72 + chaos.rng.randrange(0, 8)) * MIB
    blobs = installer.models_dir / repo_folder(VAE_REPO) / "blobs"
    with chaos.inject(
        "disk.full",
        path=str(installer.models_dir),
        free_bytes=size_bytes,
        backend=BACKEND,
        target={"kind": "subprocess"},
    ) as fault:
        result = _run_filled(installer, fault, str(blobs), "{:064x}.0badf00d.incomplete")
    chaos.note("install", returncode=result.returncode, outs=result.outs, backend=fault.backend)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.out.get("ok") is True, result.out


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
def test_disk_full_during_pip_unpack(
    chaos: Any, installer: Installer, chaos_hub: HubServer, chaos_index: PackageIndex
) -> None:
    """site-packages is full of stale temp files: pip's unpack meets ENOSPC, the runtime's disk strategy
    (cleanup root: site-packages) removes them, and pip's retry installs every requirement."""
    installer.config([chaos_hub.url], requirements=[REQUIREMENT], index_url=chaos_index.url)
    installer.watch()  # see NO_HOST_DISK_CHECK
    installer.site_dir.mkdir(parents=True)
    size_bytes = (2 + chaos.rng.randrange(0, 3)) * MIB  # the unpacked tree needs ~0.8 MB of it
    expect = tuple(str(installer.site_dir / module) for module in EXPECTED_MODULES)
    with chaos.inject(
        "disk.full", path=str(installer.site_dir), free_bytes=size_bytes, backend=BACKEND, target={"kind": "subprocess"}
    ) as fault:
        result = _run_filled(
            installer,
            fault,
            str(installer.site_dir),
            "stale-{:08x}.tmp",
            expect=expect,
            RESILIENCE_RECOVERY_CLEANUP_ROOTS=str(installer.site_dir),
        )
    chaos.note("install", returncode=result.returncode, outs=result.outs, backend=fault.backend)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.outs[0].get("outcome") == "recovered", f"pip never met the full disk: {result.outs[0]}"
    assert result.out.get("ok") is True, result.out
