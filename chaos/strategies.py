"""Deprecated alias of :mod:`chaos.schedules` (renamed: "strategies" means recovery strategies in this project).

Kept for one release; import from ``chaos.schedules`` instead.
"""

from __future__ import annotations

import warnings

from chaos.schedules import FaultSchedule, ScheduledFault, fault_schedules, param_strategy

__all__ = ["FaultSchedule", "ScheduledFault", "fault_schedules", "param_strategy"]

warnings.warn(
    "chaos.strategies is renamed chaos.schedules; import from chaos.schedules (the alias goes in 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
