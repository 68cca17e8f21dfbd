"""The pytest11 entry point of the chaos harness (DESIGN §4.5).

``@pytest.mark.chaos(trials=50, min_recovery_rate=0.95, confidence=0.95)`` expands a test into seeded trials;
the ``chaos`` fixture arms faults inside one. Each trial's record travels on the report's ``user_properties``,
so the controller aggregates the same totals serially and under pytest-xdist. At session end each scenario
gets its verdict (:mod:`chaos.trials`): a missed threshold makes the exit status non-zero even if every trial
passed, and trial failures within a met threshold do not. Settings and precedence: :mod:`chaos.settings`.

Nothing heavy is imported here at module level, and a session with no chaos-marked test sees no change.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import time
import types
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from chaos.settings import SETTINGS, ChaosSettings, SettingError, resolve_settings
from chaos.trials import (
    ScenarioSettings,
    ScenarioSummary,
    SettingsError,
    Trial,
    aggregate,
    classify,
    derive_seed,
    planned_items,
    scenario_settings,
    sequential_rule,
    trial_seed,
)

if TYPE_CHECKING:
    from chaos.inject import Chaos
    from chaos.manager import ChaosManager

__all__ = ["ChaosPlugin", "SteadyStateError", "trial_index"]

_MARKER_DOC = (
    "chaos(trials=50|'auto', min_recovery_rate=0.95, confidence=0.95, gate='point'|'confident', max_trials=200, "
    "max_indeterminate=0.2): run this test as seeded chaos trials and gate its recovery rate"
)
# ini keys giving every scenario a default (a marker's own keys win): name -> (ini key, parser)
_INI_DEFAULTS: dict[str, tuple[str, Callable[[str], object]]] = {
    "gate": ("chaos_gate", str),
    "confidence": ("chaos_confidence", float),
    "max_trials": ("chaos_max_trials", int),
    "max_indeterminate": ("chaos_max_indeterminate", float),
}
_GROUP_PREFIX = "chaos-"
_PLUGIN_NAME = "chaos-session"
_PROPERTY = "chaos_trial"
_PLANNED_KEY = "chaos_planned"  # a worker's scenarios and thresholds, JSON, in its xdist workeroutput
_TRIAL_PARAM = "chaos_trial_index"
_TRIAL_ID = re.compile(r"(?:^|-)trial\d+(?=-|$)")
_TRIAL_KEY = pytest.StashKey[Trial]()
_HANDLE_KEY = pytest.StashKey["Chaos"]()
_SHOWN_FAILURES = 5


class SteadyStateError(AssertionError):
    """The trial's body passed but it left residue (a fault not reverted, leftovers, a failed check)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--chaos-*`` options and their ``chaos_*`` ini twins."""
    group = parser.getgroup("chaos", "chaos harness (resilience-chaos)")
    group.addoption("--chaos-seed", dest="chaos_seed", metavar="N", help="run seed (default: random, printed)")
    group.addoption("--chaos-trials", dest="chaos_trials", metavar="N", help="trials per scenario (overrides markers)")
    group.addoption("--chaos-report", dest="chaos_report", metavar="DIR", help="write journal/junit/summary here")
    group.addoption("--chaos-shard", dest="chaos_shard", metavar="I/N", help="run shard I of N (1-based)")
    group.addoption("--toxiproxy-url", dest="chaos_toxiproxy_url", metavar="URL", help="use this real Toxiproxy")
    group.addoption(
        "--chaos-tracebacks",
        dest="chaos_tracebacks",
        action="store_true",
        help="show failing trials' full tracebacks (default: one line and the replay command, unless -v)",
    )
    group.addoption(
        "--chaos-explain",
        dest="chaos_explain",
        action="store_true",
        help="print each scenario's gate and the trials a confident verdict needs, then exit without running",
    )
    for name, (flag, env_var, ini_key) in SETTINGS.items():
        parser.addini(ini_key, f"chaos {name} (overridden by ${env_var} and {flag})", type="string", default="")
    for name, (ini_key, _parse) in _INI_DEFAULTS.items():
        parser.addini(ini_key, f"chaos scenarios' default {name} (a marker's own {name} wins)", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, resolve the settings (CLI > env > ini) and install the session plugin."""
    config.addinivalue_line("markers", _MARKER_DOC)
    cli: dict[str, object] = {name: getattr(config.option, f"chaos_{name}", None) for name in SETTINGS}
    ini: dict[str, object] = {name: config.getini(keys[2]) for name, keys in SETTINGS.items()}
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "chaos_seed" in workerinput:
        cli["seed"] = workerinput["chaos_seed"]  # the controller drew it; every worker must use the same
    try:
        settings = resolve_settings(cli, os.environ, ini)
    except SettingError as error:
        raise pytest.UsageError(str(error)) from None
    defaults: dict[str, object] = {}
    for name, (ini_key, parse) in _INI_DEFAULTS.items():
        text = str(config.getini(ini_key) or "").strip()
        if not text:
            continue
        try:
            defaults[name] = parse(text)
        except ValueError:
            raise pytest.UsageError(
                f"ini {ini_key}={text!r} is not a {parse.__name__}; fix: e.g. {ini_key} = "
                f"{ {'gate': 'confident', 'confidence': '0.95', 'max_trials': '200'}.get(name, '0.2') }"
            ) from None
    try:
        scenario_settings({**defaults, "min_recovery_rate": 0.9}, "ini")
    except SettingsError as error:
        raise pytest.UsageError(str(error).replace("ini: ", "ini chaos_", 1)) from None
    config.pluginmanager.register(ChaosPlugin(config, settings, defaults), _PLUGIN_NAME)


def pytest_collect_file(parent: pytest.Collector, file_path: pathlib.Path) -> pytest.Collector | None:
    """Scenario files (``chaos*.toml``) are collected by :mod:`chaos.scenario.collect`."""
    if file_path.suffix != ".toml" or not file_path.name.startswith("chaos"):
        return None
    from chaos.scenario.collect import collect_file

    return collect_file(parent, file_path)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: forward the run seed to each worker (only the controller may draw a random one)."""
    plugin = node.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if plugin is not None:
        node.workerinput["chaos_seed"] = plugin.settings.seed


def plain_nodeid(item: pytest.Item) -> str:
    """``item.nodeid`` without the ``@group`` suffix pytest-xdist's loadgroup adds for ``xdist_group`` marks."""
    nodeid = item.nodeid
    names = sorted(
        {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
    )
    suffix = "@" + "_".join(names)
    return nodeid[: -len(suffix)] if names and nodeid.endswith(suffix) else nodeid


def scenario_id(item: pytest.Item) -> str:
    """The node id of the scenario an item belongs to: its own id without the ``trialN`` parameter id."""
    return _scenario_of(plain_nodeid(item))


def _scenario_of(nodeid: str) -> str:
    if "[" not in nodeid:
        return nodeid
    base, _, rest = nodeid.partition("[")
    params = _TRIAL_ID.sub("", rest[:-1]).strip("-")
    return f"{base}[{params}]" if params else base


def trial_index(item: pytest.Item) -> int:
    """The trial index of an item: the ``chaos_trial_index`` parameter of a marked test function, or the
    ``chaos_trial_index`` attribute of a non-Python item (a collected scenario file) that runs one trial."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _TRIAL_PARAM in callspec.params:
        return int(callspec.params[_TRIAL_PARAM])
    return int(getattr(item, _TRIAL_PARAM, 0))


class ChaosPlugin:
    """Session state: settings, the lazily built chaos plugin manager, and (on the controller) the records."""

    def __init__(
        self, config: pytest.Config, settings: ChaosSettings, defaults: dict[str, object] | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        self.defaults = dict(defaults or {})
        self._scenario_settings: dict[str, ScenarioSettings] = {}
        self.planned: dict[str, dict[str, Any]] = {}  # scenario -> threshold (with "expected"), serial runs
        self._progress: dict[str, list[int]] = {}  # scenario -> [successes, evaluated, indeterminate, dirty]
        self._decided: dict[str, str] = {}  # scenario -> why its remaining trials are not needed
        self._blocked: dict[str, str] = {}  # scenario -> its usage error (its other trials are not run)
        self._single_trial = False
        self.is_worker = hasattr(config, "workerinput")
        self.active = False
        self.records: list[dict[str, Any]] = []
        self.tolerated_failures = 0
        self.summaries: list[ScenarioSummary] = []
        self.written: list[str] = []
        self.report_error = ""
        self._manager: ChaosManager | None = None
        self._manager_error: Exception | None = None
        self._conftests: list[types.ModuleType] = []
        self._header_shown = False
        self.started = time.time()
        self._scratch: pathlib.Path | None = None
        self._scratch_count = 0

    # -- the chaos plugin manager, built on first use -------------------------------------------------------

    @property
    def manager(self) -> ChaosManager:
        """The session's chaos plugin manager (built-ins, entry points, conftest bridge)."""
        if self._manager is None:
            if self._manager_error is not None:
                raise self._manager_error  # the same error for every trial, not a half-loaded manager
            from chaos.manager import ChaosManager

            try:
                manager = ChaosManager.build()
                for module in self._conftests:
                    manager.register_module(module)
            except Exception as error:
                self._manager_error = error
                raise
            self._manager = manager
        return self._manager

    def pytest_plugin_registered(self, plugin: object) -> None:
        """The conftest bridge: a module defining ``chaos_*`` hooks joins the chaos plugin manager."""
        if not isinstance(plugin, types.ModuleType) or plugin.__name__.startswith("chaos."):
            return
        if not any(name.startswith("chaos_") and callable(value) for name, value in vars(plugin).items()):
            return  # cheap pre-filter; the chaos manager keeps only modules defining real hook names
        if self._manager is None:
            self._conftests.append(plugin)
        else:
            self._manager.register_module(plugin)

    def trial_workdir(self, factory: pytest.TempPathFactory) -> pathlib.Path:
        """A fresh scratch directory for one trial: one numbered temp dir per session, plain mkdir per trial
        (``mktemp`` per trial rescans the base directory each time: quadratic over thousands of trials)."""
        if self._scratch is None:
            self._scratch = factory.mktemp("chaos-trials")
        self._scratch_count += 1
        path = self._scratch / str(self._scratch_count)
        path.mkdir()
        return path

    # -- collection -----------------------------------------------------------------------------------------

    def pytest_report_header(self) -> str | None:
        """The seed, before collection, in every mode (the xdist controller prints it; workers have no header):
        a run killed midway can still be replayed."""
        self._header_shown = True
        return f"chaos: --chaos-seed={self.settings.seed}"

    def scenario_settings(self, node: pytest.Item, scenario: str) -> ScenarioSettings:
        """The validated settings of a chaos-marked node (ini defaults, then the marker's keys); a bad key fails
        the node's collection with one line (the scenario, the field, the value and the fix)."""
        cached = self._scenario_settings.get(scenario)
        if cached is not None:
            return cached
        marker = node.get_closest_marker("chaos")
        if marker is not None and marker.args:
            pytest.fail(
                f"{scenario}: @pytest.mark.chaos takes keywords only; fix: chaos(trials=..., ...)", pytrace=False
            )
        values = {**self.defaults, **(marker.kwargs if marker is not None else {})}
        try:
            settings = scenario_settings(values, scenario, trials_override=self.settings.trials)
        except SettingsError as error:
            problem = str(error)
        else:
            self._scenario_settings[scenario] = settings
            return settings
        pytest.fail(problem, pytrace=False)  # outside the except block: one line, no "During handling" chain

    def _group(self, scenario: str) -> str:
        return f"{_GROUP_PREFIX}{derive_seed('group', scenario):016x}"

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Expand a chaos-marked test into its trials (``test_x[trial0]`` ... ``test_x[trialN-1]``); under
        ``trials="auto"`` ``max_trials`` of them, all in one xdist group."""
        marker = metafunc.definition.get_closest_marker("chaos")
        if marker is None:
            return
        scenario = _scenario_of(metafunc.definition.nodeid)
        settings = self.scenario_settings(metafunc.definition, scenario)
        count = planned_items(settings)
        if _TRIAL_PARAM not in metafunc.fixturenames:
            metafunc.fixturenames.append(_TRIAL_PARAM)
        marks = [pytest.mark.xdist_group(self._group(scenario))] if settings.auto else []
        params = [pytest.param(index, marks=marks, id=f"trial{index}") for index in range(count)]
        metafunc.parametrize(_TRIAL_PARAM, params)

    def _expected(self, settings: ScenarioSettings, index_shard: bool) -> int:
        """How many of a scenario's trial items this shard runs."""
        count, planned = self.settings.shard_count, planned_items(settings)
        if count == 1 or not index_shard:
            return planned
        return len(range(self.settings.shard_index - 1, planned, count))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Mark the session active when chaos trials exist, group auto scenarios, keep only this shard's items.

        Shards split a fixed-count scenario by trial index and keep an auto scenario whole (its trials decide
        as they go), on the shard its scenario id hashes to.
        """
        self.active = self.active or any(item.get_closest_marker("chaos") for item in items)
        for item in items:
            if item.get_closest_marker("chaos") is None or isinstance(item, pytest.Function):
                continue
            scenario = scenario_id(item)  # a non-Python item (a scenario file) carries the marker itself
            if self.scenario_settings(item, scenario).auto and item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group(self._group(scenario)))
        count = self.settings.shard_count
        if count == 1:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            if item.get_closest_marker("chaos") is not None:
                scenario = scenario_id(item)
                auto = self.scenario_settings(item, scenario).auto
                ordinal = derive_seed("shard", scenario) if auto else trial_index(item)
            else:
                ordinal = derive_seed("shard", item.nodeid)
            (keep if ordinal % count == self.settings.shard_index - 1 else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Note what each scenario is planned to run (a scenario left with no trial run is then incomplete),
        and under ``--chaos-explain`` print the plan."""
        chaos_items = [item for item in session.items if item.get_closest_marker("chaos") is not None]
        self.validate_static_faults(chaos_items)
        for item in chaos_items:
            self.planned.setdefault(scenario_id(item), self.threshold(item))
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # pytest-xdist: the controller collects nothing, so it learns the plan here
            workeroutput[_PLANNED_KEY] = json.dumps(self.planned, sort_keys=True)
        self._single_trial = len(chaos_items) == 1  # a replay: show its full traceback
        if self.config.getoption("chaos_explain", False):
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                for scenario in sorted(self.planned):
                    reporter.write_line(explain_line(scenario, self._scenario_settings[scenario]))

    def validate_static_faults(self, items: list[pytest.Item]) -> None:
        """Check the faults an item declares up front (its ``chaos_faults`` attribute: ``(name, params)`` pairs,
        set by a scenario file's item) before any trial: an unknown fault or a bad parameter stops the run with
        one line and exit 4 (pytest's usage error), once per scenario, instead of failing every trial."""
        from chaos.errors import FaultParamError

        seen: set[str] = set()
        for item in items:
            faults = getattr(item, "chaos_faults", None)
            scenario = scenario_id(item)
            if not faults or scenario in seen:
                continue
            seen.add(scenario)
            for name, params in faults:
                try:
                    self.manager.validate(str(name), dict(params))
                except FaultParamError as error:
                    problem = f"{scenario}: {type(error).__name__}: {error}"
                else:
                    continue
                raise pytest.UsageError(problem)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """``--chaos-explain`` runs nothing."""
        if self.config.getoption("chaos_explain", False):
            return True
        return None

    # -- running one trial ----------------------------------------------------------------------------------

    def threshold(self, item: pytest.Item) -> dict[str, Any]:
        """What every record of ``item``'s scenario carries: its settings and how many trials this shard runs."""
        scenario = scenario_id(item)
        settings = self.scenario_settings(item, scenario)
        return {**settings.to_threshold(), "expected": self._expected(settings, index_shard=not settings.auto)}

    def new_trial(self, item: pytest.Item) -> Trial:
        """The trial an item runs: scenario id, index and the seed derived from the run seed."""
        index = trial_index(item)
        scenario = scenario_id(item)
        return Trial(scenario=scenario, index=index, seed=trial_seed(self.settings.seed, scenario, index))

    def replay_command(self, item: pytest.Item, trials: int | None = None) -> str:
        """The exact command that reruns this one trial with the same seed, from the directory pytest ran in.

        The node id's file part is made relative to the invocation directory (node ids are relative to the
        rootdir, which differs when pytest runs from a subdirectory). A trial's shard follows from its index, so
        the same command also replays it under the ``--chaos-shard`` setting it ran with.
        """
        nodeid = plain_nodeid(item)
        file_part, sep, rest = nodeid.partition("::")
        invocation_dir = self.config.invocation_params.dir
        if sep and invocation_dir != self.config.rootpath:
            file_part = os.path.relpath(item.path, invocation_dir)
        parts = ["pytest", shlex.quote(f"{file_part}{sep}{rest}"), f"--chaos-seed={self.settings.seed}"]
        if trials is not None:
            parts.append(f"--chaos-trials={trials}")
        return " ".join(parts)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Create the trial of a chaos-marked item before its fixtures run, and announce it to plugins."""
        if item.get_closest_marker("chaos") is None:
            return
        self.active = True
        scenario = scenario_id(item)
        if scenario in self._blocked:
            pytest.skip(f"chaos: {scenario} not run: {self._blocked[scenario]}")
        if scenario in self._decided:
            pytest.skip(self._decided[scenario])
        trial = self.new_trial(item)
        item.stash[_TRIAL_KEY] = trial
        self.manager.hook.chaos_trial_start(trial=trial)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """After the body: run the steady-state checks; residue fails a body that passed."""
        if _TRIAL_KEY not in item.stash:
            return (yield)
        from chaos.errors import UnsupportedFault

        trial = item.stash[_TRIAL_KEY]
        try:
            result = yield
        except UnsupportedFault as error:
            pytest.skip(f"chaos fault unavailable on this machine: {error}")
        finally:
            handle = item.stash.get(_HANDLE_KEY, None)
            if handle is not None:
                handle.finish()
        if trial.residue:
            residue = "\n  ".join(trial.residue)
            raise SteadyStateError(f"chaos: trial left residue (failed_dirty):\n  {residue}")
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Classify the trial, attach its record to the report and, on failure, the replay command.

        A usage error (unknown fault, bad parameter) or a fault that could not be armed reads as one line; a
        failing trial reads as one line and its replay command unless ``-v`` or ``--chaos-tracebacks``; a
        failing baseline trial (``min_recovery_rate=0``) is an expected failure (``x``).
        """
        report = yield
        trial = item.stash.get(_TRIAL_KEY, None)
        marked = item.get_closest_marker("chaos") is not None
        if trial is None or not marked or trial.outcome is not None or report.skipped:
            return report
        if call.when == "setup" and not report.failed:
            return report
        if call.when == "teardown" and not report.failed:
            return report
        error = call.excinfo.value if call.excinfo is not None and report.failed else None
        from chaos.errors import ChaosError, FaultArmError, FaultParamError

        harness_error = call.when != "call" or (isinstance(error, ChaosError) and not trial.residue)
        trial.outcome = classify(trial, body_error=error, harness_error=harness_error)
        if error is not None:
            # the first line only: pytest's assertion explanations carry object addresses that differ per run
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            trial.error = f"{type(error).__name__}: {first_line}".strip()[:500]
        threshold = self.threshold(item)
        scenario = trial.scenario
        replay = self.replay_command(item, planned_items(self.scenario_settings(item, scenario)))
        record = trial.record(replay=replay, threshold=threshold)
        record["duration_s"] = round(call.duration, 6)  # the phase's wall time: JUnit's time (report/junit.py)
        if isinstance(error, FaultParamError) and not trial.residue:
            record["usage_error"] = f"{type(error).__name__}: {error}"
            self._blocked[scenario] = f"{record['usage_error']} (trial {trial.index})"
            report.longrepr = f"chaos: {type(error).__name__}: {error}"
        elif isinstance(error, FaultArmError) and not trial.residue:
            report.longrepr = f"chaos: indeterminate: {error}"
        elif report.failed and trial.outcome is not None and _default_report(item) and not self._full_tracebacks():
            what = str(error) if isinstance(error, SteadyStateError) else trial.error  # residue: every item
            more = "full traceback: -v or --chaos-tracebacks"
            report.longrepr = f"chaos: {trial.outcome}: {what}\n  replay: {replay} ({more})"
        report.user_properties.append((_PROPERTY, json.dumps(record, sort_keys=True)))
        if report.failed:
            report.sections.append(("chaos replay", f"outcome: {trial.outcome}\nreplay: {replay}"))
        if report.failed and call.when == "call" and threshold["min_recovery_rate"] == 0.0 and not trial.leaked:
            # a baseline measures how often the plain client fails, half-written installs included: expected, x
            report.outcome = "skipped"
            report.wasxfail = f"baseline trial {trial.outcome}: {trial.error}; replay: {replay}"
        if self._manager is not None:  # None when building it failed in setup: that error is the report
            self._manager.hook.chaos_trial_end(trial=trial, outcome=trial.outcome)
        return report

    def _full_tracebacks(self) -> bool:
        """-v, --chaos-tracebacks, or a run of one trial (a replay command) show a failing trial's traceback."""
        if self._single_trial or self.config.getoption("chaos_tracebacks", False):
            return True
        return bool(self.config.getoption("verbose", 0) > 0)

    def open_handle(
        self, item: pytest.Item, factory: pytest.TempPathFactory, get_proxy: Callable[[], Any] | None
    ) -> Chaos:
        """The trial handle of ``item`` (the ``chaos`` fixture's value; non-Python items call this directly).

        ``get_proxy`` returns the trial's proxy on first use by a network fault; the handle is finished (its
        steady-state checks run) after the item's call phase.
        """
        from chaos.inject import Chaos

        trial = item.stash.get(_TRIAL_KEY, None)
        if trial is None:
            trial = self.new_trial(item)
            item.stash[_TRIAL_KEY] = trial

        def skip_unavailable(reason: str) -> None:
            pytest.skip(f"chaos fault unavailable on this machine: {reason}")

        handle = Chaos(
            trial,
            workdir=lambda: self.trial_workdir(factory),
            make_fault=self.manager.make_fault,
            get_proxy=get_proxy,
            toxiproxy_url=self.settings.toxiproxy_url,
            on_unavailable=skip_unavailable,
        )
        item.stash[_HANDLE_KEY] = handle
        return handle

    # -- aggregation on the controller ----------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect trial records from every report (xdist forwards workers' reports with their properties), and
        keep each scenario's running counts: the sequential rule reads them before the scenario's next trial."""
        for key, value in report.user_properties:
            if key != _PROPERTY:
                continue
            record = json.loads(str(value))
            self.records.append(record)
            self.active = True
            if report.failed and record["outcome"] != "failed_dirty":
                self.tolerated_failures += 1
            self._advance(record)

    def _advance(self, record: Mapping[str, Any]) -> None:
        """Update the scenario's counts with one record; note a decision so its later trials are skipped."""
        scenario, threshold = str(record["scenario"]), record.get("threshold") or {}
        progress = self._progress.setdefault(scenario, [0, 0, 0, 0])
        outcome = record["outcome"]
        progress[0] += outcome in ("recovered", "recovered_degraded")
        progress[1] += outcome in ("recovered", "recovered_degraded", "failed_clean", "failed_dirty")
        progress[2] += outcome == "indeterminate"
        progress[3] += outcome == "failed_dirty"
        if threshold.get("trials") != "auto" or scenario in self._decided:
            return
        successes, evaluated, indeterminate, dirty = progress
        max_trials = int(threshold["max_trials"])
        rule = sequential_rule(float(threshold["min_recovery_rate"]), float(threshold["confidence"]), max_trials)
        decision = rule.decide(successes, evaluated)
        ran = sum(progress[1:])
        if decision is not None:
            self._decided[scenario] = f"chaos: {scenario} decided ({decision}) after {ran} trials"
        elif dirty:
            self._decided[scenario] = f"chaos: {scenario} decided (fail: failed_dirty) after {ran} trials"
        elif indeterminate > float(threshold["max_indeterminate"]) * max_trials:
            self._decided[scenario] = f"chaos: {scenario} decided (fail: too many indeterminate) after {ran} trials"

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """pytest-xdist ``--dist load`` (``-n`` alone) and ``worksteal``: send a scenario's trials to one worker.

        A ``trials="auto"`` scenario decides on its own trials as they run, so they must all run in one process,
        in order; grouping every scenario keeps a usage error to one failure too. Tests without trials are each
        their own group, as under ``load``. Other ``--dist`` modes are left to pytest-xdist.
        """
        if config.getvalue("dist") not in ("load", "worksteal"):
            return None
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return _scenario_of(nodeid.rpartition("@")[0] if "@" + _GROUP_PREFIX in nodeid else nodeid)

        return ScenarioScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist: take a worker's plan, so a scenario that ran no trial before ``-x`` stopped every worker
        is ``incomplete`` under xdist too (a worker that crashed before collecting has none)."""
        planned = getattr(node, "workeroutput", {}).get(_PLANNED_KEY)
        if planned:
            for scenario, threshold in json.loads(planned).items():
                self.planned.setdefault(scenario, threshold)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Aggregate, write the reports, and set the exit status from the scenarios' verdicts.

        A scenario passes only with verdict ``pass`` (or ``baseline``); ``fail``, ``undecided`` and
        ``incomplete`` make the exit status non-zero, even if every trial passed.
        """
        if self.is_worker or self.config.getoption("chaos_explain", False) or self.config.option.collectonly:
            return
        unrun = {scenario: t for scenario, t in self.planned.items() if scenario not in self._recorded()}
        if not self.records and not unrun:
            return
        from chaos.report import build_journal, write_reports

        self.summaries = aggregate(self.records, planned=unrun)
        journal = build_journal(
            self.settings.seed, self.summaries, self.records, started=self.started, ended=time.time()
        )
        if self.settings.report_dir is not None:
            outdir = self.settings.report_dir
            if not outdir.is_absolute():
                outdir = self.config.invocation_params.dir / outdir
            try:
                paths = write_reports(journal, outdir)
            except OSError as error:  # one line at the end of the run, not an INTERNALERROR traceback
                self.report_error = (
                    f"chaos: cannot write the reports to {outdir}: {error}; fix: pass a writable --chaos-report DIR"
                )
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
                return
            extra = self.manager.hook.chaos_report(journal=journal, outdir=outdir)
            paths.extend(path for paths_from_plugin in extra if paths_from_plugin for path in paths_from_plugin)
            self.written = [str(path) for path in paths]
        failed = [summary for summary in self.summaries if not summary.passed]
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif (
            not failed
            and session.exitstatus == pytest.ExitCode.TESTS_FAILED
            and session.testsfailed <= self.tolerated_failures
            and not session.shouldstop
        ):
            session.exitstatus = pytest.ExitCode.OK

    def _recorded(self) -> set[str]:
        return {str(record["scenario"]) for record in self.records}

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line per scenario, the failing trials' replay commands, and the report files."""
        if not self.summaries:
            return
        from chaos.report.markdown import summary_lines

        terminalreporter.section("chaos")
        terminalreporter.write_line(f"chaos: --chaos-seed={self.settings.seed}")
        for line in summary_lines(self.summaries, limit=_SHOWN_FAILURES):
            terminalreporter.write_line(line)
        if self.tolerated_failures and all(summary.passed for summary in self.summaries):
            terminalreporter.write_line(
                f"chaos: {self.tolerated_failures} failing trial(s) are within their scenarios' thresholds"
            )
            self._count_as_tolerated(terminalreporter)
        for path in self.written:
            terminalreporter.write_line(f"chaos report: {path}")
        if self.report_error:
            terminalreporter.write_line(self.report_error, red=True)

    def _count_as_tolerated(self, terminalreporter: Any) -> None:
        """Every threshold met: pytest's closing line counts the failing trials as ``tolerated``, not
        ``failed`` (their one-line reports and replay commands are above), so it shows no failure."""
        failed = terminalreporter.stats.get("failed", [])
        chaos_trials = [
            report
            for report in failed
            if any(key == _PROPERTY for key, _ in getattr(report, "user_properties", ()))
            and '"outcome": "failed_dirty"' not in dict(report.user_properties).get(_PROPERTY, "")
        ]
        if failed and len(chaos_trials) == len(failed):
            terminalreporter.stats["failed"] = []
            terminalreporter.stats.setdefault("tolerated", []).extend(chaos_trials)


def _default_report(item: pytest.Item) -> bool:
    """True when ``item`` keeps pytest's own failure report (a scenario file's item may write its own)."""
    return type(item).repr_failure in (pytest.Function.repr_failure, pytest.Item.repr_failure)


def explain_line(scenario: str, settings: ScenarioSettings) -> str:
    """``--chaos-explain``'s line for a scenario: its gate, and the trials a confident verdict needs."""
    from chaos.trials import confident_trials

    rate, level = settings.min_recovery_rate, settings.confidence
    head = f"{scenario}: min {rate:g} at {level * 100:g}%"
    if rate == 0.0:
        return f"{head}: baseline, {settings.trials} trials measured, not gated"
    needed = confident_trials(rate, level)
    fixed = f"a fixed run needs {needed} all-success trials to be confident" if needed else "cannot be confident"
    if settings.auto:
        rule = sequential_rule(rate, level, settings.max_trials)
        stop = rule.all_success_stop
        at_stop = f"stops after {stop} if every trial recovers" if stop else "cannot pass within max_trials"
        return (
            f"{head}: trials='auto' (max {settings.max_trials}) {at_stop}; expected "
            f"{rule.expected_stop(rate):.0f} at a true rate of {rate:g}; {fixed}"
        )
    return f"{head}: gate={settings.gate}, {settings.trials} trials; {fixed}"


def _session_plugin(config: pytest.Config) -> ChaosPlugin:
    plugin = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if not isinstance(plugin, ChaosPlugin):
        raise pytest.UsageError("the chaos plugin is not configured; fix: do not pass -p no:chaos")
    return plugin


# -- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def chaos_trial_index() -> int:
    """The index of the current trial (parametrized by the ``chaos`` marker; 0 for an unmarked test)."""
    return 0


@pytest.fixture
def chaos(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Chaos:
    """The trial's handle: ``chaos.inject(name, **params)``, ``chaos.watch(dir)``, ``chaos.runtime_hook``."""
    plugin = _session_plugin(request.config)
    return plugin.open_handle(request.node, tmp_path_factory, lambda: request.getfixturevalue("chaos_proxy"))


@pytest.fixture(scope="session")
def chaos_manager(pytestconfig: pytest.Config) -> ChaosManager:
    """The session's chaos plugin manager: ``chaos_manager.registry.names()`` lists the known faults."""
    plugin = _session_plugin(pytestconfig)
    return plugin.manager


@pytest.fixture(scope="session")
def chaos_proxy(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A session-wide embedded Toxiproxy (``chaos.proxy.EmbeddedToxiproxy``), seeded from the run seed.

    ``chaos_proxy.create_proxy("hub", upstream=f"127.0.0.1:{port}")`` puts a proxy in front of a target; network
    faults then act on it by name (``chaos.inject("network.down", proxy="hub")``).
    """
    from chaos.proxy import EmbeddedToxiproxy

    plugin = _session_plugin(pytestconfig)
    with EmbeddedToxiproxy(seed=derive_seed("proxy", plugin.settings.seed)) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def chaos_hub_spec() -> Any:
    """The repos ``chaos_hub`` serves; override this fixture in a conftest.py to serve your own."""
    from chaos.targets import HubSpec, model_repo

    return HubSpec(repos=(model_repo("acme/wan-mini", shards=2, shard_size_bytes=1_000_000),), seed=7)


@pytest.fixture(scope="session")
def chaos_hub(chaos_hub_spec: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A session-wide local Hugging Face compatible hub (``chaos.targets.HubServer``) on 127.0.0.1."""
    from chaos.targets import HubServer

    with HubServer(chaos_hub_spec, root=tmp_path_factory.mktemp("chaos-hub")) as hub:
        yield hub


@pytest.fixture(scope="session")
def chaos_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A session-wide pypiserver over generated wheels (``chaos.targets.PackageIndex``); ``url`` ends in /simple/."""
    from chaos.targets import PackageIndex

    with PackageIndex(root=tmp_path_factory.mktemp("chaos-index")) as index:
        yield index
