"""Trial seeds, outcome classification, the Wilson interval and aggregation into verdicts."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import Fault, FaultContext, Outcome
from chaos.trials import Trial, aggregate, classify, trial_seed, wilson_interval


class Flag(Fault):
    name = "demo.flag"

    @contextlib.contextmanager
    def _armed(self) -> Iterator[Fault]:
        yield self

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        return []


def test_trial_seeds_differ_by_run_scenario_and_index() -> None:
    """Changing the run seed, the scenario or the index changes the trial seed."""
    base = trial_seed(1, "s", 0)
    assert len({base, trial_seed(2, "s", 0), trial_seed(1, "t", 0), trial_seed(1, "s", 1)}) == 4
    assert 0 <= base < 2**63


@pytest.mark.parametrize(
    ("successes", "total", "confidence", "expected"),
    [
        (8, 10, 0.95, (0.4902, 0.9433)),
        (50, 50, 0.95, (0.9287, 1.0)),
        (0, 20, 0.95, (0.0, 0.1611)),
        (95, 100, 0.99, (0.8608, 0.9832)),
    ],
)
def test_wilson_interval_matches_reference_values(
    successes: int, total: int, confidence: float, expected: tuple[float, float]
) -> None:
    """The Wilson score interval agrees with published values to 4 decimals."""
    lo, hi = wilson_interval(successes, total, confidence)
    assert (round(lo, 4), round(hi, 4)) == expected


def test_wilson_interval_of_nothing_is_everything() -> None:
    """With no evaluated trials the interval is the whole [0, 1]; impossible counts raise."""
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"successes=3 must be in 0\.\.2"):
        wilson_interval(3, 2)


def _trial(**kwargs: Any) -> Trial:
    return Trial(scenario="s", index=0, seed=1, **kwargs)


def test_classify_covers_every_outcome() -> None:
    """Residue -> failed_dirty; harness error -> indeterminate; unfired fault -> not_triggered; etc."""
    boom = RuntimeError("boom")
    assert classify(_trial(residue=["x"]), body_error=None) is Outcome.FAILED_DIRTY
    assert classify(_trial(residue=["x"]), body_error=boom) is Outcome.FAILED_DIRTY
    assert classify(_trial(), body_error=boom, harness_error=True) is Outcome.INDETERMINATE
    assert classify(_trial(faults=[Flag()]), body_error=None) is Outcome.NOT_TRIGGERED
    assert classify(_trial(), body_error=None) is Outcome.RECOVERED
    assert classify(_trial(degraded=True), body_error=None) is Outcome.RECOVERED_DEGRADED
    assert classify(_trial(), body_error=boom) is Outcome.FAILED_CLEAN


def test_runtime_failures_count_as_triggered() -> None:
    """A fault that did not fire still counts as triggered when the runtime reported a failure."""
    trial = _trial(faults=[Flag()])
    assert not trial.triggered
    trial.failure_types["network_timeout"] += 1
    assert trial.triggered


def _records(scenario: str, outcomes: list[str], **threshold: float) -> list[dict[str, Any]]:
    trials = []
    for index, outcome in enumerate(outcomes):
        trial = Trial(scenario=scenario, index=index, seed=index, outcome=Outcome(outcome))
        trial.time_to_recover_s = float(index)
        trials.append(trial.record(replay=f"replay {index}", threshold=threshold))
    return trials


def test_aggregate_rate_excludes_not_triggered() -> None:
    """Rate = (recovered + degraded) / (trials - not_triggered); interval and verdict follow."""
    outcomes = ["recovered"] * 7 + ["recovered_degraded", "failed_clean", "not_triggered"]
    (summary,) = aggregate(_records("s", outcomes, min_recovery_rate=0.85, confidence=0.95))
    assert summary.trials == 10
    assert summary.recovery_rate == pytest.approx(8 / 9)
    assert summary.interval == pytest.approx(wilson_interval(8, 9, 0.95))
    assert summary.passed
    assert summary.outcomes["not_triggered"] == 1
    assert summary.time_to_recover == {"p50": 4.0, "p95": 9.0, "max": 9.0}
    assert [record["index"] for record in summary.failing] == [8]


def test_aggregate_verdicts() -> None:
    """A missed threshold, any failed_dirty, or no triggered trial fails the scenario."""
    below, dirty, untriggered = aggregate(
        _records("a", ["recovered", "failed_clean"], min_recovery_rate=0.9)
        + _records("b", ["recovered"] * 9 + ["failed_dirty"], min_recovery_rate=0.5)
        + _records("c", ["not_triggered"] * 3, min_recovery_rate=0.5)
    )
    assert (below.passed, below.reason) == (False, "recovery rate 0.500 < min_recovery_rate 0.9")
    assert (dirty.passed, dirty.reason) == (False, "1 trial(s) failed_dirty (left residue)")
    assert (untriggered.passed, untriggered.recovery_rate) == (False, None)


def test_aggregate_is_order_independent_and_deduplicates() -> None:
    """Shuffled records give the same summaries; a record seen twice counts once."""
    records = _records("a", ["recovered", "failed_clean", "recovered"]) + _records("b", ["recovered"])
    shuffled = records + records[:2]
    random.Random(3).shuffle(shuffled)
    assert [s.to_journal() for s in aggregate(shuffled)] == [s.to_journal() for s in aggregate(records)]


def test_nothing_triggered_fails_a_gated_row_and_is_reported_by_a_baseline() -> None:
    """Every trial not_triggered: a gated scenario fails (its claim is untested); a baseline row reports that the
    fault never provably reached the target, without failing the run."""
    for min_rate, passed, verdict in ((0.5, False, "fail"), (0.0, True, "baseline")):
        records = [
            Trial(scenario="s.py::t", index=i, seed=i, outcome=Outcome.NOT_TRIGGERED).record(
                threshold={"trials": 2, "min_recovery_rate": min_rate}
            )
            for i in range(2)
        ]
        (summary,) = aggregate(records)
        assert (summary.passed, summary.to_journal()["verdict"]) == (passed, verdict)
        assert "no trial triggered its fault" in summary.reason
