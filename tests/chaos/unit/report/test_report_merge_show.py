"""Combining journals for render, and the terminal summary of report show."""

from __future__ import annotations

import io

from report_journals import journal_of, mixed_journal, scenario_records
from rich.console import Console

from chaos.report.merge import combine_journals
from chaos.report.schema import journal_errors
from chaos.report.show import show_journal


def test_shards_of_one_run_merge_and_different_runs_sit_side_by_side() -> None:
    """Same seed: trials re-aggregated into one scenario; different seeds: each run's scenarios kept, renamed
    with the run id, and the runs listed."""
    shard1 = journal_of(scenario_records("s.py::test_a", ["recovered", "failed_clean"]))
    shard2 = journal_of(scenario_records("s.py::test_a", ["recovered"] * 2 + ["recovered"] * 2))
    assert combine_journals([shard1])["scenarios"] == shard1["scenarios"]
    merged = combine_journals([shard1, shard2])
    assert [s["trials"] for s in merged["scenarios"]] == [4]
    other = journal_of(scenario_records("s.py::test_a", ["failed_clean"] * 3), seed=10)
    combined = combine_journals([shard1, other])
    assert [s["id"] for s in combined["scenarios"]] == [
        f"{shard1['run']['id']}: s.py::test_a",
        f"{other['run']['id']}: s.py::test_a",
    ]
    assert {t["run"] for t in combined["trials"]} == {shard1["run"]["id"], other["run"]["id"]}
    assert [run["seed"] for run in combined["runs"]] == [9, 10]
    assert journal_errors(combined) == []


def test_show_prints_verdict_failed_replays_table_and_legend() -> None:
    """report show: the banner, each failed scenario's why and replays (capped), the table, the legend."""
    out = io.StringIO()
    show_journal(mixed_journal(), Console(file=out, width=140, color_system=None), replays=1)
    text = out.getvalue()
    assert "FAIL  2 of 3 failed, 1 baseline measured, not gated" in text
    assert "FAIL scenarios/test_net.py::test_low_rate" in text
    assert "why: recovery rate 0.500 < min_recovery_rate 0.9" in text
    assert "pytest 'scenarios/test_net.py::test_low_rate[trial1]'" in text
    assert "... 1 more failing trial(s): pass --all, or see summary.md" in text
    assert "BASELINE" in text
    assert "n/t not_triggered" in text
    every = io.StringIO()
    show_journal(mixed_journal(), Console(file=every, width=140, color_system=None), replays=None)
    assert "test_low_rate[trial2]" in every.getvalue()
