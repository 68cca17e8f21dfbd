"""One Hypothesis-drawn combined schedule per example: up to three network faults stacked on the hub link at
once (resets after N bytes, a data limit, latency, slicing), drawn by ``chaos.schedules.fault_schedules``
from each fault's declared parameters.

Each chaos trial runs a small Hypothesis property seeded from the trial's seed (so the replay command redraws
the same schedules): every drawn schedule must still end in a complete, verified install. Should one defeat
recovery, Hypothesis shrinks it to the smallest schedule that does and prints it in the trial's failure.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from chaos.schedules import FaultSchedule, fault_schedules
from scenarios.conftest import Installer

HUB = {"proxy": st.just("hub"), "stream": st.just("downstream"), "toxicity": st.just(1.0)}
SCHEDULES = fault_schedules(
    ["network.reset_peer", "network.limit_data", "network.latency", "network.slicer"],
    params={
        "network.reset_peer": {**HUB, "after_bytes": st.integers(16_384, 524_288), "timeout_ms": st.just(0)},
        "network.limit_data": {**HUB, "limit_bytes": st.integers(32_768, 1_048_576)},
        "network.latency": {**HUB, "latency_ms": st.integers(0, 20), "jitter_ms": st.integers(0, 5)},
        "network.slicer": {
            **HUB,
            "average_size_bytes": st.integers(1_024, 16_384),
            "size_variation_bytes": st.integers(0, 512),
            "delay_us": st.integers(0, 50),
        },
    },
    min_faults=1,
    max_faults=3,
    max_step=0,
)
EXAMPLES_PER_TRIAL = 3


@pytest.mark.chaos(trials="auto", max_trials=30, min_recovery_rate=0.7, confidence=0.8)
def test_combined_fault_schedule(chaos: Any, hub_proxy: Any, tmp_path: Any) -> None:
    """Every drawn schedule of stacked network faults still ends in a complete, verified install."""
    drawn: list[list[dict[str, Any]]] = []

    @seed(chaos.seed)
    @settings(
        max_examples=EXAMPLES_PER_TRIAL,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(schedule=SCHEDULES)
    def install_survives(schedule: FaultSchedule) -> None:
        installer = Installer(chaos, tmp_path / f"example-{len(drawn)}")
        drawn.append(schedule.describe())
        config = installer.config([f"http://{hub_proxy.listen}"])
        installer.watch(resumable_partials=True)
        with contextlib.ExitStack() as stack:
            for fault in schedule.at(0):
                stack.enter_context(chaos.inject(fault.name, **dict(fault.params)))
            installer.install(config)
        assert installer.verify(config) == []

    install_survives()
    chaos.note("schedules", drawn=drawn)
