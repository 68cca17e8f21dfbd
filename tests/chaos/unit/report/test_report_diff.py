"""report diff: significant rate drops, new failed_dirty trials and new failure types, as Markdown and JSON."""

from __future__ import annotations

import json
import math

import pytest
from report_journals import journal_of, scenario_records

from chaos.report.diff import diff_journals, diff_to_json, render_diff_markdown
from chaos.report.significance import drop_p, fisher_drop_p, z_drop_p


def test_fisher_matches_the_hypergeometric_tail() -> None:
    """10/10 vs 5/10 is p = 0.0163 (a textbook value); equal rates give 1; empty sides give 1."""
    assert fisher_drop_p(10, 10, 5, 10) == pytest.approx(0.016254, abs=1e-6)
    assert fisher_drop_p(5, 5, 0, 5) == pytest.approx(1 / 252)
    assert fisher_drop_p(3, 3, 3, 3) == 1.0
    assert fisher_drop_p(0, 0, 3, 3) == 1.0
    # exact, where the normal approximation would call 2/2 -> 0/1 significant at 95 %
    assert fisher_drop_p(2, 2, 0, 1) == pytest.approx(1 / 3)
    assert z_drop_p(2, 2, 0, 1) < 0.05


def test_z_test_and_the_dispatcher() -> None:
    """The pooled z-test's one-sided p; an improvement has p > 0.5; an unknown test name is refused."""
    z = 0.5 / math.sqrt(0.75 * 0.25 * 0.2)
    assert z_drop_p(10, 10, 5, 10) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert z_drop_p(5, 10, 10, 10) > 0.5
    assert drop_p("fisher", 10, 10, 5, 10) == fisher_drop_p(10, 10, 5, 10)
    with pytest.raises(ValueError, match=r"test='t' must be one of fisher, z"):
        drop_p("t", 1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"base: successes=3 must be in 0\.\.total=2"):
        fisher_drop_p(3, 2, 0, 1)


def _base() -> list[dict[str, object]]:
    return [
        *scenario_records("s.py::test_net", ["recovered"] * 20),
        *scenario_records("s.py::test_disk", ["recovered"] * 10, failure_type="storage_space_insufficient"),
        *scenario_records("s.py::test_base", ["failed_clean"] * 2 + ["recovered"] * 8, min_rate=0.0),
    ]


def test_same_journal_has_no_regression() -> None:
    """A journal compared with itself: nothing flagged, every scenario the same."""
    journal = journal_of(_base())
    diff = diff_journals(journal, journal)
    assert not diff.regressed
    assert diff.findings == ()
    assert {change.status for change in diff.changes} == {"same"}


def test_a_planted_regression_is_named() -> None:
    """A significant drop, a new failed_dirty trial and a new failure type are each flagged; only the first two
    gate, and the baseline's drop does not."""
    records = [
        *scenario_records("s.py::test_net", ["recovered"] * 12 + ["failed_clean"] * 8),
        *scenario_records("s.py::test_disk", ["recovered"] * 9 + ["failed_dirty"], failure_type="permission_denied"),
        *scenario_records("s.py::test_base", ["failed_clean"] * 10, min_rate=0.0),
    ]
    diff = diff_journals(journal_of(_base()), journal_of(records))
    assert diff.regressed
    kinds = [(f.kind, f.scenario, f.gating) for f in diff.findings]
    assert kinds == [
        ("rate_drop", "s.py::test_net", True),
        ("new_failed_dirty", "s.py::test_disk", True),
        ("new_failure_type", "s.py::test_disk", False),
    ]
    assert diff.findings[0].message.startswith("recovery rate dropped 100.0% (20/20) -> 60.0% (12/20), p = ")
    assert diff.findings[1].replay == "pytest 's.py::test_disk[trial9]' --chaos-seed=9 --chaos-trials=10"
    statuses = {change.id: change.status for change in diff.changes}
    assert statuses == {"s.py::test_net": "regressed", "s.py::test_disk": "worse", "s.py::test_base": "worse"}
    strict = diff_journals(journal_of(_base()), journal_of(records), strict=True)
    assert all(f.gating for f in strict.findings)


def test_a_small_drop_is_not_significant_and_confidence_is_stated() -> None:
    """20/20 -> 19/20 is no regression at 95 %; the Markdown says which test and threshold decided."""
    records = [*scenario_records("s.py::test_net", ["recovered"] * 19 + ["failed_clean"]), *_base()[20:]]
    diff = diff_journals(journal_of(_base()), journal_of(records))
    assert not diff.regressed
    text = render_diff_markdown(diff)
    assert text.startswith("## ✅ NO REGRESSION")
    assert "one-sided Fisher exact test gives p < 0.05 (95% confidence)" in text
    assert "| worse | `s.py::test_net` | 100.0% (20/20) | 95.0% (19/20) | -5.0 pt | 0.5 | pass -> pass |" in text


def test_added_and_removed_scenarios_and_dirty_trials_of_a_new_one() -> None:
    """A scenario only NEW has is 'added' and its failed_dirty trials gate; one only BASE has is 'removed'."""
    base = journal_of(_base()[:20])
    new = journal_of(scenario_records("s.py::test_new", ["failed_dirty", "recovered"]))
    diff = diff_journals(base, new)
    assert {c.id: c.status for c in diff.changes} == {"s.py::test_new": "added", "s.py::test_net": "removed"}
    assert [f.kind for f in diff.regressions] == ["new_failed_dirty"]


def test_json_form_is_complete() -> None:
    """The JSON form carries its schema, the verdict, findings and per-scenario counts and p-values."""
    records = [*scenario_records("s.py::test_net", ["failed_clean"] * 20), *_base()[20:]]
    document = json.loads(json.dumps(diff_to_json(diff_journals(journal_of(_base()), journal_of(records)))))
    assert document["schema"] == "resilience-chaos/journal-diff@1"
    assert document["regressed"] is True
    assert document["confidence"] == 0.95
    net = next(s for s in document["scenarios"] if s["id"] == "s.py::test_net")
    assert (net["base_counts"], net["new_counts"], net["status"]) == ([20, 20], [0, 20], "regressed")
    assert net["p_value"] < 1e-9
    with pytest.raises(ValueError, match=r"confidence=1\.5 must be in"):
        diff_journals(journal_of(_base()), journal_of(records), confidence=1.5)


def test_a_baseline_rows_dirty_trials_are_measured_not_regressions() -> None:
    """A new baseline row (min_recovery_rate 0) full of half-written installs is no regression; the same row
    with a leaked fault is."""
    base = journal_of(_base()[:20])
    records = scenario_records("s.py::test_other_installer", ["failed_dirty", "recovered"], min_rate=0.0)
    assert diff_journals(base, journal_of(records)).regressions == ()
    records[0]["leaked"] = ["network.reset_peer: toxic 'chaos' is still on proxy 'hub'"]
    assert [f.kind for f in diff_journals(base, journal_of(records)).regressions] == ["new_failed_dirty"]
