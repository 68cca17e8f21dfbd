"""pytest collection of scenario files: each ``chaos*.toml`` becomes one item per (matrix entry, trial).

The chaos plugin hands ``pytest_collect_file`` here. A file's items are ``chaos.toml::<entry id>[trial<N>]``;
the scenario id of a row is ``chaos.toml::<entry id>``. Each item carries the chaos marker with the file's
verdict keys (the entry's override them), so the trials aggregate, gate and report like those of a marked test.

One trial: the served hub and index are started once per file for the session, each behind a proxy of the
session's ``chaos_proxy`` (network faults act on those proxies), the entry's faults are armed together in
the file's order, the command runs once through :meth:`chaos.Chaos.run` (plus the rerun rule), and its outcome
follows from the exit status and the file's steady-state checks (:meth:`chaos.Chaos.settle`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chaos.scenario.model import FaultStep, MatrixEntry, ScenarioError, ScenarioFile, is_scenario_file

if TYPE_CHECKING:
    from chaos.command import CommandResult
    from chaos.inject import Chaos

__all__ = ["ScenarioFileNode", "ScenarioTrial", "collect_file"]

_TARGETS_KEY = pytest.StashKey["_Targets"]()
_SHOWN_STDERR_LINES = 8
_PLUGIN_NAME = "chaos-session"  # the name chaos.pytest_plugin registers its session plugin under


def _session_plugin(config: pytest.Config) -> Any:
    """The chaos session plugin (looked up by name: this module is imported by the plugin, not the reverse)."""
    plugin = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if plugin is None:
        raise pytest.UsageError("the chaos plugin is not configured; fix: do not pass -p no:chaos")
    return plugin


def collect_file(parent: pytest.Collector, file_path: Path) -> ScenarioFileNode | None:
    """The collector of ``file_path`` when it is a scenario file (``chaos*.toml``), else None."""
    if not is_scenario_file(file_path):
        return None
    node: ScenarioFileNode = ScenarioFileNode.from_parent(parent, path=file_path)
    return node


class ScenarioFileNode(pytest.File):
    """A ``chaos*.toml`` file: loaded and validated in full at collection, before any trial runs."""

    def collect(self) -> Iterator[pytest.Item]:
        from chaos.scenario.loader import load_scenario

        plugin = _session_plugin(self.config)
        scenario = load_scenario(self.path, manager=plugin.manager)
        for entry in scenario.matrix:
            thresholds = scenario.entry_thresholds(entry)
            count = _item_count(plugin, thresholds)
            for index in range(count):
                item = ScenarioTrial.from_parent(
                    self, name=f"{entry.id}[trial{index}]", callobj=_trial_body(scenario, entry)
                )
                item.chaos_trial_index = index  # type: ignore[attr-defined]  # read by chaos.pytest_plugin.trial_index
                # The static faults, for the plugin's collection-time check (already validated by the loader).
                item.chaos_faults = [(step.name, dict(step.params)) for step in entry.faults]  # type: ignore[attr-defined]
                item.add_marker(pytest.mark.chaos(**thresholds))
                yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]  # pytest's own signature, narrowed result
        """A bad scenario file is one line, not a traceback."""
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class ScenarioTrial(pytest.Function):
    """One trial of one matrix entry; a command that did not recover reports its message and stderr tail."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """The scenario file and the entry's trial, not the harness function that runs it."""
        return self.path, None, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]  # see above
        result = getattr(excinfo.value, "result", None)  # chaos.command.CommandFailed carries the command's result
        if result is None:
            return super().repr_failure(excinfo)
        lines = [str(excinfo.value)]
        tail = [line for line in str(result.stderr_tail).splitlines() if line.strip()][-_SHOWN_STDERR_LINES:]
        if tail:
            lines += ["stderr (last lines):", *(f"  {line}" for line in tail)]
        return "\n".join(lines)


