"""Compare two journals: did recovery get worse? (``resilience report diff BASE NEW``)

A **regression**, which makes ``report diff`` exit 1:

- a gated scenario (not a baseline) whose recovery rate dropped *significantly*: a one-sided test of the two
  proportions (:mod:`chaos.report.significance`; Fisher's exact test by default) gives ``p < 1 - confidence``;
- a ``failed_dirty`` trial in NEW that BASE did not have (same scenario, index and seed), in any scenario:
  residue is always a defect;
- with ``strict``, a failure type NEW's scenario saw that BASE's did not.

Without ``strict`` new failure types are *notices*: reported, not gating (a different but recovered failure is
news, not necessarily worse). Scenarios only one side has are listed; a new scenario's dirty trials still count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.report.significance import drop_p
from chaos.report.view import ReportView, ScenarioView, build_view

__all__ = [
    "DIFF_SCHEMA",
    "Finding",
    "JournalDiff",
    "ScenarioChange",
    "diff_journals",
    "diff_to_json",
    "render_diff_markdown",
]

DIFF_SCHEMA = "resilience-chaos/journal-diff@1"
TEST_NAMES = {"fisher": "one-sided Fisher exact test", "z": "one-sided pooled two-proportion z-test"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the diff flags; ``gating`` findings are regressions."""

    kind: str  # "rate_drop", "new_failed_dirty", "new_failure_type"
    scenario: str
    message: str
    gating: bool
    replay: str = ""


@dataclass(frozen=True, slots=True)
class ScenarioChange:
    """One scenario in BASE and/or NEW: successes out of evaluated trials on each side, and the test's p."""

    id: str
    status: str  # "regressed", "worse", "better", "same", "added", "removed"
    baseline: bool
    base_rate: float | None
    new_rate: float | None
    base_counts: tuple[int, int] | None
    new_counts: tuple[int, int] | None
    p_value: float | None
    base_verdict: str | None
    new_verdict: str | None
    new_failure_types: tuple[str, ...]

    @property
    def delta(self) -> float | None:
        """NEW's rate minus BASE's, or None when either is missing."""
        if self.base_rate is None or self.new_rate is None:
            return None
        return self.new_rate - self.base_rate


@dataclass(frozen=True, slots=True)
class JournalDiff:
    """The comparison of two journals; :attr:`regressed` decides the exit status."""

    base_run: str
    new_run: str
    test: str
    confidence: float
    strict: bool
    changes: tuple[ScenarioChange, ...]
    findings: tuple[Finding, ...]

    @property
    def regressions(self) -> tuple[Finding, ...]:
        """The gating findings."""
        return tuple(finding for finding in self.findings if finding.gating)

    @property
    def notices(self) -> tuple[Finding, ...]:
        """Findings reported but not gating."""
        return tuple(finding for finding in self.findings if not finding.gating)

    @property
    def regressed(self) -> bool:
        """True when any finding gates."""
        return bool(self.regressions)

    @property
    def test_name(self) -> str:
        """The statistical test in words."""
        return TEST_NAMES.get(self.test, self.test)


