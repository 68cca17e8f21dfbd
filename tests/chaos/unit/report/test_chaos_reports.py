"""Journal, JUnit XML and Markdown reports, all rendered from one journal."""

from __future__ import annotations

import json
import pathlib
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from chaos import ChaosError, Outcome
from chaos.report import SCHEMA, build_journal, load_journal, write_reports
from chaos.trials import Trial, aggregate


def _journal() -> dict[str, Any]:
    records = []
    for scenario, outcomes in (
        ("t.py::test_ok", ["recovered", "recovered_degraded"]),
        ("t.py::test_bad", ["failed_clean", "recovered"]),
    ):
        for index, outcome in enumerate(outcomes):
            trial = Trial(scenario=scenario, index=index, seed=100 + index, outcome=Outcome(outcome))
            if outcome == "failed_clean":
                trial.error = "RecoveryFailed: gave up\nsecond line"
            trial.failure_types["network_timeout"] += 1
            trial.strategies["retry"] += 2
            trial.time_to_recover_s = 0.5 + index
            trial.note("attempt", {"n": index})
            replay = f"pytest '{scenario}[trial{index}]' --chaos-seed=9 --chaos-trials=2"
            records.append(trial.record(replay=replay, threshold={"min_recovery_rate": 0.9, "confidence": 0.95}))
    return build_journal(9, aggregate(records), records, started=1_700_000_000.0, ended=1_700_000_060.0)


def test_journal_has_the_design_shape() -> None:
    """The journal carries schema, run, scenarios and trials with exactly the DESIGN §4.6 keys (and a few more)."""
    journal = _journal()
    assert journal["schema"] == SCHEMA == "resilience-chaos/journal@1"
    assert set(journal["run"]) == {"id", "seed", "started", "ended", "host", "versions"}
    assert journal["run"]["started"] == "2023-11-14T22:13:20+00:00"
    scenario = journal["scenarios"][1]
    assert {
        "id",
        "faults",
        "trials",
        "outcomes",
        "recovery_rate",
        "interval",
        "threshold",
        "passed",
        "time_to_recover",
        "failure_types",
        "strategies",
    } <= set(scenario)
    assert scenario["id"] == "t.py::test_ok"
    assert scenario["recovery_rate"] == 1.0
    assert scenario["passed"]
    assert scenario["time_to_recover"] == {"p50": 0.5, "p95": 1.5, "max": 1.5}
    trial = journal["trials"][0]
    assert set(trial) == {
        "scenario",
        "index",
        "seed",
        "faults",
        "outcome",
        "time_to_recover_s",
        "failure_types",
        "strategies",
        "error",
        "replay",
        "notes",
    }
    assert trial["notes"] == [{"event": "attempt", "fault": None, "data": {"n": 0}}]
    json.dumps(journal)  # JSON-ready throughout


def test_write_reports_round_trips(tmp_path: pathlib.Path) -> None:
    """write_reports writes journal.json, junit.xml and summary.md; load_journal reads the journal back."""
    journal = _journal()
    paths = write_reports(journal, tmp_path / "out")
    assert [path.name for path in paths] == ["journal.json", "junit.xml", "summary.md", "report.html"]
    assert load_journal(tmp_path / "out" / "journal.json") == journal
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_load_journal_rejects_other_files(tmp_path: pathlib.Path) -> None:
    """A file of another schema or not JSON raises ChaosError naming the file."""
    other = tmp_path / "other.json"
    other.write_text('{"schema": "x"}')
    with pytest.raises(ChaosError, match=r"schema='x' must be 'resilience-chaos/journal@1'"):
        load_journal(other)
    other.write_text("not json")
    with pytest.raises(ChaosError, match="cannot read it"):
        load_journal(other)