def _item_count(plugin: Any, thresholds: dict[str, Any]) -> int:
    """How many trial items an entry gets: --chaos-trials, its ``trials``, or what the verdict rule plans."""
    from chaos import trials

    if plugin.settings.trials:
        return int(plugin.settings.trials)
    count = thresholds.get("trials", trials.DEFAULT_TRIALS)
    if isinstance(count, int):
        return count
    settings_of = getattr(trials, "scenario_settings", None)  # trials="auto": the sequential rule's plan
    planned = getattr(trials, "planned_items", None)
    if settings_of is not None and planned is not None:
        return int(planned(settings_of(thresholds, "")))
    return int(trials.DEFAULT_TRIALS)


def _trial_body(scenario: ScenarioFile, entry: MatrixEntry) -> Callable[..., None]:
    def scenario_trial(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
        run_trial(request, tmp_path_factory, scenario, entry)

    scenario_trial.__doc__ = f"{scenario.path.name}: {' + '.join(step.name for step in entry.faults)}"
    return scenario_trial


class _Targets:
    """The hubs and indexes of the session's scenario files, each behind a proxy of ``chaos_proxy``."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.proxies: dict[tuple[str, str], str] = {}
        self.hubs: dict[str, Any] = {}

    def proxy(self, request: pytest.FixtureRequest, scenario: ScenarioFile, kind: str) -> str:
        """The name of the proxy in front of ``scenario``'s hub or index, started on first use."""
        key = (str(scenario.path), kind)
        if key in self.proxies:
            return self.proxies[key]
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        if kind == "hub" and scenario.hub is not None:
            from chaos.targets import HubServer

            server: Any = self.stack.enter_context(HubServer(scenario.hub, root=factory.mktemp("chaos-hub")))
            self.hubs[str(scenario.path)] = server
            upstream = f"127.0.0.1:{server.port}"
        else:
            from chaos.targets import PackageIndex

            server = self.stack.enter_context(PackageIndex(scenario.index, root=factory.mktemp("chaos-index")))
            upstream = server.url.split("//", 1)[1].split("/", 1)[0]
        name = f"{kind}-{len(self.proxies) + 1}"
        request.getfixturevalue("chaos_proxy").create_proxy(name, upstream=upstream, listen="127.0.0.1:0")
        self.proxies[key] = name
        return name


def _targets(config: pytest.Config) -> _Targets:
    if _TARGETS_KEY not in config.stash:
        targets = _Targets()
        config.stash[_TARGETS_KEY] = targets
        config.add_cleanup(targets.stack.close)
    return config.stash[_TARGETS_KEY]


def run_trial(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, scenario: ScenarioFile, entry: MatrixEntry
) -> None:
    """One trial of ``entry``: arm its faults, run the command, settle the outcome from the checks."""
    plugin = _session_plugin(request.config)
    chaos: Chaos = plugin.open_handle(request.node, factory, lambda: request.getfixturevalue("chaos_proxy"))
    targets = _targets(request.config)
    proxies = {kind: targets.proxy(request, scenario, kind) for kind in ("hub", "index") if getattr(scenario, kind)}
    values = {"workdir": str(chaos.workdir), "scenario_dir": str(scenario.directory), "python": sys.executable}
    if "hub" in proxies:
        values["hub_url"] = chaos.route(hub=proxies["hub"], env={})["HF_ENDPOINT"]
    if "index" in proxies:
        values["index_url"] = chaos.route(index=proxies["index"], env={})["PIP_INDEX_URL"]

    def fill(text: str) -> str:
        return text.format_map(values)

    leftovers = [Path(fill(path)) for path in scenario.leftovers]
    for root in leftovers:
        root.mkdir(parents=True, exist_ok=True)  # faults with a path (disk.full, file.corrupt) need it to exist
        chaos.watch(root, ignore=scenario.ignore)
    chaos.target_kind = "subprocess"  # disk.full picks a mount namespace around the command
    facts: dict[str, Any] = {}
    if leftovers:
        facts["root"] = str(leftovers[0])
    if isinstance(scenario.command, str):
        argv = ["/bin/sh", "-c", fill(scenario.command)]
    else:
        argv = [fill(arg) for arg in scenario.command]
    env = dict(os.environ)
    # The harness's interpreter directory first, as an activated venv would: `hf`, `pip` are the ones beside it.
    env["PATH"] = os.pathsep.join(part for part in (str(Path(sys.executable).parent), env.get("PATH", "")) if part)
    env.update({key: fill(value) for key, value in scenario.env.items()})
    cwd = Path(fill(scenario.cwd))
    cwd.mkdir(parents=True, exist_ok=True)
    chaos.note("scenario", file=str(scenario.path), entry=entry.id, argv=argv, faults=[s.name for s in entry.faults])

    def run() -> CommandResult:
        return chaos.run(
            argv,
            env=env,
            cwd=cwd,
            timeout_s=scenario.timeout_s,
            hub=proxies.get("hub"),
            index=proxies.get("index"),
            rerun=scenario.rerun,
        )

    with contextlib.ExitStack() as armed:
        timeline: list[tuple[float, Callable[[], None]]] = []
        for step in entry.faults:
            params = {key: fill(value) if isinstance(value, str) else value for key, value in step.params.items()}
            proxy = proxies[step.proxy] if step.proxy is not None else None
            one = armed.enter_context(contextlib.ExitStack())  # exited early when the step is timed

            def arm(
                one: contextlib.ExitStack = one,
                step: FaultStep = step,
                params: dict[str, Any] = params,
                proxy: str | None = proxy,
            ) -> None:
                one.enter_context(chaos.inject(step.name, proxy=proxy, target=dict(facts), **params))

            if step.at_s is None:
                arm()
            else:
                timeline.append((step.at_s, arm))
            if step.for_s is not None:
                timeline.append(((step.at_s or 0.0) + step.for_s, one.close))
        result = _run_timed(run, timeline) if timeline else run()
    chaos.settle(result, _problems(chaos, scenario, targets, fill, required=result.ok))


def _run_timed(run: Callable[[], CommandResult], timeline: list[tuple[float, Callable[[], None]]]) -> CommandResult:
    """``run()`` in a worker thread while this thread arms (``at_s``) and reverts (``for_s`` after arming) the
    timed faults at their instants, counted from the start; what is still armed is reverted by the caller."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = run()
        except BaseException as error:  # noqa: BLE001  # re-raised in the trial's thread below
            box["error"] = error

    worker = threading.Thread(target=work, name="chaos-scenario-run", daemon=True)
    started = time.monotonic()
    worker.start()
    pending = sorted(timeline, key=lambda pair: pair[0])  # stable: an arm comes before its own revert
    # Real time on purpose: the faults race a real command, not the harness clock.
    try:
        while worker.is_alive():
            while pending and time.monotonic() - started >= pending[0][0]:
                pending.pop(0)[1]()
            worker.join(0.01)
    finally:  # a fault that failed to arm mid-run: the command (bounded by its timeout) still ends first
        worker.join()
    if "error" in box:
        raise box["error"]
    result: CommandResult = box["result"]
    return result


def _problems(
    chaos: Chaos, scenario: ScenarioFile, targets: _Targets, fill: Callable[[str], str], *, required: bool
) -> list[str]:
    """What the file's checks find after the command.

    After a run that succeeded every file and requirement must be there (``required``); after a failed one only
    damage counts (files with other bytes, unfinished downloads, held locks, broken RECORDs): nothing at all is
    what a clean failure leaves.
    """
    problems: list[str] = []
    for cache in scenario.hf_cache:
        hub = targets.hubs[str(scenario.path)]  # the loader refuses hf_cache checks without [hub]
        location = fill(cache.path)
        found = chaos.verify_hf_cache(Path(location), repos=list(cache.repos), hub=hub, files=None if required else [])
        problems.extend(f"hf_cache {location}: {problem}" for problem in found)
    for pip in scenario.pip:
        location = fill(pip.target)
        found = chaos.verify_pip(Path(location), list(pip.requirements) if required else [])
        problems.extend(f"pip {location}: {problem}" for problem in found)
    return problems