def _counts(scenario: ScenarioView) -> tuple[int, int]:
    successes = scenario.outcomes["recovered"] + scenario.outcomes["recovered_degraded"]
    return successes, sum(scenario.outcomes.values()) - scenario.outcomes["not_triggered"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _dirty(scenario: ScenarioView | None) -> set[tuple[int, int | None]]:
    if scenario is None:
        return set()
    return {(trial.index, trial.seed) for trial in scenario.trial_views if trial.outcome == "failed_dirty"}


def _compare(
    scenario_id: str, base: ScenarioView | None, new: ScenarioView | None, test: str, alpha: float
) -> tuple[ScenarioChange, list[Finding]]:
    findings: list[Finding] = []
    known = _dirty(base)
    if new is not None:
        for trial in new.trial_views:
            # a baseline row measures half-written installs (its failures are expected); a leaked fault is not
            if trial.outcome == "failed_dirty" and not trial.expected and (trial.index, trial.seed) not in known:
                message = f"trial {trial.index} is failed_dirty (left residue): {trial.error_line or 'no error'}"
                findings.append(Finding("new_failed_dirty", scenario_id, message, True, trial.replay))
    if base is None or new is None:
        shown = new if new is not None else base
        assert shown is not None
        change = ScenarioChange(
            id=scenario_id,
            status="added" if base is None else "removed",
            baseline=shown.baseline,
            base_rate=base.recovery_rate if base else None,
            new_rate=new.recovery_rate if new else None,
            base_counts=_counts(base) if base else None,
            new_counts=_counts(new) if new else None,
            p_value=None,
            base_verdict=base.verdict if base else None,
            new_verdict=new.verdict if new else None,
            new_failure_types=(),
        )
        return change, findings
    base_counts, new_counts = _counts(base), _counts(new)
    p_value = drop_p(test, *base_counts, *new_counts)
    drop = base.recovery_rate is not None and new.recovery_rate is not None and new.recovery_rate < base.recovery_rate
    significant = drop and p_value < alpha
    if significant and not new.baseline:
        message = (
            f"recovery rate dropped {_pct(base.recovery_rate)} ({base_counts[0]}/{base_counts[1]}) -> "
            f"{_pct(new.recovery_rate)} ({new_counts[0]}/{new_counts[1]}), p = {p_value:.3g} < {alpha:.3g}"
        )
        findings.append(Finding("rate_drop", scenario_id, message, True))
    fresh = tuple(sorted(set(new.failure_types) - set(base.failure_types)))
    findings += [Finding("new_failure_type", scenario_id, f"new failure type {name}", False) for name in fresh]
    better = (
        base.recovery_rate is not None
        and new.recovery_rate is not None
        and new.recovery_rate > base.recovery_rate
        and drop_p(test, *new_counts, *base_counts) < alpha
    )
    status = "regressed" if significant and not new.baseline else "worse" if drop else "better" if better else "same"
    change = ScenarioChange(
        id=scenario_id,
        status=status,
        baseline=new.baseline,
        base_rate=base.recovery_rate,
        new_rate=new.recovery_rate,
        base_counts=base_counts,
        new_counts=new_counts,
        p_value=p_value,
        base_verdict=base.verdict,
        new_verdict=new.verdict,
        new_failure_types=fresh,
    )
    return change, findings


def _by_id(view: ReportView) -> dict[str, ScenarioView]:
    return {scenario.id: scenario for scenario in view.scenarios}


def diff_journals(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    confidence: float = 0.95,
    test: str = "fisher",
    strict: bool = False,
) -> JournalDiff:
    """Compare ``base`` (e.g. main's journal) with ``new`` (this change's) at ``confidence``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1), e.g. 0.95")
    base_view, new_view = build_view(base), build_view(new)
    base_scenarios, new_scenarios = _by_id(base_view), _by_id(new_view)
    changes: list[ScenarioChange] = []
    findings: list[Finding] = []
    for scenario_id in sorted(base_scenarios.keys() | new_scenarios.keys()):
        change, found = _compare(
            scenario_id, base_scenarios.get(scenario_id), new_scenarios.get(scenario_id), test, 1 - confidence
        )
        changes.append(change)
        findings += found
    if strict:
        findings = [
            Finding(f.kind, f.scenario, f.message, True, f.replay) if f.kind == "new_failure_type" else f
            for f in findings
        ]
    order = {"rate_drop": 0, "new_failed_dirty": 1, "new_failure_type": 2}
    findings.sort(key=lambda f: (not f.gating, order.get(f.kind, 3), f.scenario))
    rank = {"regressed": 0, "worse": 1, "added": 2, "removed": 3, "better": 4, "same": 5}
    changes.sort(key=lambda change: (rank[change.status], change.id))
    return JournalDiff(
        base_run=base_view.run.id,
        new_run=new_view.run.id,
        test=test,
        confidence=confidence,
        strict=strict,
        changes=tuple(changes),
        findings=tuple(findings),
    )


def diff_to_json(diff: JournalDiff) -> dict[str, Any]:
    """The diff as a JSON-ready dict (schema ``resilience-chaos/journal-diff@1``)."""
    return {
        "schema": DIFF_SCHEMA,
        "base": diff.base_run,
        "new": diff.new_run,
        "test": diff.test,
        "confidence": diff.confidence,
        "strict": diff.strict,
        "regressed": diff.regressed,
        "findings": [
            {"kind": f.kind, "scenario": f.scenario, "message": f.message, "gating": f.gating, "replay": f.replay}
            for f in diff.findings
        ],
        "scenarios": [
            {
                "id": change.id,
                "status": change.status,
                "baseline": change.baseline,
                "base_rate": change.base_rate,
                "new_rate": change.new_rate,
                "base_counts": list(change.base_counts) if change.base_counts else None,
                "new_counts": list(change.new_counts) if change.new_counts else None,
                "p_value": change.p_value,
                "base_verdict": change.base_verdict,
                "new_verdict": change.new_verdict,
                "new_failure_types": list(change.new_failure_types),
            }
            for change in diff.changes
        ],
    }


def _delta(change: ScenarioChange) -> str:
    delta = change.delta
    return "" if delta is None else f"{delta * 100:+.1f} pt"


def _side(rate: float | None, counts: tuple[int, int] | None) -> str:
    return "\u2013" if counts is None else f"{_pct(rate)} ({counts[0]}/{counts[1]})"


def render_diff_markdown(diff: JournalDiff) -> str:
    """The diff as Markdown: the outcome, the regressions (with replays), the notices, then every scenario."""
    icon, word = ("❌", "REGRESSION") if diff.regressed else ("✅", "NO REGRESSION")
    alpha = 1 - diff.confidence
    lines = [
        f"## {icon} {word} · chaos diff `{diff.base_run}` → `{diff.new_run}`",
        "",
        f"{len(diff.regressions)} regression(s), {len(diff.notices)} notice(s). A rate drop counts when the "
        f"{diff.test_name} gives p < {alpha:.3g} ({diff.confidence * 100:g}% confidence); baselines are not gated; "
        "any new failed_dirty trial outside a baseline counts."
        + (" New failure types count too (--strict)." if diff.strict else ""),
    ]
    for title, findings in (("Regressions", diff.regressions), ("Notices (not gating)", diff.notices)):
        if not findings:
            continue
        lines += ["", f"### {title}", ""]
        for finding in findings:
            lines.append(f"- **{finding.kind.replace('_', ' ')}** `{finding.scenario}`: {finding.message}")
            if finding.replay:
                lines += ["  ```", f"  {finding.replay}", "  ```"]
    lines += [
        "",
        "### Scenarios",
        "",
        "| change | scenario | base | new | Δ | p (drop) | verdict |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for change in diff.changes:
        p_value = "" if change.p_value is None else f"{change.p_value:.3g}"
        verdict = f"{change.base_verdict or '-'} -> {change.new_verdict or '-'}"
        status = change.status + (" (baseline)" if change.baseline else "")
        lines.append(
            f"| {status} | `{change.id}` | {_side(change.base_rate, change.base_counts)} "
            f"| {_side(change.new_rate, change.new_counts)} | {_delta(change)} | {p_value} | {verdict} |"
        )
    return "\n".join(lines) + "\n"
