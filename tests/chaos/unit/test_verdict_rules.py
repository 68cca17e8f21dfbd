"""The gating rules checked by simulation: 10,000 runs each at a true rate equal to the threshold (the worst case
for a false pass), and the scenario settings' one validated place."""

from __future__ import annotations

import math
import random

import pytest

from chaos.trials import (
    ScenarioSettings,
    SettingsError,
    _crossing,
    binomial_tails,
    confident_trials,
    exact_lower_bound,
    planned_items,
    scenario_settings,
    sequential_rule,
)

RUNS = 10_000


def _three_se(alpha: float) -> float:
    """Three standard errors of a simulated rate of ``alpha`` over RUNS runs (the simulation's own noise)."""
    return 3 * math.sqrt(alpha * (1 - alpha) / RUNS)


@pytest.mark.parametrize(("threshold", "confidence"), [(0.95, 0.95), (0.9, 0.9), (0.8, 0.95)])
def test_the_sequential_rule_false_passes_at_most_alpha(threshold: float, confidence: float) -> None:
    """trials='auto' at a true rate equal to the threshold: the exact probability of ever passing is <= alpha,
    and 10,000 simulated runs agree with it."""
    alpha = 1 - confidence
    rule = sequential_rule(threshold, confidence, 100)
    exact = _crossing(threshold, list(rule.pass_at), True)
    rng = random.Random(20261203)
    passes = used = 0
    for _ in range(RUNS):
        decision, looks = rule.replay(rng.random() < threshold for _ in range(100))
        passes += decision == "pass"
        used += looks
    simulated = passes / RUNS
    print(
        f"sequential {threshold:g}@{confidence:g}: false-pass simulated {simulated:.4f}, exact {exact:.4f},"
        f" alpha {alpha:.2f}, mean trials {used / RUNS:.1f}"
    )
    assert exact <= alpha
    assert simulated <= alpha + _three_se(alpha)


@pytest.mark.parametrize(("threshold", "confidence"), [(0.95, 0.95), (0.9, 0.9)])
def test_the_sequential_rule_false_fails_at_most_alpha(threshold: float, confidence: float) -> None:
    """At a true rate equal to the threshold the rule fails a good scenario with probability <= alpha."""
    rule = sequential_rule(threshold, confidence, 100)
    assert _crossing(threshold, list(rule.fail_at), False) <= 1 - confidence


def test_the_confident_gate_false_passes_at_most_alpha() -> None:
    """gate='confident' with the trials it needs (59 at 0.95): 10,000 runs at a true rate of 0.95."""
    n = confident_trials(0.95, 0.95)
    assert n == 59
    threshold = 0.95
    rng = random.Random(7)
    passes = 0
    for _ in range(RUNS):
        successes = sum(rng.random() < threshold for _ in range(n))
        passes += exact_lower_bound(successes, n, 0.95) >= threshold
    simulated = passes / RUNS
    exact = binomial_tails(n, threshold)[0][n]  # only n of n passes
    print(f"confident 0.95@0.95, {n} trials: false-pass simulated {simulated:.4f}, exact {exact:.4f}")
    assert exact <= 0.05
    assert simulated <= 0.05 + _three_se(0.05)


def test_the_point_gate_is_what_the_confident_gates_fix() -> None:
    """For contrast: the point gate with 10 trials passes a 0.90 scenario against 0.95 about a third of the time."""
    rng = random.Random(11)
    passes = sum(sum(rng.random() < 0.9 for _ in range(10)) / 10 >= 0.95 for _ in range(RUNS))
    print(f"point 0.95 at a true rate of 0.90, 10 trials: false-pass simulated {passes / RUNS:.4f}")
    assert passes / RUNS > 0.3


def test_the_rule_stops_where_its_boundaries_say() -> None:
    """All-success stops at the first look whose pass boundary is n; a run of failures stops early."""
    rule = sequential_rule(0.95, 0.95, 200)
    stop = rule.all_success_stop
    assert stop is not None
    assert rule.replay([True] * 200) == ("pass", stop)
    assert stop < 200
    decision, looks = rule.replay([i % 5 != 4 for i in range(200)])
    assert decision == "fail"
    assert looks < 60
    assert rule.replay([i % 20 != 19 for i in range(100)])[0] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"trials": "many"}, "where: trials='many' must be an integer >= 1 or 'auto'; fix: e.g. trials=20"),
        ({"gate": "strict"}, "where: gate='strict' must be 'point' or 'confident'; fix: e.g. gate='confident'"),
        ({"confidence": 1}, "where: confidence=1 must be a number in (0, 1); fix: e.g. confidence=0.95"),
        ({"max_trials": 0}, "where: max_trials=0 must be an integer in 1..1000; fix: e.g. max_trials=200"),
        ({"max_indeterminate": 2}, "where: max_indeterminate=2 must be a share in 0..1; fix: e.g."),
        ({"trials": "auto", "gate": "point"}, "where: gate='point' cannot be used with trials='auto'"),
        ({"trials": "auto", "min_recovery_rate": 0.0}, "where: trials='auto' cannot gate a baseline"),
        ({"gate": "confident", "min_recovery_rate": 1.0}, "where: min_recovery_rate=1.0 can never be shown"),
        ({"tirals": 3}, "where: tirals=3 is unknown; fix: use one of trials, min_recovery_rate, confidence, gate"),
    ],
)
def test_bad_scenario_settings_are_one_line(values: dict[str, object], message: str) -> None:
    """Each bad key or value: one line naming where, the field, the value and the fix."""
    with pytest.raises(SettingsError) as caught:
        scenario_settings(values, "where")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_settings_and_planned_items() -> None:
    """Defaults, auto implying the confident gate, and --chaos-trials replacing the count."""
    assert scenario_settings({}, "w") == ScenarioSettings()
    auto = scenario_settings({"trials": "auto", "max_trials": 80}, "w")
    assert (auto.auto, auto.gate, planned_items(auto)) == (True, "confident", 80)
    assert planned_items(scenario_settings({"trials": "auto"}, "w", trials_override=3)) == 3
    assert scenario_settings({"trials": 7}, "w").to_threshold()["trials"] == 7
