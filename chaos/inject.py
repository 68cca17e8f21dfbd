"""Arming faults inside a trial: the object behind the ``chaos`` fixture, and :func:`inject` for plain code.

In a scenario::

    @pytest.mark.chaos(trials=20, min_recovery_rate=0.9)
    def test_download(chaos, chaos_proxy, tmp_path):
        chaos.watch(tmp_path / "cache")                      # leftovers checked after the trial
        with chaos.inject("network.reset_peer", proxy="hub", after_bytes=65536) as fault:
            Runtime(hooks=[chaos.runtime_hook]).run(download, ...)

Outside pytest (a script, a notebook)::

    with chaos.inject("file.corrupt", seed=7, target={"paths": ["model.safetensors"]}, mode="bitflip"):
        ...
"""

from __future__ import annotations

import contextlib
import pathlib
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chaos.errors import ChaosError, FaultArmError, UnsupportedFault
from chaos.fault import Fault, FaultContext
from chaos.proxy_backend import ProxyBackend, as_proxy_backend
from chaos.steady_state import DEFAULT_LEFTOVERS, WatchedRoot
from chaos.trials import Trial, derive_seed

if TYPE_CHECKING:
    from chaos.proxy.server import EmbeddedToxiproxy

__all__ = ["Chaos", "inject"]

Verifier = Callable[[], "list[str] | None"]
ProxySource = Callable[[], "EmbeddedToxiproxy | ProxyBackend | None"]


