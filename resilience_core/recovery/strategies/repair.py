"""Repair: re-fetch a file that failed verification, through a callback the caller gives.

The runtime does not know how to download anything; the installer does. ``repair(ctx) -> bool`` gets the
failure (``ctx.details["path"]`` names the file when known) and returns True once a good copy is in place.

>>> from resilience_core.recovery.categorize import categorize
>>> from resilience_core.errors import IntegrityError
>>> fixed = []
>>> strategy = RepairStrategy(lambda ctx: fixed.append(ctx.details.get("path")) is None)
>>> strategy.can_handle(categorize(IntegrityError("sha256 mismatch", entry="model.bin")))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["RepairCallback", "RepairStrategy"]

RepairCallback = Callable[[ErrorContext], bool]
"""Re-fetch or rebuild what ``ctx`` says is damaged; True when a good copy is in place."""

_HANDLES = frozenset(
    {
        FailureType.MODEL_CORRUPTION_DETECTED,
        FailureType.MODEL_INTEGRITY_FAILURE,
        FailureType.MODEL_DOWNLOAD_FAILURE,
    }
)


def _target(ctx: ErrorContext) -> str:
    path = ctx.details.get("path")
    if isinstance(path, str) and path:
        return path
    entry = getattr(ctx.error, "entry", "")
    return entry if isinstance(entry, str) and entry else ctx.details.get("raw_type", "?")


class RepairStrategy:
    """Call ``repair(ctx)`` for corrupted or unverifiable files; at most ``max_repairs`` times per file and call.

    Without a callback it never handles anything (the plan moves on to ``retry``).
    """

    name = "repair"

    def __init__(
        self,
        repair: RepairCallback | None = None,
        *,
        max_repairs: int = 2,
        handles: Iterable[FailureType] = _HANDLES,
    ) -> None:
        self.repair = repair
        self.max_repairs = max(1, max_repairs)
        self.handles = frozenset(handles)

    def can_handle(self, ctx: ErrorContext) -> bool:
        return self.repair is not None and ctx.failure_type in self.handles

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        if self.repair is None:
            return RecoveryResult(False, self.name, message="no repair callback configured")
        target = _target(ctx)
        counts: dict[str, int] = attempt.scratch.setdefault(self.name, {})
        if counts.get(target, 0) >= self.max_repairs:
            return RecoveryResult(False, self.name, message=f"{target} was repaired {self.max_repairs} times already")
        counts[target] = counts.get(target, 0) + 1
        if not self.repair(ctx):
            return RecoveryResult(False, self.name, message=f"the repair callback could not fix {target}")
        return RecoveryResult(
            True,
            self.name,
            message=f"repaired {target}",
            system_changes={"repaired": target},
        )
