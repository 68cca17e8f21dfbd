"""The chaos handle: arming faults, residue, runtime hooks, scenario checks, standalone inject()."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import ClassVar

import pytest

from chaos import (
    ChaosError,
    EmbeddedToxiproxy,
    Fault,
    FaultArmError,
    FaultContext,
    FaultRegistry,
    Param,
    UnsupportedFault,
)
from chaos.inject import Chaos, ProxySource, inject
from chaos.proxy_backend import EmbeddedProxyBackend, RestProxyBackend
from chaos.steady_state import WatchedRoot
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

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        STATE["armed"] = True
        self.triggered = self.values["fire"]
        ctx.note("armed", rng=ctx.rng.randrange(1000))
        try:
            yield
        finally:
            if not self.values["leak"]:
                STATE["armed"] = False

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


class Proxied(Switch):
    """Declares needs_proxy; records the backend and the failures the target reported while armed."""

    name = "demo.proxied"
    needs_proxy = True

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        self.seen_proxy = ctx.proxy
        before = ctx.failures_seen()
        yield
        self.failures_while_armed = ctx.failures_seen() - before


class Ballast(Switch):
    """Declares checks_disk and wraps_command."""

    name = "demo.ballast"
    checks_disk = True
    wraps_command = True

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return ["wrapped", *argv], {**env, "BALLAST": "1"}


def _handle(
    tmp_path: pathlib.Path,
    seed: int = 11,
    get_proxy: ProxySource | None = None,
    toxiproxy_url: str | None = None,
) -> Chaos:
    registry = FaultRegistry()
    for cls in (Switch, Nowhere, Crashy, Proxied, Ballast):
        registry.register(cls)
    trial = Trial(scenario="s", index=0, seed=seed)
    return Chaos(
        trial,
        workdir=tmp_path,
        make_fault=lambda name, params: registry.get(name)(**params),
        get_proxy=get_proxy,
        toxiproxy_url=toxiproxy_url,
    )


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


def test_only_faults_declaring_needs_proxy_get_the_proxy(tmp_path: pathlib.Path) -> None:
    """The proxy fixture is asked for (once) only by a needs_proxy fault, which gets it as a ProxyBackend."""
    asked: list[int] = []
    server = EmbeddedToxiproxy(start_api=False)

    def get_proxy() -> EmbeddedToxiproxy:
        asked.append(1)
        return server

    chaos = _handle(tmp_path, get_proxy=get_proxy)
    with chaos.inject("demo.switch", proxy="hub"):
        pass
    assert asked == []
    with chaos.inject("demo.proxied", proxy="hub") as first, chaos.inject("demo.proxied") as second:
        pass
    assert asked == [1]
    assert isinstance(first.seen_proxy, EmbeddedProxyBackend)  # type: ignore[attr-defined]  # set by arm()
    assert first.seen_proxy is second.seen_proxy  # type: ignore[attr-defined]  # one backend per trial


def test_toxiproxy_url_wins_over_the_embedded_proxy(tmp_path: pathlib.Path) -> None:
    """With --toxiproxy-url the needs_proxy fault gets a REST backend and the fixture is never started."""
    chaos = _handle(
        tmp_path, get_proxy=lambda: pytest.fail("the embedded proxy was started"), toxiproxy_url="http://x:1"
    )
    with chaos.inject("demo.proxied") as fault:
        pass
    assert isinstance(fault.seen_proxy, RestProxyBackend)  # type: ignore[attr-defined]  # set by arm()
    assert fault.seen_proxy.url == "http://x:1"  # type: ignore[attr-defined]  # as above


def test_a_needs_proxy_fault_without_a_proxy_cannot_be_armed(tmp_path: pathlib.Path) -> None:
    """No proxy in the trial: FaultArmError naming the fault and the fix (an indeterminate trial)."""
    chaos = _handle(tmp_path)
    with pytest.raises(FaultArmError) as caught, chaos.inject("demo.proxied"):
        pass
    assert str(caught.value) == (
        "demo.proxied needs a proxy and this trial has none; fix: use the chaos_proxy fixture or --toxiproxy-url"
    )
    assert chaos.trial.residue == []


def test_failures_the_target_reports_reach_the_fault(tmp_path: pathlib.Path) -> None:
    """ctx.failures_seen counts the runtime's failure events, so a fault can tell the target met it."""
    chaos = _handle(tmp_path, get_proxy=lambda: EmbeddedToxiproxy(start_api=False))
    context = ErrorContext(FailureType.NETWORK_CONNECTIVITY_LOSS, Severity.MEDIUM)
    with chaos.inject("demo.proxied") as fault:
        chaos.runtime_hook(FailureEvent(context))
        chaos.runtime_hook(FailureEvent(context))
    assert fault.failures_while_armed == 2  # type: ignore[attr-defined]  # set by arm()


