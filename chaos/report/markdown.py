"""A Markdown summary of a journal, ready for a CI step summary (``$GITHUB_STEP_SUMMARY``; the reports writer
appends it there itself when that variable is set), and the plain lines the pytest plugin prints at the end of a
run.

``summary.md`` reads top down in the order a CI engineer needs it: the verdict; every failed scenario with
*all* its failing trials and their replay commands; the scenario table (failed first); what the columns mean;
then failing trials of passing scenarios and, last, the expected failures of baselines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chaos.report.view import OUTCOME_HELP, OUTCOME_SHORT, OUTCOMES, ReportView, ScenarioView, TrialView, build_view
from chaos.trials import ScenarioSummary

__all__ = ["render_markdown", "summary_lines"]

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


_ICONS = {"pass": "✅", "fail": "❌", "baseline": "📏", "undecided": "❔", "incomplete": "⏸️"}


def _verdict(scenario: ScenarioView) -> str:
    """The verdict cell: a baseline row (threshold 0) reads ``baseline``, not a pass it did not earn."""
    icon = _ICONS.get(scenario.verdict, "❔")
    if scenario.verdict == "baseline":
        return f"{icon} baseline"
    suffix = " (baseline)" if scenario.baseline else ""
    return f"{icon} {scenario.verdict.upper()}{suffix}"


def _code(text: str) -> str:
    """``text`` as inline code, safe inside a table cell."""
    fence = "``" if "`" in text else "`"
    escaped = text.replace("|", "\\|")
    return f"{fence}{escaped}{fence}"


def summary_lines(summaries: Iterable[ScenarioSummary], *, limit: int = 5) -> list[str]:
    """One line per scenario, then up to ``limit`` replay commands for each scenario with failing trials."""
    lines = []
    for summary in summaries:
        verdict = (summary.verdict or ("pass" if summary.passed else "fail")).upper()
        counts = " ".join(f"{short}={summary.outcomes[key]}" for key, short in _COLUMNS if summary.outcomes[key])
        gate = ""  # the point gate is the plain line; a confident one says so, with its bound
        if not summary.baseline and summary.gate == "confident":
            gate = ", gate confident"
            if summary.lower_bound is not None:
                gate += f" (lower bound {summary.lower_bound * 100:.1f}%)"
        trials = f"{summary.trials} trials"
        if summary.sequential is not None:
            seq = summary.sequential
            trials = f"stop {seq['stop']} after {seq['trials_used']} of max {seq['max_trials']} trials"
        lines.append(
            f"{verdict} {summary.id}: {_rate(summary.recovery_rate)} recovered "
            f"({summary.confidence * 100:g}% CI {_interval(summary.interval)}), "
            f"min {summary.min_recovery_rate:g}{gate}, {trials} [{counts}]"
        )
        if not summary.passed:
            lines.append(f"  why: {summary.reason}")
        lines.extend(
            f"  trial {record['index']} {record['outcome']}: {record['replay']}" for record in summary.failing[:limit]
        )
        if len(summary.failing) > limit:
            lines.append(f"  ... {len(summary.failing) - limit} more failing trial(s) in the journal")
    return lines


def _trial_lines(trial: TrialView, *, scenario: bool = False) -> list[str]:
    line = (
        f"- `{trial.scenario}` trial {trial.index} **{trial.outcome}**"
        if scenario
        else (f"- trial {trial.index} **{trial.outcome}**")
    )
    if trial.error_line:
        line += f" {trial.error_line}"
    return [line, "  ```", f"  {trial.replay}", "  ```"]


def _gate(scenario: ScenarioView) -> str:
    """The gate cell: ``point``, ``confident``, or under trials="auto" where the sequential rule stopped."""
    if scenario.baseline:
        return "\u2013"
    sequential = scenario.extra.get("sequential")
    if isinstance(sequential, dict):
        return f"auto: {sequential.get('stop')} at {sequential.get('trials_used')}/{sequential.get('max_trials')}"
    return str(scenario.extra.get("gate") or "point")


def _table(view: ReportView) -> list[str]:
    levels = {scenario.confidence for scenario in view.scenarios}
    level = f" {levels.pop() * 100:g}%" if len(levels) == 1 else ""
    lines = [
        f"| verdict | scenario | trials | rate | Wilson{level} | min | gate | "
        + " | ".join(OUTCOME_SHORT[name] for name in OUTCOMES)
        + " | ttr p50 | ttr p95 |",
        "|---|---|---:|---:|---|---:|---|" + "---:|" * len(OUTCOMES) + "---:|---:|",
    ]
    for scenario in view.scenarios:
        counts = " | ".join(str(scenario.outcomes[name]) for name in OUTCOMES)
        interval = _interval(scenario.interval) + ("" if level else f" @{scenario.confidence * 100:g}%")
        threshold = "\u2013" if scenario.baseline else f"{scenario.threshold:g}"
        ttr = scenario.time_to_recover
        lines.append(
            f"| {_verdict(scenario)} | {_code(scenario.id)} | {scenario.trials} | {_rate(scenario.recovery_rate)} "
            f"| {interval} | {threshold} | {_gate(scenario)} | {counts} | {_seconds(ttr['p50'])} "
            f"| {_seconds(ttr['p95'])} |"
        )
    return lines


def _legend() -> list[str]:
    return [
        "<details><summary>What the columns mean</summary>",
        "",
        (
            "- **verdict**: ✅ PASS met its `min_recovery_rate`, something fired and nothing was left dirty; ❌ FAIL"
            " did not; 📏 baseline is a `min_recovery_rate=0` row (e.g. the plain client under the same fault),"
            " measured for comparison and never gated, though it still fails on `failed_dirty`."
        ),
        "- **rate**: (rec + degr) / (trials - n/t).",
        (
            "- **Wilson**: the Wilson score interval of the rate at the stated confidence: where the true rate"
            " lies given this many trials."
        ),
        "- **min**: the scenario's `min_recovery_rate`.",
        (
            "- **gate**: `point` (the observed rate must reach min), `confident` (its exact lower bound must), or"
            " `auto: STOP at USED/MAX` (sequential trials stopped by the rule; docs/scenarios.md)."
        ),
        *(f"- **{OUTCOME_SHORT[name]}** (`{name}`): {OUTCOME_HELP[name]}." for name in OUTCOMES),
        (
            "- **ttr p50 / p95**: time to recover, median and 95th percentile over trials that recovered after"
            " a failure."
        ),
        "",
        "</details>",
    ]


def render_markdown(journal: Mapping[str, Any], *, limit: int = 10) -> str:
    """The summary page: the verdict, every failed scenario with all its failing trials' replay commands, the
    scenario table, a legend, then up to ``limit`` failing trials of passing scenarios and of baselines each.
    """
    view = build_view(journal)
    run = view.run
    replay_all = f" Seed `{run.seed}`: `resilience run --seed {run.seed}` replays the whole run." if run.seed else ""
    lines = [
        f"## {_ICONS.get(view.verdict, '❔')} {view.verdict.upper()} · chaos run `{run.id}`",
        "",
        f"**{view.headline}**.{replay_all}",
    ]
    if run.runs:
        lines += ["", "Combined from runs " + ", ".join(f"`{run_id}`" for run_id in run.runs) + "."]
    if view.failed:
        lines += ["", f"### ❌ Failed scenarios ({len(view.failed)})"]
        for scenario in view.failed:
            bad = scenario.bad_trials
            lines += [
                "",
                f"#### `{scenario.id}`",
                "",
                (
                    f"Why: {scenario.reason or 'failed'}. Rate {_rate(scenario.recovery_rate)} (Wilson "
                    f"{_interval(scenario.interval)} @{scenario.confidence * 100:g}%), {scenario.trials} trials."
                ),
            ]
            if bad:
                lines += ["", f"Every failing trial ({len(bad)}), worst first, with the command that replays it:", ""]
                for trial in bad:
                    lines += _trial_lines(trial)
    lines += ["", f"### Scenarios ({len(view.scenarios)})", "", *_table(view), "", *_legend()]
    others = [t for s in view.scenarios if s.verdict != "fail" and not s.baseline for t in s.bad_trials]
    if others:
        lines += ["", f"### Failing trials within their scenarios' thresholds ({len(others)})", ""]
        for trial in others[:limit]:
            lines += _trial_lines(trial, scenario=True)
        if len(others) > limit:
            lines.append(f"- ... {len(others) - limit} more in journal.json")
    expected = [t for s in view.scenarios if s.baseline and s.verdict != "fail" for t in s.bad_trials]
    if expected:
        lines += ["", f"### Expected failures in baselines ({len(expected)})", ""]
        lines += [f"- `{t.scenario}` trial {t.index} {t.outcome} {t.error_line}".rstrip() for t in expected[:limit]]
        if len(expected) > limit:
            lines.append(f"- ... {len(expected) - limit} more in journal.json")
    return "\n".join(lines) + "\n"
