"""Graceful degradation: step down full -> high -> medium -> low -> minimal, reducing the call's parameters.

The levels come from the seeds (100/80/60/40/20 %). Each failure moves the call one level down and rewrites
the parameters it finds, always from the call's original values, and never upwards:
``batch_size`` halves per level (min 1); ``steps``/``num_inference_steps``/``num_frames``/``quality`` scale by
the level's factor; ``resolution`` scales (ints, ``(w, h)``) or steps down a ladder (``"1080p"`` -> ``"720p"``);
``precision`` drops to fp16 then int8; ``offload`` goes none -> model -> sequential (or False -> True).

>>> params = {"batch_size": 8, "resolution": "1080p", "steps": 50, "precision": "fp32", "offload": None}
>>> degrade_params(params, "medium")
{'batch_size': 2, 'resolution': '480p', 'steps': 30, 'precision': 'fp16', 'offload': 'model'}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["DEGRADATION_LEVELS", "DegradeStrategy", "degrade_params", "param_cost"]

DEGRADATION_LEVELS: tuple[tuple[str, float], ...] = (
    ("full", 1.0),
    ("high", 0.8),
    ("medium", 0.6),
    ("low", 0.4),
    ("minimal", 0.2),
)
_LEVEL_INDEX = {name: i for i, (name, _) in enumerate(DEGRADATION_LEVELS)}
_SCALED = ("steps", "num_inference_steps", "num_frames", "quality", "guidance_steps", "max_workers", "concurrency")
_RESOLUTIONS = ("4320p", "2160p", "1440p", "1080p", "720p", "480p", "360p", "240p")
# Lower rank = less memory. Unknown spellings are left alone.
_PRECISION_RANK = {
    "fp32": 4, "float32": 4, "bf16": 3, "bfloat16": 3, "fp16": 2, "float16": 2, "half": 2,
    "fp8": 1, "int8": 1, "int4": 0, "nf4": 0, "fp4": 0,
}  # fmt: skip
_PRECISION_TARGET = (None, "fp16", "fp16", "int8", "int8")
_OFFLOAD_RANK = {"none": 2, "model": 1, "sequential": 0}
_OFFLOAD_TARGET = (None, None, "model", "sequential", "sequential")


def _scale_int(value: int, factor: float) -> int:
    scaled = max(1, math.floor(value * factor))
    if value % 8 == 0 and scaled >= 8:
        scaled -= scaled % 8
    return min(value, scaled)


def _degrade_one(name: str, value: Any, index: int) -> Any:
    factor = DEGRADATION_LEVELS[index][1]
    if isinstance(value, bool):
        if name == "offload":
            return value or index >= 2
        return value
    if name == "batch_size" and isinstance(value, int):
        return min(value, max(1, value >> index))
    if name in _SCALED or name == "resolution":
        if isinstance(value, int) and value > 0:
            return _scale_int(value, factor)
        if isinstance(value, float) and value > 0:
            return min(value, value * factor)
    if name == "resolution":
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
            scaled = [_scale_int(v, factor) for v in value]
            return tuple(scaled) if isinstance(value, tuple) else scaled
        if isinstance(value, str) and value.lower() in _RESOLUTIONS:
            here = _RESOLUTIONS.index(value.lower())
            return _RESOLUTIONS[min(len(_RESOLUTIONS) - 1, here + index)]
    if name == "precision" and isinstance(value, str):
        target = _PRECISION_TARGET[index]
        rank = _PRECISION_RANK.get(value.lower())
        if target is not None and rank is not None and _PRECISION_RANK[target] < rank:
            return target
    if name == "offload" and (value is None or isinstance(value, str)):
        current = "none" if value is None else value.lower()
        target = _OFFLOAD_TARGET[index]
        if target is not None and current in _OFFLOAD_RANK and _OFFLOAD_RANK[target] < _OFFLOAD_RANK[current]:
            return target
    return value


def degrade_params(params: Mapping[str, Any], level: str) -> dict[str, Any]:
    """``params`` reduced for ``level`` (full, high, medium, low, minimal); unknown keys pass through.

    Only keys already present change: the step receives ``params`` as keyword arguments, so a new key would
    break its call.
    """
    if level not in _LEVEL_INDEX:
        raise ValueError(f"degradation level {level!r} must be one of {', '.join(_LEVEL_INDEX)}")
    index = _LEVEL_INDEX[level]
    return {name: _degrade_one(name, value, index) for name, value in params.items()}


def param_cost(name: str, value: Any) -> float | None:
    """A number that grows with the resources ``value`` asks for, or None when it is not comparable.

    Used to check that degradation never raises a parameter.
    """
    if isinstance(value, bool):
        return float(not value) if name == "offload" else float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return float(math.prod(value))
    if isinstance(value, str):
        lowered = value.lower()
        if name == "resolution" and lowered in _RESOLUTIONS:
            return float(len(_RESOLUTIONS) - _RESOLUTIONS.index(lowered))
        if name == "precision" and lowered in _PRECISION_RANK:
            return float(_PRECISION_RANK[lowered])
        if name == "offload" and lowered in _OFFLOAD_RANK:
            return float(_OFFLOAD_RANK[lowered])
    if value is None and name == "offload":
        return float(_OFFLOAD_RANK["none"])
    return None


def _not_higher(name: str, current: Mapping[str, Any], new: Any) -> bool:
    # Another strategy may have lowered a parameter further than this level would; never undo that.
    if name not in current:
        return True
    old_cost, new_cost = param_cost(name, current[name]), param_cost(name, new)
    return old_cost is None or new_cost is None or new_cost <= old_cost


_HANDLES = frozenset(
    {
        FailureType.VRAM_EXHAUSTION,
        FailureType.RAM_EXHAUSTION,
        FailureType.MODEL_LOADING_TIMEOUT,
        FailureType.HARDWARE_OPTIMIZATION_FAILURE,
        FailureType.GENERATION_PIPELINE_ERROR,
    }
)


class DegradeStrategy:
    """Move the call one degradation level down per failure and retry at once with reduced parameters.

    ``start_level`` is where a call begins (``"full"``); ``floor`` the lowest level it may reach.
    """

    name = "degrade"

    def __init__(
        self, *, start_level: str = "full", floor: str = "minimal", handles: Iterable[FailureType] = _HANDLES
    ) -> None:
        for value in (start_level, floor):
            if value not in _LEVEL_INDEX:
                raise ValueError(f"degradation level {value!r} must be one of {', '.join(_LEVEL_INDEX)}")
        self.start_level = start_level
        self.floor = floor
        self.handles = frozenset(handles)

    def can_handle(self, ctx: ErrorContext) -> bool:
        return ctx.failure_type in self.handles

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        state = attempt.scratch.setdefault(
            self.name, {"level": _LEVEL_INDEX[self.start_level], "original": dict(attempt.params)}
        )
        floor = _LEVEL_INDEX[self.floor]
        while state["level"] < floor:
            old_level = state["level"]
            state["level"] += 1
            reduced = degrade_params(state["original"], DEGRADATION_LEVELS[state["level"]][0])
            changed = {
                k: v
                for k, v in reduced.items()
                if attempt.params.get(k, ...) != v and _not_higher(k, attempt.params, v)
            }
            if not changed:
                continue
            for key, value in changed.items():
                attempt.set_param(key, value)
            old_name, new_name = DEGRADATION_LEVELS[old_level][0], DEGRADATION_LEVELS[state["level"]][0]
            return RecoveryResult(
                True,
                self.name,
                message=f"degraded from {old_name} to {new_name}: " + ", ".join(sorted(changed)),
                user_message=f"Quality was reduced to {new_name!r} to fit this machine.",
                system_changes={"degradation_level": [old_name, new_name]},
                degraded=True,
            )
        return RecoveryResult(
            False, self.name, message=f"already at the lowest level ({self.floor}); nothing to reduce"
        )
