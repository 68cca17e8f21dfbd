"""summary.md: failed scenarios and all their replays first, columns explained, baselines last."""

from __future__ import annotations

from report_journals import journal_of, mixed_journal, scenario_records

from chaos.report.markdown import render_markdown


def test_failed_scenarios_and_their_replays_come_before_the_table() -> None:
    """The failed section (every bad trial's replay, worst first) precedes the table; the legend follows it."""
    text = render_markdown(mixed_journal())
    failed = text.index("### ❌ Failed scenarios (2)")
    table = text.index("### Scenarios (4)")
    legend = text.index("<details><summary>What the columns mean</summary>")
    assert failed < table < legend
    section = text[failed:table]
    assert section.index("#### `scenarios/test_disk.py::test_dirty`") < section.index("test_low_rate`")
    assert "- trial 1 **failed_dirty** RecoveryFailed: gave up on trial 1" in section
    assert section.count("--chaos-seed=9") == 3
    assert "test_baseline_plain" not in section


def test_every_replay_of_a_failed_scenario_is_kept() -> None:
    """A failed scenario with 40 failing trials lists all 40 replays, past the 10-line limit of other lists."""
    text = render_markdown(journal_of(scenario_records("s.py::test_many", ["failed_clean"] * 40 + ["recovered"])))
    for index in range(40):
        assert f"pytest 's.py::test_many[trial{index}]'" in text
    assert "more in journal.json" not in text


def test_legend_explains_every_abbreviation() -> None:
    """Each column abbreviation of the table is explained in the legend."""
    text = render_markdown(mixed_journal())
    legend = text.split("<details>", 1)[1]
    for term in ("**rec** (`recovered`)", "**n/t** (`not_triggered`)", "**dirty** (`failed_dirty`)", "**Wilson**",
                 "**min**", "**ttr p50 / p95**", "📏 baseline"):  # fmt: skip
        assert term in legend


def test_failures_within_thresholds_and_baseline_failures_are_listed_last_and_capped() -> None:
    """Failing trials of passing scenarios and expected baseline failures follow the legend, capped at limit."""
    records = scenario_records("s.py::test_ok", ["recovered"] * 30 + ["failed_clean"] * 2, min_rate=0.9)
    records += scenario_records("s.py::test_base", ["failed_clean"] * 12, min_rate=0.0)
    text = render_markdown(journal_of(records), limit=10)
    assert text.startswith("## ✅ PASS")
    within = text.index("### Failing trials within their scenarios' thresholds (2)")
    expected = text.index("### Expected failures in baselines (12)")
    assert text.index("</details>") < within < expected
    assert "- ... 2 more in journal.json" in text[expected:]
