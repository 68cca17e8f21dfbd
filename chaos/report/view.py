"""What every report shows, read once from a journal: the run's verdict, scenarios in reading order, trials.

The HTML page, ``summary.md``, ``resilience report show`` and JUnit all render a :class:`ReportView`, so they
agree on what "failed", "baseline" and "expected failure" mean. Keys a renderer does not know (added by a
newer journal@1 writer or a plugin) are kept in ``extra`` and shown as they are, never dropped.

Verdicts: a scenario's ``verdict`` key when the journal has one (``pass``, ``fail``, ``undecided``,
``incomplete``, ``baseline``), else ``fail`` when it did not pass, ``baseline`` for a ``min_recovery_rate=0``
row, ``pass`` otherwise. The run's verdict is the worst scenario verdict, baselines aside.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BAD_OUTCOMES",
    "OUTCOMES",
    "OUTCOME_HELP",
    "OUTCOME_SHORT",
    "VERDICT_ORDER",
    "FaultView",
    "ReportView",
    "RunView",
    "ScenarioView",
    "TrialView",
    "build_view",
    "format_value",
]

OUTCOMES = ("recovered", "recovered_degraded", "failed_clean", "failed_dirty", "indeterminate", "not_triggered")
BAD_OUTCOMES = frozenset({"failed_clean", "failed_dirty", "indeterminate"})
OUTCOME_SHORT = {
    "recovered": "rec",
    "recovered_degraded": "degr",
    "failed_clean": "fail",
    "failed_dirty": "dirty",
    "indeterminate": "indet",
    "not_triggered": "n/t",
}
OUTCOME_HELP = {
    "recovered": "the install finished after the fault",
    "recovered_degraded": "it finished with reduced parameters (e.g. a smaller batch size)",
    "failed_clean": "it gave up and left no residue (counts against the rate)",
    "failed_dirty": "it left residue or half state: a defect that fails a gated scenario (a baseline counts it)",
    "indeterminate": "the harness itself failed (fixture error, fault not armed); left out of the rate",
    "not_triggered": "no armed fault fired; left out of the rate",
}
# Worst first: the run's verdict is the first of these any non-baseline scenario has.
VERDICT_ORDER = ("fail", "incomplete", "undecided", "pass", "baseline")

_SCENARIO_KEYS = frozenset(
    {
        "id", "faults", "trials", "outcomes", "recovery_rate", "interval", "threshold", "confidence", "confident",
        "passed", "baseline", "reason", "time_to_recover", "failure_types", "strategies", "verdict", "run",
    }
)  # fmt: skip
_TRIAL_KEYS = frozenset(
    {
        "scenario", "index", "seed", "faults", "outcome", "time_to_recover_s", "duration_s", "failure_types",
        "strategies", "error", "replay", "notes", "residue", "leaked", "user_message", "run",
    }
)  # fmt: skip
_RUN_KEYS = frozenset({"id", "seed", "started", "ended", "host", "versions"})
_FAULT_KEYS = frozenset({"name", "params", "triggered", "backend"})


def format_value(value: object) -> str:
    """A journal value as short text: numbers as written, containers as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def _extra(entry: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in known}


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): int(count) for key, count in value.items() if isinstance(count, int)}


@dataclass(frozen=True, slots=True)
class FaultView:
    """A fault a trial armed: its name, parameters, whether it fired, and any other keys it recorded."""

    name: str
    params: dict[str, Any]
    triggered: bool | None
    backend: str | None
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrialView:
    """One trial. ``expected`` marks a bad outcome in a baseline scenario: measured, not a defect."""

    scenario: str
    index: int
    seed: int | None
    outcome: str
    time_to_recover_s: float | None
    duration_s: float | None
    failure_types: dict[str, int]
    strategies: dict[str, int]
    error: str
    replay: str
    faults: tuple[FaultView, ...]
    notes: tuple[dict[str, Any], ...]
    residue: tuple[str, ...]
    user_message: str
    expected: bool
    extra: dict[str, Any]

    @property
    def bad(self) -> bool:
        """True for failed_clean, failed_dirty and indeterminate."""
        return self.outcome in BAD_OUTCOMES

    @property
    def error_line(self) -> str:
        """The first line of the error, for one-line listings."""
        return self.error.strip().splitlines()[0] if self.error.strip() else ""


