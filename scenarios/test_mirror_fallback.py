"""The primary hub is down for the whole install; the installer's runtime switches to the mirror (same bytes,
same commit shas) and the install completes from there.
"""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.conftest import Installer


@pytest.mark.chaos(trials="auto", max_trials=40, min_recovery_rate=0.8, confidence=0.9)
def test_primary_hub_down_falls_back_to_mirror(
    chaos: Any, installer: Installer, hub_proxy: Any, hub_mirror: Any
) -> None:
    """With the hub's proxy down throughout, every file comes from the mirror and verifies."""
    config = installer.config([f"http://{hub_proxy.listen}"], mirrors=[hub_mirror.url])
    installer.watch(resumable_partials=True)
    before = len(hub_mirror.requests)
    with chaos.inject("network.down", proxy="hub"):
        report = installer.install(config)
    served = len(hub_mirror.requests) - before
    chaos.note("install", outcome=report.outcome, mirror_requests=served)
    assert served > 0, "the mirror served nothing"
    assert installer.verify(config) == []
