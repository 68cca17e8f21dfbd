"""Dependency install through the proxy with a network fault: real pip (``--retries 0``: retrying is the
runtime's job) installs ``wan-app`` and its dependency tree from the local index while the ``index`` proxy
goes down for a while, or resets connections after a seeded number of bytes for a while.

A trial is recovered when the install completes and every requirement is importable from the app's
``site-packages`` at the version the index serves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from chaos.targets import HubServer
from scenarios.conftest import Installer, after_first_failure, under_fault

REQUIREMENT = "wan-app==1.0.0"
EXPECTED_MODULES = ("wan_app", "wan_pipeline", "wan_utils", "tiny_tensor")
# kind -> (fault, params, seconds it stays armed after pip's first failure). pip takes ~0.5 s to start, so
# the fault is held until the runtime has seen pip fail once, then for the drawn extra time.
FAULTS: dict[str, tuple[str, Callable[[random.Random], dict[str, Any]], Callable[[random.Random], float]]] = {
    "down": ("network.down", lambda rng: {}, lambda rng: rng.uniform(0.0, 1.0)),
    "reset_peer": (
        "network.reset_peer",
        lambda rng: {"after_bytes": rng.randrange(1_000, 100_000)},
        lambda rng: rng.uniform(0.0, 0.5),
    ),
}
MAX_HOLD_S = 30.0


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
@pytest.mark.parametrize("kind", list(FAULTS))
def test_pip_install_through_faulty_proxy(
    chaos: Any, installer: Installer, chaos_hub: HubServer, index_proxy: Any, kind: str
) -> None:
    """pip fails while the index link is broken; the runtime retries it and the requirements install."""
    index_url = f"http://{index_proxy.listen}/simple/"
    config = installer.config([chaos_hub.url], requirements=[REQUIREMENT], index_url=index_url)
    installer.watch()
    name, draw, window = FAULTS[kind]
    until = after_first_failure(chaos, window(chaos.rng))
    report = under_fault(
        chaos, name, lambda: installer.install(config), proxy="index", hold_s=MAX_HOLD_S, until=until, **draw(chaos.rng)
    )
    chaos.note("install", outcome=report.outcome, failures=report.failures)
    missing = [module for module in EXPECTED_MODULES if not (installer.site_dir / module).is_dir()]
    assert not missing, f"not installed into {installer.site_dir}: {missing}"
