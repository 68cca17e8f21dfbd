"""A Markdown summary of a journal, ready for a CI step summary (``cat summary.md >> $GITHUB_STEP_SUMMARY``),
and the plain lines the pytest plugin prints at the end of a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chaos.trials import ScenarioSummary

__all__ = ["render_markdown", "summary_lines"]

_BAD = ("failed_clean", "failed_dirty", "indeterminate")
_COLUMNS = (
    ("recovered", "rec"),
    ("recovered_degraded", "degr"),
    ("failed_clean", "fail"),
    ("failed_dirty", "dirty"),
    ("indeterminate", "indet"),
    ("not_triggered", "n/t"),
)


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _interval(interval: Iterable[float]) -> str:
    lo, hi = interval
    return f"{lo * 100:.1f}-{hi * 100:.1f}%"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}s"


def _verdict(scenario: Mapping[str, Any]) -> str:
    """The verdict cell: a baseline row (threshold 0) reads ``baseline``, not a pass it did not earn."""
    baseline = scenario.get("baseline", scenario["threshold"] == 0)
    if not scenario["passed"]:
        return "❌ FAIL (baseline)" if baseline else "❌ FAIL"
    return "📏 baseline" if baseline else "✅ PASS"


def summary_lines(summaries: Iterable[ScenarioSummary], *, limit: int = 5) -> list[str]:
    """One line per scenario, then up to ``limit`` replay commands for each scenario with failing trials."""
    lines = []
    for summary in summaries:
        verdict = ("PASS" if not summary.baseline else "BASELINE") if summary.passed else "FAIL"
        counts = " ".join(f"{short}={summary.outcomes[key]}" for key, short in _COLUMNS if summary.outcomes[key])
        lines.append(
            f"{verdict} {summary.id}: {_rate(summary.recovery_rate)} recovered "
            f"({summary.confidence * 100:g}% CI {_interval(summary.interval)}), "
            f"min {summary.min_recovery_rate:g}, {summary.trials} trials [{counts}]"
        )
        if not summary.passed:
            lines.append(f"  why: {summary.reason}")
        lines.extend(
            f"  trial {record['index']} {record['outcome']}: {record['replay']}" for record in summary.failing[:limit]
        )
        if len(summary.failing) > limit:
            lines.append(f"  ... {len(summary.failing) - limit} more failing trial(s) in the journal")
    return lines


def render_markdown(journal: Mapping[str, Any], *, limit: int = 10) -> str:
    """The summary page: verdict, a table of scenarios, and the failing trials with their replay commands.

    One row per scenario: verdict (``PASS``, ``FAIL``, or ``baseline`` for a ``min_recovery_rate=0`` row),
    trials, outcome counts, recovery rate, its Wilson interval at the scenario's confidence, the threshold and
    time to recover p50/p95.
    """
    run = journal["run"]
    scenarios = list(journal.get("scenarios", ()))
    failed = [scenario for scenario in scenarios if not scenario["passed"]]
    icon = "❌" if failed else "✅"
    lines = [
        f"## {icon} Chaos run `{run['id']}`",
        "",
        (
            f"{len(scenarios) - len(failed)} of {len(scenarios)} scenarios met their thresholds. "
            f"Seed `{run['seed']}` (replay everything with `--chaos-seed={run['seed']}`)."
        ),
        "",
        "| scenario | verdict | trials | "
        + " | ".join(short for _, short in _COLUMNS)
        + " | rate | Wilson interval | min | ttr p50 | ttr p95 |",
        "|---|---|---:|" + "---:|" * len(_COLUMNS) + "---:|---|---:|---:|---:|",
    ]
    for scenario in scenarios:
        counts = " | ".join(str(scenario["outcomes"].get(key, 0)) for key, _ in _COLUMNS)
        ttr = scenario.get("time_to_recover") or {}
        confidence = float(scenario.get("confidence", 0.95))
        lines.append(
            f"| `{scenario['id']}` | {_verdict(scenario)} | {scenario['trials']} | {counts} "
            f"| {_rate(scenario['recovery_rate'])} | {_interval(scenario['interval'])} @{confidence * 100:g}% "
            f"| {scenario['threshold']:g} | {_seconds(ttr.get('p50'))} | {_seconds(ttr.get('p95'))} |"
        )
    if any(scenario.get("baseline", scenario["threshold"] == 0) for scenario in scenarios):
        lines += ["", "📏 baseline: a row with `min_recovery_rate=0`, measured for comparison, not gated."]
    failing = [trial for trial in journal.get("trials", ()) if trial["outcome"] in _BAD]
    if failing:
        lines += ["", f"### Failing trials ({len(failing)})", ""]
        for trial in failing[:limit]:
            error = (trial.get("error") or "").splitlines()[0:1]
            lines.append(f"- `{trial['scenario']}` trial {trial['index']}: **{trial['outcome']}** {''.join(error)}")
            lines.append(f"  ```\n  {trial['replay']}\n  ```")
        if len(failing) > limit:
            lines.append(f"- ... {len(failing) - limit} more in journal.json")
    if failed:
        lines += ["", "### Why scenarios failed", ""]
        lines += [f"- `{scenario['id']}`: {scenario.get('reason', '')}" for scenario in failed]
    return "\n".join(lines) + "\n"
