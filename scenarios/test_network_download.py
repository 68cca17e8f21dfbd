"""Model download under each network fault, between the reference installer and the hub (DESIGN §7: network
faults during a model download are >= 99 % recovered).

The fault sits on the ``hub`` proxy in front of the local hub; the installer runs in-process and embeds the
runtime. Faults the download can make progress through (resets after N bytes, a data limit, slicing, a slow
link) stay armed for the whole install; faults that stop all progress (a hang, an outage, a corrupting link)
are armed for a seeded window and then lifted, as a flaky network comes back. A trial is recovered when the
install completes and every file verifies against the hub's published hashes.

``test_baseline_plain_hf_hub_download`` is the same fault against plain ``huggingface_hub.hf_hub_download``: the
BASELINE row of the report, expected to fail (threshold 0.0), showing what the runtime buys.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from scenarios.conftest import VAE_REPO, Installer, under_fault

MODEL_FILE = "diffusion_pytorch_model.safetensors"

# kind -> (fault name, params drawn from the trial's rng, window drawn from the rng: None = armed throughout)
Draw = Callable[[random.Random], dict[str, Any]]
NETWORK_FAULTS: dict[str, tuple[str, Draw, Callable[[random.Random], float | None]]] = {
    "reset_peer": (
        "network.reset_peer",
        lambda rng: {"after_bytes": rng.randrange(32_768, 262_144)},
        lambda rng: None,
    ),
    "timeout": (
        "network.timeout",
        lambda rng: {"timeout_ms": rng.randrange(50, 300)},
        lambda rng: rng.uniform(0.1, 0.6),
    ),
    # Outage windows stay inside the scenarios' shortened retry window (9 attempts, 50 ms base backoff, full
    # jitter: ~1.4 s of waiting on average); a longer outage ends failed_clean, correctly, after the attempts run out.
    "down": ("network.down", lambda rng: {}, lambda rng: rng.uniform(0.1, 0.6)),
    "bandwidth": ("network.bandwidth", lambda rng: {"rate_kbps": rng.randrange(3_000, 6_000)}, lambda rng: None),
    "slicer": (
        "network.slicer",
        lambda rng: {
            "average_size_bytes": rng.randrange(1_024, 8_192),
            "size_variation_bytes": rng.randrange(0, 512),
            "delay_us": rng.randrange(0, 50),
        },
        lambda rng: None,
    ),
    "limit_data": ("network.limit_data", lambda rng: {"limit_bytes": rng.randrange(65_536, 524_288)}, lambda rng: None),
    # One flipped bit per connection at a seeded body offset, lifted once that offset has crossed the link.
    "corrupt": ("network.corrupt", lambda rng: {"offset": rng.randrange(4_096, 1_000_000)}, lambda rng: 10.0),
}


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
@pytest.mark.parametrize("kind", list(NETWORK_FAULTS))
def test_model_download_under_network_fault(chaos: Any, installer: Installer, hub_proxy: Any, kind: str) -> None:
    """The install completes and every model file verifies, whatever the hub link does."""
    name, draw, window = NETWORK_FAULTS[kind]
    params, hold_s = draw(chaos.rng), window(chaos.rng)
    config = installer.config([f"http://{hub_proxy.listen}"])
    installer.watch(resumable_partials=True)
    installer.verified_after(config)
    until = None
    if kind == "corrupt":
        start = hub_proxy.bytes_downstream
        until = lambda: hub_proxy.bytes_downstream >= start + params["offset"] + 65_536  # noqa: E731  # one-liner
    report = under_fault(
        chaos, name, lambda: installer.install(config), proxy="hub", hold_s=hold_s, until=until, **params
    )
    chaos.note("install", outcome=report.outcome, failures=report.failures)
    assert installer.verify(config) == []


@pytest.mark.chaos(trials=6, min_recovery_rate=0.0)
@pytest.mark.parametrize("kind", ["reset_peer", "limit_data"])
def test_baseline_plain_hf_hub_download(chaos: Any, tmp_path: Any, hub_proxy: Any, kind: str) -> None:
    """BASELINE: plain huggingface_hub under the same fault, no runtime: expected to fail (threshold 0.0).

    Not watched for leftovers: the ``.incomplete`` files it leaves are part of what this row shows (they are
    counted in the trial's notes), and they must not count as a defect of the harness or the runtime.
    """
    from huggingface_hub import hf_hub_download

    name, draw, _window = NETWORK_FAULTS[kind]
    cache = tmp_path / "hf-cache"
    try:
        with chaos.inject(name, proxy="hub", **draw(chaos.rng)):
            hf_hub_download(VAE_REPO, MODEL_FILE, cache_dir=cache, endpoint=f"http://{hub_proxy.listen}")
    finally:
        leftovers = sorted(str(p.relative_to(cache)) for p in cache.rglob("*.incomplete")) if cache.exists() else []
        chaos.note("baseline_leftovers", count=len(leftovers), files=leftovers[:5])