@dataclass(frozen=True, slots=True)
class ScenarioView:
    """One scenario row: figures, verdict and its trials (index order)."""

    number: int
    id: str
    verdict: str
    baseline: bool
    trials: int
    outcomes: dict[str, int]
    recovery_rate: float | None
    interval: tuple[float, float]
    threshold: float
    confidence: float
    confident: bool | None
    reason: str
    faults: tuple[str, ...]
    time_to_recover: dict[str, float | None]
    failure_types: dict[str, int]
    strategies: dict[str, int]
    trial_views: tuple[TrialView, ...]
    extra: dict[str, Any]

    @property
    def module(self) -> str:
        """The test file part of the id (``scenarios/test_x.py``)."""
        return self.id.rpartition("::")[0]

    @property
    def name(self) -> str:
        """The test name part of the id (``test_download[reset_peer]``)."""
        return self.id.rpartition("::")[2]

    @property
    def bad_trials(self) -> tuple[TrialView, ...]:
        """Trials with a bad outcome, worst first (failed_dirty, then failed_clean, then indeterminate)."""
        rank = {"failed_dirty": 0, "failed_clean": 1, "indeterminate": 2}
        return tuple(sorted((t for t in self.trial_views if t.bad), key=lambda t: (rank[t.outcome], t.index)))

    @property
    def verdict_rank(self) -> int:
        """Position in :data:`VERDICT_ORDER` (unknown verdicts sort with ``undecided``)."""
        return VERDICT_ORDER.index(self.verdict) if self.verdict in VERDICT_ORDER else 2


@dataclass(frozen=True, slots=True)
class RunView:
    """The run's facts; ``runs`` lists every run when several journals were combined."""

    id: str
    seed: int | None
    started: str
    ended: str
    host: str
    versions: dict[str, str]
    duration_s: float | None
    runs: tuple[str, ...]
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReportView:
    """A journal as the reports read it: the run, its verdict, and scenarios worst verdict first."""

    run: RunView
    verdict: str
    scenarios: tuple[ScenarioView, ...]
    extra: dict[str, Any]

    @property
    def failed(self) -> tuple[ScenarioView, ...]:
        """Scenarios whose verdict is ``fail``."""
        return tuple(scenario for scenario in self.scenarios if scenario.verdict == "fail")

    @property
    def gated(self) -> tuple[ScenarioView, ...]:
        """Scenarios that count towards the run's verdict (all but baselines)."""
        return tuple(scenario for scenario in self.scenarios if scenario.verdict != "baseline")

    def count(self, verdict: str) -> int:
        """How many scenarios have ``verdict``."""
        return sum(1 for scenario in self.scenarios if scenario.verdict == verdict)

    @property
    def headline(self) -> str:
        """One sentence for the banner: what failed, out of how many."""
        gated, failed, baselines = len(self.gated), len(self.failed), self.count("baseline")
        if not self.scenarios:
            return "no scenario ran"
        if not gated:
            parts = ["no gated scenario"]
        elif failed:
            parts = [f"{failed} of {gated} failed"]
        else:
            parts = [f"{gated - self.count('incomplete') - self.count('undecided')} of {gated} scenarios passed"]
        parts += [f"{self.count(v)} {v}" for v in ("incomplete", "undecided") if self.count(v)]
        if baselines:
            parts.append(f"{baselines} baseline{'s' if baselines != 1 else ''} measured, not gated")
        return ", ".join(parts)


def _verdict(scenario: Mapping[str, Any], baseline: bool) -> str:
    given = scenario.get("verdict")
    if isinstance(given, str) and given:
        return given.lower()
    if not scenario.get("passed", False):
        return "fail"
    return "baseline" if baseline else "pass"


def _fault(entry: Mapping[str, Any]) -> FaultView:
    triggered = entry.get("triggered")
    return FaultView(
        name=str(entry.get("name", "?")),
        params=dict(entry.get("params") or {}),
        triggered=triggered if isinstance(triggered, bool) else None,
        backend=str(entry["backend"]) if entry.get("backend") else None,
        extra=_extra(entry, _FAULT_KEYS),
    )


