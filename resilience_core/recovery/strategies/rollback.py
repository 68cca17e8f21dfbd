"""Rollback: restore a known-good snapshot after a failure that left state half-changed.

Give either a ``rollback(ctx) -> bool`` callback or a store with ``restore(snapshot_id)`` (such as
:class:`resilience_core.state.snapshot.StateStore`) plus the snapshot id (or a function choosing it from the failure).
By default a rollback ends the call (``retry_after=False``): the state is safe again and the user is told.

>>> restored = []
>>> class Store:
...     def restore(self, snapshot_id):
...         restored.append(snapshot_id)
>>> strategy = RollbackStrategy(store=Store(), snapshot_id="before-upgrade")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["RestoresSnapshots", "RollbackCallback", "RollbackStrategy"]

RollbackCallback = Callable[[ErrorContext], bool]
"""Put things back as they were before the failed operation; True on success."""


@runtime_checkable
class RestoresSnapshots(Protocol):
    """Anything that can restore a snapshot by id (``StateStore`` does)."""

    def restore(self, snapshot_id: str) -> object:
        """Restore ``snapshot_id``; raise on failure."""
        ...


_HANDLES = frozenset(
    {
        FailureType.MODEL_VERSION_MISMATCH,
        FailureType.MODEL_COMPATIBILITY_ERROR,
        FailureType.DEPENDENCY_INSTALL_FAILURE,
        FailureType.SYSTEM_RESOURCE_ERROR,
    }
)


class RollbackStrategy:
    """Restore once per call through ``rollback`` or ``store.restore(snapshot_id)``.

    Without a callback or store it never handles anything. ``retry_after=True`` makes the next attempt run
    on the restored state instead of ending the call.
    """

    name = "rollback"

    def __init__(
        self,
        rollback: RollbackCallback | None = None,
        *,
        store: RestoresSnapshots | None = None,
        snapshot_id: str | Callable[[ErrorContext], str | None] | None = None,
        retry_after: bool = False,
        handles: Iterable[FailureType] = _HANDLES,
    ) -> None:
        if store is not None and snapshot_id is None:
            raise ValueError("RollbackStrategy(store=...) needs snapshot_id (a str or a function of the failure)")
        self.rollback = rollback
        self.store = store
        self.snapshot_id = snapshot_id
        self.retry_after = retry_after
        self.handles = frozenset(handles)

    def can_handle(self, ctx: ErrorContext) -> bool:
        return (self.rollback is not None or self.store is not None) and ctx.failure_type in self.handles

    def _snapshot_for(self, ctx: ErrorContext) -> str | None:
        return self.snapshot_id(ctx) if callable(self.snapshot_id) else self.snapshot_id

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        if attempt.scratch.get(self.name):
            return RecoveryResult(False, self.name, message="already rolled back once in this call")
        attempt.scratch[self.name] = True
        changes: dict[str, object] = {}
        if self.rollback is not None:
            if not self.rollback(ctx):
                return RecoveryResult(False, self.name, message="the rollback callback reported failure")
            changes["rolled_back"] = True
        else:
            snapshot = self._snapshot_for(ctx)
            if snapshot is None or self.store is None:
                return RecoveryResult(False, self.name, message="no snapshot to restore for this failure")
            self.store.restore(snapshot)
            changes["restored_snapshot"] = snapshot
        message = "state restored to the last known-good snapshot"
        if self.retry_after:
            return RecoveryResult(True, self.name, message=message, system_changes=changes)
        attempt.give_up("rolled back after the failure")
        return RecoveryResult(
            False,
            self.name,
            message=message,
            user_message="The operation failed; your installation was restored to its previous state.",
            actionable_steps=("Nothing was left half-changed; fix the cause below and run again.",),
            system_changes=changes,
            requires_user_action=True,
        )
