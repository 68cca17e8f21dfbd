"""DegradeStrategy and degrade_params: the seeds' levels, and no parameter is ever raised."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience_core import FakeClock, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.degrade import DEGRADATION_LEVELS, DegradeStrategy, degrade_params, param_cost

LEVELS = [name for name, _ in DEGRADATION_LEVELS]
OOM = categorize(RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB"))


def attempt(params: dict[str, Any]) -> Attempt:
    return Attempt(operation="generate", params=params, max_attempts=10, clock=FakeClock(), started_s=0.0)


def test_levels_are_the_seeds() -> None:
    """full, high, medium, low, minimal at 100/80/60/40/20 percent."""
    assert DEGRADATION_LEVELS == (("full", 1.0), ("high", 0.8), ("medium", 0.6), ("low", 0.4), ("minimal", 0.2))


def test_each_level_reduces_the_known_parameters() -> None:
    """batch halves per level, steps scale, resolution steps down, precision and offload follow the ladder."""
    params = {"batch_size": 16, "steps": 50, "resolution": "1080p", "precision": "fp32", "offload": False}
    assert degrade_params(params, "full") == params
    assert degrade_params(params, "high") == {
        "batch_size": 8, "steps": 40, "resolution": "720p", "precision": "fp16", "offload": False,
    }  # fmt: skip
    assert degrade_params(params, "minimal") == {
        "batch_size": 1, "steps": 10, "resolution": "240p", "precision": "int8", "offload": True,
    }  # fmt: skip


def test_pixel_resolutions_scale_and_stay_multiples_of_eight() -> None:
    """(1024, 576) at medium becomes multiples of 8 no larger than 60 percent."""
    width, height = degrade_params({"resolution": (1024, 576)}, "medium")["resolution"]
    assert (width, height) == (608, 344)


def test_unknown_keys_and_spellings_are_untouched_and_no_key_is_added() -> None:
    """Only known keys change; a step never receives a parameter it did not ask for."""
    params = {"prompt": "a cat", "precision": "tf32-custom", "seed": 7}
    assert degrade_params(params, "minimal") == params


def test_unknown_level_is_refused() -> None:
    """A misspelt level names the valid ones."""
    with pytest.raises(ValueError, match="full, high, medium, low, minimal"):
        degrade_params({}, "lowest")


PARAM_VALUES = {
    "batch_size": st.integers(min_value=1, max_value=4096),
    "steps": st.integers(min_value=1, max_value=1000),
    "num_frames": st.integers(min_value=1, max_value=512),
    "quality": st.floats(min_value=0.0, max_value=1.0),
    "resolution": st.one_of(
        st.integers(min_value=1, max_value=8192),
        st.tuples(st.integers(min_value=1, max_value=8192), st.integers(min_value=1, max_value=8192)),
        st.sampled_from(["4320p", "2160p", "1440p", "1080p", "720p", "480p", "360p", "240p"]),
    ),
    "precision": st.sampled_from(["fp32", "float32", "bf16", "fp16", "half", "int8", "fp8", "int4", "nf4"]),
    "offload": st.one_of(st.none(), st.booleans(), st.sampled_from(["none", "model", "sequential"])),
}


@settings(max_examples=300, deadline=None)
@given(params=st.fixed_dictionaries({}, optional=PARAM_VALUES), level=st.sampled_from(LEVELS))
def test_degrade_never_raises_a_parameter(params: dict[str, Any], level: str) -> None:
    """Property: at every level each parameter costs at most what it cost before, and keys stay the same."""
    out = degrade_params(params, level)
    assert set(out) == set(params)
    for key, value in params.items():
        before, after = param_cost(key, value), param_cost(key, out[key])
        assert before is not None
        assert after is not None
        assert after <= before, (key, value, out[key])


@settings(max_examples=100, deadline=None)
@given(params=st.fixed_dictionaries({}, optional=PARAM_VALUES))
def test_strategy_steps_never_raise_a_parameter(params: dict[str, Any]) -> None:
    """Property: repeated OOMs walk down the levels; no step ever raises a parameter above the last one."""
    a = attempt(dict(params))
    strategy = DegradeStrategy()
    previous = dict(params)
    for _ in range(len(LEVELS) + 1):
        result = strategy.recover(OOM, a)
        for key, value in a.params.items():
            assert param_cost(key, value) <= param_cost(key, previous[key])  # type: ignore[operator]
        if result.success:
            assert result.degraded
        previous = dict(a.params)


def test_strategy_records_levels_and_stops_at_the_floor() -> None:
    """Each step reports the level change; at the floor it declines."""
    a = attempt({"batch_size": 8})
    strategy = DegradeStrategy(floor="medium")
    first = strategy.recover(OOM, a)
    assert first.system_changes["degradation_level"] == ["full", "high"]
    assert a.take_changes() == {"batch_size": [8, 4]}
    assert strategy.recover(OOM, a).success
    assert a.params["batch_size"] == 2
    last = strategy.recover(OOM, a)
    assert not last.success
    assert "lowest level" in last.message


def test_nothing_to_reduce_declines() -> None:
    """A call without reducible parameters gets no degraded success."""
    assert not DegradeStrategy().recover(OOM, attempt({"prompt": "x"})).success


def test_a_lower_value_set_by_someone_else_is_never_undone() -> None:
    """If another strategy already lowered batch_size further, degrade keeps it."""
    a = attempt({"batch_size": 64})
    strategy = DegradeStrategy()
    strategy.recover(OOM, a)
    a.params["batch_size"] = 1
    strategy.recover(OOM, a)
    assert a.params["batch_size"] == 1