def test_junit_has_one_case_per_scenario_with_properties() -> None:
    """JUnit XML: one testcase per scenario, figures as properties, a failure with the replay commands."""
    from chaos.report.junit import render_junit

    root = ET.fromstring(render_junit(_journal()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"test_ok", "test_bad"}
    properties = {p.get("name"): p.get("value") for p in cases["test_ok"].iter("property")}
    assert properties["recovery_rate"] == "1.0"
    assert properties["outcome.recovered_degraded"] == "1"
    failure = cases["test_bad"].find("failure")
    assert failure is not None
    assert failure.get("message") == "recovery rate 0.500 < min_recovery_rate 0.9"
    assert "pytest 't.py::test_bad[trial0]' --chaos-seed=9 --chaos-trials=2" in (failure.text or "")


def test_markdown_summary_lists_scenarios_and_replays() -> None:
    """The Markdown summary has the verdict, one table row per scenario and each failing trial's replay."""
    from chaos.report.markdown import render_markdown

    text = render_markdown(_journal())
    assert text.startswith("## ❌ FAIL · chaos run `20231114T221320-9`")
    assert "**1 of 2 failed**" in text
    assert (
        "| verdict | scenario | trials | rate | Wilson 95% | min | gate | rec | degr | fail | dirty | indet | n/t "
        "| ttr p50 | ttr p95 |"
    ) in text
    row = "| ✅ PASS | `t.py::test_ok` | 2 | 100.0% | 34.2-100.0% | 0.9 | point | 1 | 1 | 0 | 0 | 0 | 0 | 0.5s | 1.5s |"
    assert row in text
    assert "| ❌ FAIL | `t.py::test_bad` | 2 | 50.0% |" in text
    assert "pytest 't.py::test_bad[trial0]' --chaos-seed=9 --chaos-trials=2" in text
    assert "second line" not in text
    assert "baseline" not in text.split("<details>")[0]


def test_markdown_summary_sets_the_baseline_row_apart() -> None:
    """A min_recovery_rate=0 row reads "baseline" (not a pass it did not earn) and the table says what that means;
    a baseline's half-written installs are counted, not failed."""
    from chaos.report.markdown import render_markdown, summary_lines

    records = []
    for index, outcome in enumerate(["failed_clean", "failed_clean", "recovered"]):
        trial = Trial(scenario="t.py::test_baseline", index=index, seed=index, outcome=Outcome(outcome))
        records.append(trial.record(replay=f"replay {index}", threshold={"min_recovery_rate": 0.0}))
    (summary,) = aggregate(records)
    assert summary.passed
    assert summary.baseline
    journal = build_journal(9, [summary], records, started=1_700_000_000.0, ended=1_700_000_060.0)
    assert journal["scenarios"][0]["baseline"] is True
    text = render_markdown(journal)
    assert (
        "| 📏 baseline | `t.py::test_baseline` | 3 | 33.3% | 6.1-79.2% | \u2013 | \u2013 | 1 | 0 | 2 | 0 | 0 | 0 |"
        in text
    )
    assert "📏 baseline is a `min_recovery_rate=0` row" in text
    assert "### Expected failures in baselines (2)" in text
    assert summary_lines([summary])[0].startswith("BASELINE t.py::test_baseline: 33.3% recovered")
    records[0]["outcome"] = "failed_dirty"
    (dirty,) = aggregate(records)
    journal = build_journal(9, [dirty], records, started=1_700_000_000.0, ended=1_700_000_060.0)
    # a half-written install is what a baseline row measures: counted in its row, not a failure of the run
    assert dirty.passed
    assert "| 📏 baseline | `t.py::test_baseline` | 3 | 33.3% |" in render_markdown(journal)
    assert "1 trial(s) left a half-written install (failed_dirty)" in dirty.reason
    assert summary_lines([dirty])[0].startswith("BASELINE t.py::test_baseline")


def test_html_page_escapes_and_lists_failures() -> None:
    """The HTML page has a row per scenario, escapes ids and lists failing trials with their replay commands."""
    from chaos.report.html import render_html

    journal = _journal()
    journal["scenarios"][0]["id"] = "t.py::test_bad[<b>]"
    for trial in journal["trials"]:
        if trial["scenario"] == "t.py::test_bad":
            trial["scenario"] = "t.py::test_bad[<b>]"
    page = render_html(journal)
    assert page.startswith("<!DOCTYPE html>")
    assert "test_bad[&lt;b&gt;]" in page
    assert "<b>]" not in page
    assert page.count('<tr id="row-') == 2
    assert "pytest &#39;t.py::test_bad[trial0]&#39; --chaos-seed=9 --chaos-trials=2" in page
