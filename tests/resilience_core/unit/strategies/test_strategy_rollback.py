"""RollbackStrategy: restores a snapshot through a callback or any object with restore(snapshot_id)."""

from __future__ import annotations

import random
import subprocess

import pytest

from resilience_core import FakeClock, RecoveryFailed, ReliabilityConfig, Runtime, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.rollback import RestoresSnapshots, RollbackStrategy
from resilience_core.recovery.taxonomy import FailureType

FAILED_PIP = categorize(subprocess.CalledProcessError(1, ["pip", "install", "x"], output="error: build failed"))


class Store:
    def __init__(self) -> None:
        self.restored: list[str] = []

    def restore(self, snapshot_id: str) -> None:
        self.restored.append(snapshot_id)


def attempt() -> Attempt:
    return Attempt(operation="dependency_install", params={}, max_attempts=3, clock=FakeClock(), started_s=0.0)


def test_store_restore_is_called_once_and_ends_the_call() -> None:
    """The store restores the snapshot; by default the call stops with a user message."""
    store = Store()
    assert isinstance(store, RestoresSnapshots)
    strategy = RollbackStrategy(store=store, snapshot_id="pre-install")
    a = attempt()
    assert FAILED_PIP.failure_type is FailureType.DEPENDENCY_INSTALL_FAILURE
    result = strategy.recover(FAILED_PIP, a)
    assert store.restored == ["pre-install"]
    assert not result.success
    assert a.stop_reason
    assert result.system_changes == {"restored_snapshot": "pre-install"}
    assert "restored" in result.user_message
    assert not strategy.recover(FAILED_PIP, a).success
    assert store.restored == ["pre-install"]


def test_retry_after_makes_the_next_attempt_run() -> None:
    """retry_after=True: a successful rollback means the next attempt makes sense."""
    strategy = RollbackStrategy(lambda ctx: True, retry_after=True)
    result = strategy.recover(FAILED_PIP, attempt())
    assert result.success
    assert result.system_changes == {"rolled_back": True}


def test_snapshot_id_may_depend_on_the_failure() -> None:
    """snapshot_id can be a function of the context; None means nothing to restore."""
    store = Store()
    strategy = RollbackStrategy(store=store, snapshot_id=lambda ctx: None)
    assert not strategy.recover(FAILED_PIP, attempt()).success
    assert store.restored == []


def test_store_without_snapshot_id_is_refused() -> None:
    """A store alone is not enough: which snapshot to restore must be said."""
    with pytest.raises(ValueError, match="snapshot_id"):
        RollbackStrategy(store=Store())


def test_runtime_rolls_back_and_raises_with_the_restore_recorded() -> None:
    """Through the runtime a failed install is rolled back and RecoveryFailed tells the user."""
    store = Store()
    rt = Runtime(config=ReliabilityConfig.from_mapping({}, env={}), clock=FakeClock(), rng=random.Random(0))
    rt.register(RollbackStrategy(store=store, snapshot_id="before"))

    def install() -> None:
        raise subprocess.CalledProcessError(1, ["python", "-m", "pip", "install", "x"], output="error: failed")

    with pytest.raises(RecoveryFailed) as info:
        rt.run(install, operation="dependency_install")
    assert store.restored == ["before"]
    assert info.value.result.strategy == "rollback"
    assert "restored" in info.value.user_message
