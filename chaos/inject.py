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
    import os
    from collections.abc import Mapping, Sequence

    from chaos.command import CommandResult, _Armed
    from chaos.proxy.server import EmbeddedToxiproxy
    from chaos.targets import HubServer, PackageIndex
    from resilience_core.recovery.taxonomy import Outcome

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
        self._armed: list[_Armed] = []
        self._runs: list[list[_Armed]] = []  # per running command: every fault armed since it started
        self.target_kind = "inprocess"
        """The ``kind`` fact of every fault armed from now on unless its ``target`` says otherwise: a trial whose
        target is a command (:meth:`run`) sets ``"subprocess"``, so ``disk.full`` picks a namespace backend."""

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
        facts: dict[str, Any] = {"kind": self.target_kind}
        if proxy is not None:
            facts["proxy_name"] = proxy
            if fault.values.get("proxy") == "":
                fault.values["proxy"] = proxy  # the journal names the proxy even when arming fails on it
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
        from chaos.command import _Armed

        armed = _Armed(fault, ctx)
        try:
            with fault.inject(ctx):
                with self._lock:
                    self._armed.append(armed)
                    for during in self._runs:  # armed mid-run (a scenario's at_s): the command's fired list sees it
                        during.append(armed)
                try:
                    yield fault
                finally:
                    with self._lock:
                        self._armed.remove(armed)
        finally:
            try:
                residue = fault.verify_reverted(ctx)
            except Exception as error:  # noqa: BLE001  # a crashing check is residue to report, not a harness crash
                residue = [f"verify_reverted raised {type(error).__name__}: {error}"]
            self.trial.residue.extend(f"{name}: {item}" for item in residue)
            self.trial.leaked.extend(f"{name}: {item}" for item in residue)
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
        """``argv`` and ``env`` adapted by every fault of this trial that declares ``wraps_command``, in
        ascending ``command_order`` (a disk.full namespace, then a fake GPU): start subprocess targets with the
        result. :meth:`run` does this, and more, for you."""
        wrappers = sorted((f for f in self.trial.faults if type(f).wraps_command), key=lambda f: type(f).command_order)
        for fault in wrappers:
            argv, env = fault.wrap_command(argv, env)
        return argv, env

    # -- black-box commands (chaos.command) -------------------------------------------------------------------

    def route(
        self,
        *,
        hub: str | HubServer | None = None,
        index: str | PackageIndex | None = None,
        hf_home: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        forward: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment that routes an unmodified client to the served hub and index.

        ``hub`` / ``index``: a URL, a :class:`HubServer` / :class:`PackageIndex`, or the name of a proxy of this
        trial (``"hub"``: the client then goes through that proxy, so network faults on it apply). ``forward``:
        the name of a forward proxy of this trial (``create_forward_proxy``): ``HTTPS_PROXY``/``HTTP_PROXY``
        point every client that honours them at it, real upstreams included. ``env`` is the base (default:
        this process's environment); ``hf_home`` defaults to ``<workdir>/hf-home``, fresh per trial; ``extra``
        goes on top. See :func:`chaos.command.hub_env` and :func:`chaos.command.index_env`.
        """
        import os

        from chaos.command import routed_env

        base = dict(os.environ if env is None else env)
        on_top = {**(self._forward_env(forward) if forward is not None else {}), **(extra or {})}
        return routed_env(
            base,
            hub_url=None if hub is None else self._endpoint(hub, path=""),
            index_url=None if index is None else self._endpoint(index, path="/simple/"),
            hf_home=hf_home if hf_home is not None else self.workdir / "hf-home",
            extra=on_top,
        )

    def _forward_env(self, name: str) -> dict[str, str]:
        """``ProxyHandle.proxy_env()`` of the forward proxy ``name`` (in process, or built from its listen)."""
        from chaos.command import forward_env, proxy_url
        from chaos.proxy_backend import EmbeddedProxyBackend

        backend = self._proxy_backend(f"route through forward proxy {name!r}")
        try:
            if isinstance(backend, EmbeddedProxyBackend):
                return backend.server.proxy(name).proxy_env()
            return forward_env(proxy_url(backend.listen(name)))
        except ChaosError as error:  # an ApiError (not a forward proxy, no such proxy), the server refused
            raise ChaosError(f"cannot route through forward proxy {name!r}: {error}") from None

    def _endpoint(self, target: object, *, path: str) -> str:
        from chaos.command import proxy_url

        if isinstance(target, str):
            if "://" in target:
                return target
            try:
                listen = self._proxy_backend(f"route to proxy {target!r}").listen(target)
            except ChaosError as error:
                raise ChaosError(f"cannot route to proxy {target!r}: {error}") from None
            return proxy_url(listen, path=path)
        url = getattr(target, "url", None)
        if not isinstance(url, str):
            message = (
                f"cannot route to {target!r}: pass a URL, a HubServer / PackageIndex, or the name of a proxy "
                "(e.g. hub='hub')"
            )
            raise ChaosError(message)
        return url

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout_s: float = 600.0,
        input: bytes | str | None = None,  # noqa: A002  # the name subprocess.run uses
        hub: str | HubServer | None = None,
        index: str | PackageIndex | None = None,
        forward: str | None = None,
        rerun: str = "once",
        tail_bytes: int = 8192,
    ) -> CommandResult:
        """Run ``argv`` to its end with every armed fault applied; see :mod:`chaos.command` for the order the
        faults are applied in, the rerun rule after a kill and what is recorded.

        ``env`` is the base environment (default: this process's); ``hub`` / ``index`` / ``forward`` route the
        network as :meth:`route` does. Never raises for the command's own failure: read the result, then
        :meth:`settle`.
        """
        from chaos.command import run_command

        routed = hub is not None or index is not None or forward is not None
        full_env = self.route(hub=hub, index=index, env=env, forward=forward) if routed else None
        if full_env is None:
            import os

            full_env = dict(os.environ if env is None else env)
        with self._lock:
            armed = list(self._armed)  # grows while the command runs, if a fault is armed meanwhile
            self._runs.append(armed)

        def on_run(index: int, run: Any, wrapped: list[str]) -> None:
            self.note("command.run", **run.note(index, wrapped))

        try:
            return run_command(
                [str(arg) if not isinstance(arg, str) else arg for arg in argv],
                env=full_env,
                armed=armed,
                cwd=cwd,
                timeout_s=timeout_s,
                input=input,
                rerun=rerun,
                tail_bytes=tail_bytes,
                on_run=on_run,
            )
        finally:
            with self._lock:
                self._runs.remove(armed)

    def verify_hf_cache(
        self,
        path: str | os.PathLike[str],
        *,
        repos: Sequence[str | tuple[str, str]],
        hub: HubServer | str,
        files: Sequence[str] | None = None,
    ) -> list[str]:
        """:func:`chaos.verify_hf_cache` (problems in a Hugging Face download; ``[]`` when verified)."""
        from chaos.installs import verify_hf_cache

        return verify_hf_cache(path, repos=repos, hub=hub, files=files)

    def verify_pip(
        self, target: str | os.PathLike[str], requirements: Sequence[str], *, pip_check: bool = True
    ) -> list[str]:
        """:func:`chaos.verify_pip` (problems in a pip install; ``[]`` when verified)."""
        from chaos.installs import verify_pip

        return verify_pip(target, requirements, pip_check=pip_check)

    def settle(self, result: CommandResult, problems: Sequence[str] = ()) -> Outcome:
        """The outcome of a command trial from its result and the steady-state ``problems`` (see
        :func:`chaos.command.settle`): returns ``recovered``, or raises CommandFailed after recording residue
        (``failed_dirty``) or the user message (``failed_clean``)."""
        from chaos.command import settle

        return settle(self.trial, result, problems)

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
