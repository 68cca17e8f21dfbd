"""The chaos handle: arming faults, residue, runtime hooks, scenario checks, standalone inject()."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

import pytest

from chaos import ChaosError, Fault, FaultContext, FaultRegistry, Param, UnsupportedFault
from chaos.inject import Chaos, inject
from chaos.trials import Trial
from resilience_core.recovery.taxonomy import (
    AttemptEvent,
    ErrorContext,
    FailureEvent,
    FailureType,
    GaveUpEvent,
    RecoveredEvent,
    RecoveryResult,
    Severity,
)

STATE: dict[str, bool] = {"armed": False}


class Switch(Fault):
    """Sets a global flag while armed; ``leak`` leaves it set."""

    name = "demo.switch"
    params = (Param("leak", bool, False), Param("fire", bool, True))

    @contextlib.contextmanager
    def _armed(self, ctx: FaultContext) -> Iterator[Fault]:
        STATE["armed"] = True
        self.triggered = self.values["fire"]
        ctx.note("armed", rng=ctx.rng.randrange(1000))
        try:
            yield self
        finally:
            if not self.values["leak"]:
                STATE["armed"] = False

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed(ctx)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        return ["flag still set"] if STATE["armed"] else []


class Nowhere(Switch):
    name = "demo.nowhere"

    @classmethod
    def availability(cls) -> str | None:
        return "needs a machine that does not exist"


class Crashy(Switch):
    name = "demo.crashy"

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        raise RuntimeError("cannot look")


def _handle(tmp_path: pathlib.Path, seed: int = 11) -> Chaos:
    registry = FaultRegistry()
    for cls in (Switch, Nowhere, Crashy):
        registry.register(cls)
    trial = Trial(scenario="s", index=0, seed=seed)
    return Chaos(trial, workdir=tmp_path, make_fault=lambda name, params: registry.get(name)(**params))


@pytest.fixture(autouse=True)
def _reset_flag() -> Iterator[None]:
    STATE["armed"] = False
    yield
    STATE["armed"] = False


def test_inject_arms_reverts_and_records(tmp_path: pathlib.Path) -> None:
    """The fault is armed inside the block, reverted after, and recorded in the trial with its events."""
    chaos = _handle(tmp_path)
    with chaos.inject("demo.switch") as fault:
        assert STATE["armed"]
    assert not STATE["armed"]
    assert chaos.trial.faults == [fault]
    assert chaos.trial.triggered
    assert chaos.trial.residue == []
    assert chaos.trial.events[0]["fault"] == "demo.switch"


def test_fault_rng_is_reproducible_per_trial(tmp_path: pathlib.Path) -> None:
    """The same trial seed gives the fault the same random draws; another seed gives others."""
    draws = []
    for seed in (11, 11, 12):
        chaos = _handle(tmp_path, seed)
        with chaos.inject("demo.switch"):
            pass
        draws.append(chaos.trial.events[0]["data"]["rng"])
    assert draws[0] == draws[1]
    assert draws[0] != draws[2] or draws[0] == draws[2] == draws[1]  # a collision in 1000 is possible


def test_residue_and_crashing_checks_land_in_the_trial(tmp_path: pathlib.Path) -> None:
    """A fault that stays armed, or whose verify_reverted crashes, leaves residue in the trial."""
    chaos = _handle(tmp_path)
    with chaos.inject("demo.switch", leak=True):
        pass
    with chaos.inject("demo.crashy"):
        pass
    assert chaos.trial.residue == [
        "demo.switch: flag still set",
        "demo.crashy: verify_reverted raised RuntimeError: cannot look",
    ]


def test_unavailable_fault_raises_unsupported(tmp_path: pathlib.Path) -> None:
    """A fault unavailable here raises UnsupportedFault with its reason before arming."""
    chaos = _handle(tmp_path)
    with pytest.raises(UnsupportedFault, match="needs a machine"), chaos.inject("demo.nowhere"):
        pass
    assert chaos.trial.faults == []


def test_runtime_hook_records_failures_strategies_and_recovery(tmp_path: pathlib.Path) -> None:
    """Runtime events fill failure types, strategies, degradation, time to recover and the user message."""
    chaos = _handle(tmp_path)
    context = ErrorContext(FailureType.NETWORK_TIMEOUT, Severity.MEDIUM)
    retry = RecoveryResult(success=True, strategy="retry")
    degrade = RecoveryResult(success=True, strategy="degrade", degraded=True)
    chaos.runtime_hook(FailureEvent(context))
    chaos.runtime_hook(AttemptEvent(context, retry))
    chaos.runtime_hook(AttemptEvent(context, degrade))
    chaos.runtime_hook(RecoveredEvent(None, "c1", 3, 0.25, (FailureType.NETWORK_TIMEOUT,), (retry, degrade), True))
    chaos.runtime_hook(GaveUpEvent(context, RecoveryResult(False, "guidance", user_message="free 2 GB")))
    trial = chaos.trial
    assert dict(trial.failure_types) == {"network_timeout": 1}
    assert dict(trial.strategies) == {"retry": 1, "degrade": 1}
    assert trial.degraded
    assert trial.time_to_recover_s == 0.25
    assert trial.user_message == "free 2 GB"


def test_finish_runs_watch_and_verify_checks(tmp_path: pathlib.Path) -> None:
    """finish() reports leftovers under watched roots and the scenario's own failed checks as residue."""
    chaos = _handle(tmp_path)
    chaos.watch(tmp_path, check_disk=False)
    (tmp_path / "x.part").write_bytes(b"1")

    @chaos.verify
    def hashes_match() -> list[str]:
        return ["hash mismatch"]

    @chaos.verify
    def asserts() -> None:
        raise AssertionError("bad state")

    assert chaos.finish() == [f"leftover file: {tmp_path / 'x.part'}", "hash mismatch", "asserts: bad state"]
    assert chaos.finish() == []  # checks run once


def test_standalone_inject_raises_on_residue(tmp_path: pathlib.Path) -> None:
    """chaos.inject() outside pytest arms a registered fault and raises ChaosError on residue."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    import socket

    with inject("dns.fail", hosts="nowhere.invalid") as fault, pytest.raises(socket.gaierror):
        socket.getaddrinfo("nowhere.invalid", 80)
    assert fault.triggered
    with (
        pytest.raises(ChaosError, match=r"dns.fail left residue: leftover file: .*half\.part"),
        inject("dns.fail", hosts="a.invalid", target={"watch_roots": [tmp_path]}),
    ):
        (tmp_path / "half.part").write_bytes(b"x")
