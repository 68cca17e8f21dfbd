"""JUnit XML from a journal: one ``<testcase>`` per scenario, its figures as ``<property>`` elements.

CI systems show a scenario that missed its threshold as a failed test, with the reason and the replay
commands of its failing trials in the failure text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # we only build XML here, never parse untrusted input
from collections.abc import Mapping
from typing import Any

__all__ = ["render_junit"]


def _properties(parent: ET.Element, values: Mapping[str, object]) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value="" if value is None else str(value))


def render_junit(journal: Mapping[str, Any]) -> str:
    """The JUnit XML document (a ``<testsuites>`` with one ``<testsuite name="chaos">``) as text."""
    scenarios = list(journal.get("scenarios", ()))
    trials = list(journal.get("trials", ()))
    failures = sum(1 for scenario in scenarios if not scenario["passed"])
    root = ET.Element("testsuites", name="resilience-chaos", tests=str(len(scenarios)), failures=str(failures))
    suite = ET.SubElement(
        root,
        "testsuite",
        name="chaos",
        tests=str(len(scenarios)),
        failures=str(failures),
        errors="0",
        skipped="0",
        timestamp=str(journal["run"]["started"]),
        hostname=str(journal["run"]["host"]),
    )
    _properties(suite, {"seed": journal["run"]["seed"], "run_id": journal["run"]["id"], "schema": journal["schema"]})
    for scenario in scenarios:
        path, _, name = str(scenario["id"]).rpartition("::")
        case = ET.SubElement(suite, "testcase", classname=path.replace("/", ".").removesuffix(".py"), name=name)
        lo, hi = scenario["interval"]
        values: dict[str, object] = {
            "trials": scenario["trials"],
            "recovery_rate": scenario["recovery_rate"],
            "interval_lo": lo,
            "interval_hi": hi,
            "threshold": scenario["threshold"],
            "confidence": scenario.get("confidence"),
            "faults": ",".join(scenario["faults"]),
            "time_to_recover_p50_s": scenario["time_to_recover"]["p50"],
            "time_to_recover_p95_s": scenario["time_to_recover"]["p95"],
        }
        values.update({f"outcome.{key}": count for key, count in scenario["outcomes"].items()})
        _properties(case, values)
        if not scenario["passed"]:
            failing = [
                f"trial {trial['index']} {trial['outcome']}: {trial.get('error') or ''}\n  replay: {trial['replay']}"
                for trial in trials
                if trial["scenario"] == scenario["id"]
                and trial["outcome"] in ("failed_clean", "failed_dirty", "indeterminate")
            ]
            failure = ET.SubElement(case, "failure", message=str(scenario.get("reason", "threshold missed")))
            failure.text = "\n".join(failing) or str(scenario.get("reason", ""))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