def _trial(entry: Mapping[str, Any], baseline: bool) -> TrialView:
    outcome = str(entry.get("outcome"))
    seed = entry.get("seed")
    return TrialView(
        scenario=str(entry["scenario"]),
        index=int(entry["index"]),
        seed=seed if isinstance(seed, int) else None,
        outcome=outcome,
        time_to_recover_s=_float(entry.get("time_to_recover_s")),
        duration_s=_float(entry.get("duration_s")),
        failure_types=_counts(entry.get("failure_types")),
        strategies=_counts(entry.get("strategies")),
        error=str(entry.get("error") or ""),
        replay=str(entry.get("replay") or ""),
        faults=tuple(_fault(fault) for fault in entry.get("faults") or () if isinstance(fault, Mapping)),
        notes=tuple(dict(note) for note in entry.get("notes") or () if isinstance(note, Mapping)),
        residue=tuple(str(item) for item in entry.get("residue") or ()),
        user_message=str(entry.get("user_message") or ""),
        expected=baseline and outcome in BAD_OUTCOMES and not entry.get("leaked"),
        extra=_extra(entry, _TRIAL_KEYS),
    )


def _duration(started: str, ended: str) -> float | None:
    try:
        return (datetime.datetime.fromisoformat(ended) - datetime.datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None


def _run(journal: Mapping[str, Any]) -> RunView:
    run = journal.get("run") or {}
    seed = run.get("seed")
    started, ended = str(run.get("started", "")), str(run.get("ended", ""))
    return RunView(
        id=str(run.get("id", "?")),
        seed=seed if isinstance(seed, int) else None,
        started=started,
        ended=ended,
        host=str(run.get("host", "")),
        versions={str(key): str(value) for key, value in (run.get("versions") or {}).items()},
        duration_s=_duration(started, ended),
        runs=tuple(str(entry.get("id", "?")) for entry in journal.get("runs") or ()),
        extra=_extra(run, _RUN_KEYS),
    )


def build_view(journal: Mapping[str, Any]) -> ReportView:
    """Read ``journal`` (a journal@1 dict) into the view every report renders."""
    by_scenario: dict[str, list[Mapping[str, Any]]] = {}
    for entry in journal.get("trials") or ():
        by_scenario.setdefault(str(entry["scenario"]), []).append(entry)
    scenarios: list[ScenarioView] = []
    for number, entry in enumerate(journal.get("scenarios") or ()):
        threshold = _float(entry.get("threshold")) or 0.0
        baseline = bool(entry.get("baseline", threshold == 0.0))
        interval: Sequence[Any] = entry.get("interval") or (0.0, 1.0)
        confident = entry.get("confident")
        trials = sorted(by_scenario.get(str(entry["id"]), ()), key=lambda trial: int(trial["index"]))
        ttr = entry.get("time_to_recover") or {}
        scenarios.append(
            ScenarioView(
                number=number,
                id=str(entry["id"]),
                verdict=_verdict(entry, baseline),
                baseline=baseline,
                trials=int(entry.get("trials", len(trials))),
                outcomes={key: int((entry.get("outcomes") or {}).get(key, 0)) for key in OUTCOMES},
                recovery_rate=_float(entry.get("recovery_rate")),
                interval=(float(interval[0]), float(interval[1])),
                threshold=threshold,
                confidence=_float(entry.get("confidence")) or 0.95,
                confident=confident if isinstance(confident, bool) else None,
                reason=str(entry.get("reason", "")),
                faults=tuple(str(name) for name in entry.get("faults") or ()),
                time_to_recover={key: _float(ttr.get(key)) for key in ("p50", "p95", "max")},
                failure_types=_counts(entry.get("failure_types")),
                strategies=_counts(entry.get("strategies")),
                trial_views=tuple(_trial(trial, baseline) for trial in trials),
                extra=_extra(entry, _SCENARIO_KEYS),
            )
        )
    scenarios.sort(key=lambda scenario: (scenario.verdict_rank, scenario.id))
    verdicts = {scenario.verdict for scenario in scenarios if scenario.verdict != "baseline"}
    verdict = next((v for v in VERDICT_ORDER if v in verdicts), "pass" if scenarios else "incomplete")
    if verdicts - set(VERDICT_ORDER) and verdict == "pass":
        verdict = "undecided"  # a verdict this reader does not know never reads as a pass
    known = frozenset({"schema", "run", "runs", "scenarios", "trials"})
    return ReportView(run=_run(journal), verdict=verdict, scenarios=tuple(scenarios), extra=_extra(journal, known))
