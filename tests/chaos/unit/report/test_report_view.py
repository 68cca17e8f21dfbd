"""The view every renderer reads: verdicts, reading order, expected baseline failures, unknown keys kept."""

from __future__ import annotations

from report_journals import journal_of, mixed_journal, scenario_records

from chaos.report.view import build_view, format_value


def test_scenarios_read_worst_verdict_first_and_baselines_last() -> None:
    """Failed scenarios come first, then passes, then baselines; the run's verdict is the worst gated one."""
    view = build_view(mixed_journal())
    assert [(s.name, s.verdict) for s in view.scenarios] == [
        ("test_dirty", "fail"),
        ("test_low_rate", "fail"),
        ("test_ok", "pass"),
        ("test_baseline_plain", "baseline"),
    ]
    assert view.verdict == "fail"
    assert view.headline == "2 of 3 failed, 1 baseline measured, not gated"


def test_bad_trials_are_worst_first_and_baseline_failures_are_expected() -> None:
    """failed_dirty sorts before failed_clean; a baseline's failures are expected (it measures them, half-written
    installs included), except a fault that did not revert: that is the harness's bug and fails even a baseline."""
    records = scenario_records("s.py::test_b", ["failed_clean", "failed_dirty", "recovered"], min_rate=0.0)
    (scenario,) = build_view(journal_of(records)).scenarios
    assert [(t.index, t.outcome, t.expected) for t in scenario.bad_trials] == [
        (1, "failed_dirty", True),
        (0, "failed_clean", True),
    ]
    assert scenario.verdict == "baseline"
    records[1]["leaked"] = ["demo.toggle: the toxic is still on proxy 'hub'"]
    (scenario,) = build_view(journal_of(records)).scenarios
    assert [(t.index, t.expected) for t in scenario.bad_trials] == [(1, False), (0, True)]
    assert scenario.verdict == "fail"  # a leaked fault fails even a baseline
    assert scenario.bad_trials[0].error_line == "RecoveryFailed: gave up on trial 1"


def test_a_journal_verdict_key_wins_and_unknown_ones_never_read_as_pass() -> None:
    """A scenario's own verdict key is used; an unknown verdict makes the run undecided, not a pass."""
    journal = mixed_journal()
    for scenario in journal["scenarios"]:
        scenario["verdict"] = "pass" if not scenario["baseline"] else "baseline"
    journal["scenarios"][0]["verdict"] = "undecided"
    view = build_view(journal)
    assert view.verdict == "undecided"
    journal["scenarios"][0]["verdict"] = "inconclusive-ish"
    assert build_view(journal).verdict == "undecided"


def test_unknown_keys_are_kept_as_extra() -> None:
    """Keys a renderer does not know are kept per scenario, trial, fault and run, not dropped."""
    journal = mixed_journal()
    journal["scenarios"][0]["stopping"] = {"rule": "sprt"}
    journal["trials"][0]["plugin_fact"] = 3
    journal["trials"][0]["faults"][0]["fired_count"] = 94
    journal["run"]["ci"] = "shard-1"
    view = build_view(journal)
    by_id = {s.id: s for s in view.scenarios}
    assert by_id[journal["scenarios"][0]["id"]].extra["stopping"] == {"rule": "sprt"}  # beside the gate fields
    first = next(t for s in view.scenarios for t in s.trial_views if t.scenario == journal["trials"][0]["scenario"])
    assert first.extra == {"plugin_fact": 3}
    assert first.faults[0].extra == {"fired_count": 94}
    assert view.run.extra == {"ci": "shard-1"}
    assert view.run.duration_s == 60.0


def test_format_value_writes_short_text() -> None:
    """None, booleans, floats and containers read as short text."""
    assert [format_value(v) for v in (None, True, 0.1234567, 3, "x", {"b": 1, "a": [1]})] == [
        "-", "yes", "0.123457", "3", "x", '{"a": [1], "b": 1}',
    ]  # fmt: skip
