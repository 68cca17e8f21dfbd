"""junit.xml: the file CI should read: scenarios as cases, times, baselines skipped with the reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_journals import mixed_journal

from chaos.report.junit import render_junit


def _cases() -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(render_junit(mixed_journal()))
    suite = root.find("testsuite")
    assert suite is not None
    return suite, {str(case.get("name")): case for case in suite.iter("testcase")}


def test_counts_count_scenarios_not_trials() -> None:
    """tests/failures/skipped count scenarios: two failed, the baseline skipped, however many trials failed."""
    suite, _ = _cases()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4", "2", "0", "1",
    )  # fmt: skip
    assert suite.get("time") == "60.000"


def test_every_case_has_a_time_from_its_trials() -> None:
    """Each case's time is the sum of its trials' durations (0.25 s each here)."""
    _, cases = _cases()
    assert {name: case.get("time") for name, case in cases.items()} == {
        "test_dirty": "0.750", "test_baseline_plain": "0.750", "test_low_rate": "1.000", "test_ok": "2.500",
    }  # fmt: skip


def test_baseline_is_skipped_with_the_reason_and_failures_carry_replays() -> None:
    """The baseline is <skipped> saying why; a failed scenario's <failure> holds each bad trial's replay."""
    _, cases = _cases()
    skipped = cases["test_baseline_plain"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "baseline (min_recovery_rate=0): measured for comparison, not gated; rate 33.3% over 3 trials"
    )
    assert cases["test_baseline_plain"].find("failure") is None
    failure = cases["test_low_rate"].find("failure")
    assert failure is not None
    assert failure.get("message") == "recovery rate 0.500 < min_recovery_rate 0.9"
    assert "replay: pytest 'scenarios/test_net.py::test_low_rate[trial1]'" in (failure.text or "")
    assert cases["test_ok"].find("failure") is None
    assert cases["test_ok"].find("skipped") is None
    properties = {p.get("name"): p.get("value") for p in cases["test_ok"].iter("property")}
    assert properties["verdict"] == "pass"
    assert properties["outcome.recovered_degraded"] == "1"


def test_an_undecided_scenario_is_skipped_not_passed() -> None:
    """A verdict the journal marks undecided reads as skipped with that word, never as a pass."""
    journal = mixed_journal()
    journal["scenarios"][3]["verdict"] = "undecided"
    root = ET.fromstring(render_junit(journal))
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_ok")
    skipped = case.find("skipped")
    assert skipped is not None
    assert str(skipped.get("message")).startswith("undecided: ")