class Chaos:
    """One trial's handle: arm faults, watch directories, observe the runtime, add the scenario's checks.

    ``seed`` and ``rng`` are the trial's; anything random in a scenario should come from ``rng`` so that the
    replay command reproduces it.

    ``get_proxy`` returns the trial's proxy (the embedded server or any :class:`ProxyBackend`); it is only called
    for a fault that declares ``needs_proxy``. ``toxiproxy_url``, when set, wins: such faults then drive that
    server over its REST API.
    """

    def __init__(
        self,
        trial: Trial,
        *,
        workdir: pathlib.Path | Callable[[], pathlib.Path],
        make_fault: Callable[[str, dict[str, Any]], Fault],
        get_proxy: ProxySource | None = None,
        toxiproxy_url: str | None = None,
        on_unavailable: Callable[[str], None] | None = None,
        on_armed: Callable[[Fault], None] | None = None,
    ) -> None:
        self.trial = trial
        self._workdir = workdir
        self.rng = random.Random(trial.seed)
        self._make_fault = make_fault
        self._get_proxy = get_proxy
        self._toxiproxy_url = toxiproxy_url
        self._on_unavailable = on_unavailable
        self._on_armed = on_armed
        self._watched: list[WatchedRoot] = []
        self._verifiers: list[Verifier] = []
        self._lock = threading.Lock()
        self._backend: ProxyBackend | None = None

    @property
    def workdir(self) -> pathlib.Path:
        """A scratch directory for this trial, created on first use."""
        if not isinstance(self._workdir, pathlib.Path):
            self._workdir = self._workdir()
        return self._workdir

    @property
    def seed(self) -> int:
        """The trial's seed."""
        return self.trial.seed

    @property
    def index(self) -> int:
        """The trial's index within its scenario."""
        return self.trial.index

    @contextlib.contextmanager
    def inject(
        self, name: str, *, proxy: str | None = None, target: dict[str, Any] | None = None, **params: Any
    ) -> Iterator[Fault]:
        """Arm the fault ``name`` with ``params`` for the block; on exit revert it and verify no residue.

        ``proxy`` names the proxy (a chaos_proxy proxy name) a network fault acts on; ``target`` adds facts to
        ``FaultContext.target`` (``paths``, ``watch_roots``, ``pid``, ``kind``). Residue fails the trial.
        """
        fault = self._make_fault(name, params)
        reason = type(fault).availability()
        if reason is not None:
            if self._on_unavailable is not None:
                self._on_unavailable(f"{name}: {reason}")
            raise UnsupportedFault(f"{name} cannot run here: {reason}")
        facts: dict[str, Any] = {"kind": "inprocess"}
        if proxy is not None:
            facts["proxy_name"] = proxy
        facts.update(target or {})
        for root in facts.get("watch_roots") or ():
            self.watch(root)
        ordinal = len(self.trial.faults)
        fault_seed = derive_seed("fault", self.trial.seed, ordinal, name)
        self.trial.faults.append(fault)
        ctx = FaultContext(
            seed=fault_seed,
            rng=random.Random(fault_seed),
            workdir=self.workdir,
            proxy=self._proxy_backend(name) if type(fault).needs_proxy else None,
            target=facts,
            failures_seen=self._failures_seen,
        )
        if self._on_armed is not None:
            self._on_armed(fault)
        try:
            with fault.inject(ctx):
                yield fault
        finally:
            try:
                residue = fault.verify_reverted(ctx)
            except Exception as error:  # noqa: BLE001  # a crashing check is residue to report, not a harness crash
                residue = [f"verify_reverted raised {type(error).__name__}: {error}"]
            self.trial.residue.extend(f"{name}: {item}" for item in residue)
            with self._lock:  # after verify_reverted: what a fault notes while checking is kept too
                for event in ctx.events:
                    data = {key: value for key, value in event.items() if key != "event"}
                    self.trial.note(str(event.get("event", name)), data, fault=name)

    def _proxy_backend(self, name: str) -> ProxyBackend:
        """The trial's proxy backend, built on first use; FaultArmError when the trial has none."""
        if self._backend is None:
            source = self._toxiproxy_url or (self._get_proxy() if self._get_proxy is not None else None)
            if source is None:
                message = (
                    f"{name} needs a proxy and this trial has none; fix: use the chaos_proxy fixture or --toxiproxy-url"
                )
                raise FaultArmError(message, fault=name)
            self._backend = as_proxy_backend(source)
        return self._backend

    def _failures_seen(self) -> int:
        with self._lock:
            return sum(self.trial.failure_types.values())

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """``argv`` and ``env`` adapted by every fault of this trial that declares ``wraps_command``, in the order
        they were armed (a disk.full namespace, a fake GPU): start subprocess targets with the result."""
        for fault in list(self.trial.faults):
            if type(fault).wraps_command:
                argv, env = fault.wrap_command(argv, env)
        return argv, env

    def watch(
        self,
        path: str | pathlib.Path,
        *,
        leftovers: tuple[str, ...] = DEFAULT_LEFTOVERS,
        ignore: tuple[str, ...] = (),
        check_disk: bool | None = None,
    ) -> None:
        """Check ``path`` for leftovers after the trial; the baseline is taken now.

        The free-space check runs when the trial armed a fault declaring ``checks_disk`` (``check_disk=None``), or
        as forced.
        """
        self._watched.append(WatchedRoot(pathlib.Path(path), leftovers=leftovers, ignore=ignore, check_disk=check_disk))

    def verify(self, check: Verifier) -> Verifier:
        """Add a steady-state check run after the trial: return problems (or raise AssertionError); usable as
        a decorator."""
        self._verifiers.append(check)
        return check

    def mark_triggered(self) -> None:
        """Count this trial as triggered even though no harness fault fired (the scenario injected its own)."""
        self.trial.marked_triggered = True

    def mark_degraded(self) -> None:
        """Classify a successful trial as ``recovered_degraded``."""
        self.trial.degraded = True

    def note(self, event: str, **data: Any) -> None:
        """Record ``event`` with ``data`` into the trial's journal entry (its ``notes``); paths and other
        non-JSON values are written as text.

        ``chaos.note("install", outcome="resumed", partial=cache / "w.bin.incomplete")``
        """
        with self._lock:
            self.trial.note(event, data)

    def runtime_hook(self, event: Any) -> None:
        """A ``resilience_core`` runtime hook: records failure types, strategies, degradation and time to
        recover into the trial. Pass it as ``Runtime(hooks=[chaos.runtime_hook])``."""
        kind = getattr(event, "kind", "")
        with self._lock:
            if kind == "on_failure":
                self.trial.failure_types[str(event.context.failure_type)] += 1
            elif kind == "on_attempt":
                self.trial.strategies[str(event.result.strategy)] += 1
                self.trial.degraded = self.trial.degraded or bool(event.result.degraded)
            elif kind == "on_recovered":
                previous = self.trial.time_to_recover_s or 0.0
                self.trial.time_to_recover_s = max(previous, float(event.time_to_recover_s))
                self.trial.degraded = self.trial.degraded or bool(event.degraded)
            elif kind == "on_gave_up":
                self.trial.user_message = str(event.result.user_message or self.trial.user_message)

    def finish(self) -> list[str]:
        """Run the steady-state checks once; problems are added to ``trial.residue`` and returned."""
        problems: list[str] = []
        disk_fault = any(type(fault).checks_disk for fault in self.trial.faults)
        for root in self._watched:
            problems.extend(root.check(disk=disk_fault))
        for check in self._verifiers:
            try:
                found = check()
            except AssertionError as error:
                found = [f"{getattr(check, '__name__', 'verify')}: {error}"]
            problems.extend(found or [])
        self.trial.residue.extend(problems)
        self._watched.clear()
        self._verifiers.clear()
        return problems


@contextlib.contextmanager
def inject(
    name: str,
    *,
    seed: int = 0,
    workdir: str | pathlib.Path | None = None,
    proxy: str | None = None,
    proxy_handle: EmbeddedToxiproxy | ProxyBackend | None = None,
    toxiproxy_url: str | None = None,
    target: dict[str, Any] | None = None,
    **params: Any,
) -> Iterator[Fault]:
    """Arm one fault outside pytest; raises ChaosError after the block if the fault left residue.

    Faults come from a plugin manager built on first use (built-ins plus installed plugins).
    """
    from chaos.manager import ChaosManager

    manager = ChaosManager.build()
    trial = Trial(scenario="inject", index=0, seed=seed)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-"))
        handle = Chaos(
            trial,
            workdir=pathlib.Path(workdir),
            make_fault=manager.make_fault,
            get_proxy=lambda: proxy_handle,
            toxiproxy_url=toxiproxy_url,
        )
        with handle.inject(name, proxy=proxy, target=target, **params) as fault:
            yield fault
        handle.finish()
        problems = trial.residue
        if problems:
            raise ChaosError(f"{name} left residue: {'; '.join(problems)}; fix: the fault's revert is incomplete")
