"""SIGKILL mid-install, then a rerun: the installer process is killed (with its children) once a seeded number
of bytes of the 8 MB model are on disk; the rerun resumes from the partial files, completes, and every file
verifies. Nothing the killed run left (partials, lock files, a pending snapshot) may stop or corrupt the rerun.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from scenarios.conftest import T2V_REPO, Installer

MIB = 1 << 20


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
def test_sigkill_mid_install_then_rerun(chaos: Any, installer: Installer, hub_proxy: Any) -> None:
    """The killed install leaves no manifest; the rerun completes and every file verifies."""
    config = installer.config([f"http://{hub_proxy.listen}"], models=[T2V_REPO])
    installer.watch(resumable_partials=True)
    installer.models_dir.mkdir(parents=True, exist_ok=True)
    after_bytes = chaos.rng.randrange(256 * 1024, 7 * MIB)
    # A 4 MB/s link: the 8 MB download takes ~2 s, so the byte-count watcher has time to strike mid-file.
    with chaos.inject("network.bandwidth", proxy="hub", rate_kbps=4_000):
        first = installer.start(installer.command(), installer.env())
        with chaos.inject(
            "process.kill", target={"popen": first}, after_bytes=after_bytes, watch_path=str(installer.models_dir)
        ) as kill:
            _out, err = first.communicate(timeout=120)
    chaos.note("killed", after_bytes=after_bytes, returncode=first.returncode)
    assert kill.triggered, f"the install ended (rc {first.returncode}) before {after_bytes} bytes were written: {err}"
    assert first.returncode == -signal.SIGKILL
    assert not config.manifest_path.exists()
    rerun = installer.run_cli("install")
    chaos.note("rerun", returncode=rerun.returncode, outcome=rerun.out.get("outcome"))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert installer.verify(config) == []
