"""What the gates cost and what they guarantee: 10,000 simulated runs per rule at a true rate equal to the
threshold (the worst case for a false pass), and the trials each rule uses.

- ``trials="auto"`` (the exact sequential rule, ``chaos.trials.sequential_rule``): false-pass rate, with the
  exact figure from the rule's own dynamic programme beside it; trials used when every trial recovers, and on
  average at a rate of 0.80;
- ``gate="confident"`` with the trials it needs (``chaos.trials.confident_trials``);
- ``gate="point"`` for contrast (10 trials, a true rate of 0.90 against 0.95).

The anchor of each false-pass figure is ``1 - confidence``, its target ``<=`` that.
"""

from __future__ import annotations

import math
import random

from benchmarks._report import figure
from chaos.trials import _crossing, confident_trials, exact_lower_bound, sequential_rule

RUNS = 10_000
MAX_TRIALS = 200


def _sequential(threshold: float, confidence: float) -> None:
    alpha = 1 - confidence
    rule = sequential_rule(threshold, confidence, MAX_TRIALS)
    rng = random.Random(1)
    passes = sum(rule.replay(rng.random() < threshold for _ in range(MAX_TRIALS))[0] == "pass" for _ in range(RUNS))
    label = f"auto {threshold:g} at {confidence * 100:g}%"
    rate = passes / RUNS
    noise = 3 * math.sqrt(alpha * (1 - alpha) / RUNS)  # the simulation's own three standard errors
    target = f"<= {alpha:g} + {noise:.3f} (3 SE)"
    figure(
        f"{label}: false-pass rate, {RUNS} runs",
        rate,
        "",
        anchor=f"alpha {alpha:g}",
        target=target,
        ok=rate <= alpha + noise,
    )
    exact = _crossing(threshold, list(rule.pass_at), True)
    figure(f"{label}: false-pass rate, exact", exact, "", target=f"<= {alpha:g}", ok=exact <= alpha)
    figure(f"{label}: trials to pass when every trial recovers", float(rule.all_success_stop or 0), "trials")
    lower = round(threshold - 0.15, 2)
    figure(f"{label}: mean trials to fail at a true rate of {lower:g}", rule.expected_stop(lower), "trials")


def _confident(threshold: float, confidence: float) -> None:
    alpha = 1 - confidence
    n = confident_trials(threshold, confidence) or 0
    rng = random.Random(2)
    passes = sum(
        exact_lower_bound(sum(rng.random() < threshold for _ in range(n)), n, confidence) >= threshold
        for _ in range(RUNS)
    )
    label = f"confident {threshold:g} at {confidence * 100:g}%, {n} trials"
    rate = passes / RUNS
    noise = 3 * math.sqrt(alpha * (1 - alpha) / RUNS)
    target = f"<= {alpha:g} + {noise:.3f} (3 SE)"
    figure(
        f"{label}: false-pass rate, {RUNS} runs",
        rate,
        "",
        anchor=f"alpha {alpha:g}",
        target=target,
        ok=rate <= alpha + noise,
    )


def main() -> None:
    """Print the figures."""
    for threshold, confidence in ((0.95, 0.95), (0.8, 0.9), (0.7, 0.8)):
        _sequential(threshold, confidence)
    _confident(0.95, 0.95)
    rng = random.Random(3)
    passes = sum(sum(rng.random() < 0.9 for _ in range(10)) >= 10 * 0.95 for _ in range(RUNS))
    figure("point 0.95, 10 trials, true rate 0.90: false-pass rate", passes / RUNS, "", anchor="no guarantee")


if __name__ == "__main__":
    main()
