"""JUnit XML from a journal: one ``<testcase>`` per scenario, its figures as ``<property>`` elements.

This is the file CI should read for a chaos run, not pytest's own ``--junitxml``: pytest counts every failing
*trial* as a failed test, so a run whose scenarios all met their thresholds (exit status 0) still shows red
there. Here a test case is a scenario and fails only when its verdict is ``fail``:

- a failed scenario is a ``<failure>`` with the reason and every failing trial's replay command;
- a baseline (``min_recovery_rate=0``, measured, not gated) is ``<skipped>`` with the reason, so reporters
  neither count its expected failures nor call it a pass;
- an ``undecided`` or ``incomplete`` scenario is ``<skipped>`` too, with what it lacked;
- ``time`` is the sum of the scenario's trial durations (the suite's is the run's wall time).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # we only build XML here, never parse untrusted input
from collections.abc import Mapping
from typing import Any

from chaos.report.view import ScenarioView, build_view

__all__ = ["render_junit"]


def _properties(parent: ET.Element, values: Mapping[str, object]) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value="" if value is None else str(value))


def _time(scenario: ScenarioView) -> float:
    return sum(trial.duration_s or 0.0 for trial in scenario.trial_views)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _case(suite: ET.Element, scenario: ScenarioView) -> None:
    path, _, name = scenario.id.rpartition("::")
    classname = path.replace("/", ".").removesuffix(".py")
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{_time(scenario):.3f}")
    values: dict[str, object] = {
        "verdict": scenario.verdict,
        "trials": scenario.trials,
        "recovery_rate": scenario.recovery_rate,
        "interval_lo": scenario.interval[0],
        "interval_hi": scenario.interval[1],
        "threshold": scenario.threshold,
        "confidence": scenario.confidence,
        "faults": ",".join(scenario.faults),
        "time_to_recover_p50_s": scenario.time_to_recover["p50"],
        "time_to_recover_p95_s": scenario.time_to_recover["p95"],
    }
    values.update({f"outcome.{key}": count for key, count in scenario.outcomes.items()})
    values.update({f"extra.{key}": value for key, value in sorted(scenario.extra.items())})
    _properties(case, values)
    if scenario.verdict == "fail":
        failing = [
            f"trial {trial.index} {trial.outcome}: {trial.error_line}\n  replay: {trial.replay}"
            for trial in scenario.bad_trials
        ]
        failure = ET.SubElement(case, "failure", message=scenario.reason or "threshold missed", type="chaos.verdict")
        failure.text = "\n".join(failing) or scenario.reason
    elif scenario.verdict == "baseline":
        message = (
            f"baseline (min_recovery_rate=0): measured for comparison, not gated; "
            f"rate {_pct(scenario.recovery_rate)} over {scenario.trials} trials"
        )
        ET.SubElement(case, "skipped", message=message, type="chaos.baseline")
    elif scenario.verdict != "pass":
        message = f"{scenario.verdict}: {scenario.reason or 'no verdict reached'}"
        ET.SubElement(case, "skipped", message=message, type=f"chaos.{scenario.verdict}")


def render_junit(journal: Mapping[str, Any]) -> str:
    """The JUnit XML document (a ``<testsuites>`` with one ``<testsuite name="chaos">``) as text."""
    view = build_view(journal)
    scenarios = view.scenarios
    failures = len(view.failed)
    skipped = sum(1 for scenario in scenarios if scenario.verdict not in ("pass", "fail"))
    wall = f"{view.run.duration_s or 0.0:.3f}"
    counts = {"tests": str(len(scenarios)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "resilience-chaos", "time": wall, **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": "chaos", "timestamp": view.run.started, "hostname": view.run.host, "time": wall, **counts},
    )
    _properties(
        suite,
        {"seed": view.run.seed, "run_id": view.run.id, "verdict": view.verdict, "schema": journal.get("schema")},
    )
    for scenario in sorted(scenarios, key=lambda entry: entry.id):
        _case(suite, scenario)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