def test_checks_disk_turns_the_free_space_check_on(tmp_path: pathlib.Path) -> None:
    """A watched root gets the free-space check when the trial armed a checks_disk fault, not otherwise."""
    for name, expect_disk_problem in (("demo.switch", False), ("demo.ballast", True)):
        free = iter([10 << 30, 9 << 30])  # 1 GiB of free space lost while the tree did not grow
        chaos = _handle(tmp_path)
        chaos._watched.append(WatchedRoot(tmp_path / name, probe_free_bytes=lambda _path, free=free: next(free)))
        with chaos.inject(name):
            pass
        problems = chaos.finish()
        assert any("disk usage not back to baseline" in problem for problem in problems) is expect_disk_problem


def test_wrap_command_applies_every_wrapping_fault_of_the_trial(tmp_path: pathlib.Path) -> None:
    """Chaos.wrap_command runs the wraps_command faults (in arming order) and leaves the others out."""
    chaos = _handle(tmp_path)
    with chaos.inject("demo.switch"), chaos.inject("demo.ballast"), chaos.inject("demo.ballast"):
        argv, env = chaos.wrap_command(["python", "-c", "pass"], {"A": "1"})
    assert argv == ["wrapped", "wrapped", "python", "-c", "pass"]
    assert env == {"A": "1", "BALLAST": "1"}


class KindProbe(Switch):
    """Records the ``kind`` fact it was armed with."""

    name = "demo.kind_probe"
    seen: ClassVar[list[str]] = []

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        KindProbe.seen.append(str(ctx.target.get("kind")))
        yield


class Outer(Ballast):
    name = "demo.outer"
    command_order = 90

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return ["outer", *argv], env


def test_target_kind_is_the_default_kind_fact(tmp_path: pathlib.Path) -> None:
    """A command trial sets target_kind='subprocess' once; a fault's own target still wins."""
    registry = FaultRegistry()
    registry.register(KindProbe)
    chaos = Chaos(Trial("s", 0, 1), workdir=tmp_path, make_fault=lambda name, params: registry.get(name)(**params))
    KindProbe.seen.clear()
    with chaos.inject("demo.kind_probe"):
        pass
    chaos.target_kind = "subprocess"
    with chaos.inject("demo.kind_probe"):
        pass
    with chaos.inject("demo.kind_probe", target={"kind": "inprocess"}):
        pass
    assert KindProbe.seen == ["inprocess", "subprocess", "inprocess"]


def test_wrap_command_applies_faults_by_command_order_not_arming_order(tmp_path: pathlib.Path) -> None:
    registry = FaultRegistry()
    registry.register(Outer)
    registry.register(Ballast)
    chaos = Chaos(Trial("s", 0, 1), workdir=tmp_path, make_fault=lambda name, params: registry.get(name)(**params))
    with chaos.inject("demo.outer"), chaos.inject("demo.ballast"):
        argv, env = chaos.wrap_command(["install"], {})
    assert argv == ["outer", "wrapped", "install"]  # ballast (order 50) first, outer (90) wraps it
    assert env == {"BALLAST": "1"}
