"""Trials: their seeds, how one is classified (DESIGN §4.1), and how many of them aggregate into a verdict.

A scenario (one chaos-marked test) runs as N trials; trial ``i`` gets ``seed = trial_seed(run_seed, scenario,
i)``, a stable SHA-256 derivation, so the same run seed replays the same trial anywhere.

**The verdict of a scenario.** Its recovery rate is ``(recovered + recovered_degraded) / (trials -
not_triggered)``. A scenario *passes* when all of these hold:

1. at least one trial triggered its fault (a scenario whose faults never fire proves nothing);
2. no trial is ``failed_dirty`` (leftovers or half state are always a defect);
3. the observed rate is ``>= min_recovery_rate``.

The Wilson score interval at ``confidence`` is reported beside the rate so a reader can see how much the trial
count supports it; ``confident`` in the journal says whether the interval's lower bound also clears the
threshold. It does not gate the verdict: at 50 trials even 50/50 has a 95 % lower bound of 0.929.

A scenario with ``min_recovery_rate=0.0`` is a **baseline** row (e.g. plain ``huggingface_hub`` under the same
fault as the runtime): its rate is there to compare with, so reports label it ``baseline`` rather than pass.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resilience_core.recovery.taxonomy import Outcome

if TYPE_CHECKING:
    from chaos.fault import Fault

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MIN_RECOVERY_RATE",
    "DEFAULT_TRIALS",
    "MAX_NOTES",
    "ScenarioSummary",
    "Trial",
    "aggregate",
    "classify",
    "derive_seed",
    "json_safe",
    "trial_seed",
    "wilson_interval",
]

DEFAULT_TRIALS = 50
DEFAULT_MIN_RECOVERY_RATE = 0.95
DEFAULT_CONFIDENCE = 0.95
_SEED_BITS = 63
# Notes travel on every trial's report (and under xdist through the worker channel): keep each trial's bounded.
MAX_NOTES = 200
_MAX_NOTE_TEXT = 2000
_MAX_NOTE_ITEMS = 100


def derive_seed(*parts: object) -> int:
    """A stable non-negative 63-bit seed from ``parts`` (SHA-256 of their ``repr``s; never Python's ``hash``)."""
    digest = hashlib.sha256("\x1f".join(repr(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _SEED_BITS)


def json_safe(value: Any, *, _depth: int = 0) -> Any:
    """``value`` as plain JSON data: paths, enums, bytes and other objects become ``str``; long text and long
    lists are cut (a note is a fact for a reader, not a data dump).

    >>> import pathlib
    >>> json_safe({"file": pathlib.Path("/m/w.bin"), "sizes": (1, 2), "ratio": float("nan")})
    {'file': '/m/w.bin', 'sizes': [1, 2], 'ratio': 'nan'}
    """
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)  # NaN/inf are not JSON
    if isinstance(value, int) and not isinstance(value, bool):  # an IntEnum: its plain number
        return int(value)
    if _depth > 8:
        return _cut(str(value))
    if isinstance(value, Mapping):
        items = list(value.items())[:_MAX_NOTE_ITEMS]
        return {_cut(str(key)): json_safe(item, _depth=_depth + 1) for key, item in items}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        return [json_safe(item, _depth=_depth + 1) for item in items[:_MAX_NOTE_ITEMS]]
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_NOTE_TEXT else text[:_MAX_NOTE_TEXT] + "..."


def trial_seed(run_seed: int, scenario: str, index: int) -> int:
    """The seed of trial ``index`` of ``scenario`` in a run seeded with ``run_seed``.

    >>> trial_seed(1, "test_x.py::test_download", 0) == trial_seed(1, "test_x.py::test_download", 0)
    True
    """
    return derive_seed("trial", run_seed, scenario, index)


@dataclass(eq=False)
class Trial:
    """One run of a scenario: its identity and seed, the faults it armed, and what the runtime reported.

    ``triggered`` is True when an armed fault fired, when the embedded runtime reported a failure, or when the
    scenario armed no fault through the harness at all (it is then its own fault source).
    """

    scenario: str
    index: int
    seed: int
    faults: list[Fault] = field(default_factory=list)
    failure_types: Counter[str] = field(default_factory=Counter)
    strategies: Counter[str] = field(default_factory=Counter)
    time_to_recover_s: float | None = None
    degraded: bool = False
    marked_triggered: bool = False
    residue: list[str] = field(default_factory=list)
    error: str | None = None
    user_message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome | None = None

    def note(self, event: str, data: Mapping[str, Any], *, fault: str | None = None) -> None:
        """Record ``event`` with ``data`` for the journal's ``notes``; ``fault`` names the fault that noted it."""
        self.events.append({"event": str(event), "fault": fault, "data": dict(data)})

    def notes(self) -> list[dict[str, Any]]:
        """The journal's ``notes``: ``{"event", "fault", "data"}`` each, JSON-safe, at most ``MAX_NOTES``."""
        notes = [
            {"event": str(entry["event"]), "fault": entry.get("fault"), "data": json_safe(entry.get("data") or {})}
            for entry in self.events[:MAX_NOTES]
        ]
        if len(self.events) > MAX_NOTES:
            dropped = {"dropped": len(self.events) - MAX_NOTES, "max_notes": MAX_NOTES}
            notes.append({"event": "chaos.notes_truncated", "fault": None, "data": dropped})
        return notes

    @property
    def triggered(self) -> bool:
        """Whether the trial actually exercised recovery (see the class docstring)."""
        if self.marked_triggered or self.failure_types:
            return True
        if not self.faults:
            return True
        return any(fault.triggered for fault in self.faults)

    def record(self, *, replay: str = "", threshold: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-ready journal entry of this trial (DESIGN §4.6), plus the scenario's threshold settings."""
        entry: dict[str, Any] = {
            "scenario": self.scenario,
            "index": self.index,
            "seed": self.seed,
            "faults": [fault.describe() for fault in self.faults],
            "outcome": str(self.outcome) if self.outcome is not None else None,
            "time_to_recover_s": self.time_to_recover_s,
            "failure_types": dict(sorted(self.failure_types.items())),
            "strategies": dict(sorted(self.strategies.items())),
            "error": self.error,
            "replay": replay,
            "notes": self.notes(),
        }
        if self.residue:
            entry["residue"] = list(self.residue)
        if self.user_message:
            entry["user_message"] = self.user_message
        if threshold is not None:
            entry["threshold"] = dict(threshold)
        return entry


def classify(trial: Trial, *, body_error: BaseException | None, harness_error: bool = False) -> Outcome:
    """The outcome of a finished trial (DESIGN §4.1).

    - residue (a fault not reverted, leftovers, a failed steady-state check) -> ``failed_dirty``, whatever else;
    - the harness itself failed (fixture error, a fault that could not be armed) -> ``indeterminate``;
    - the body passed but no armed fault fired -> ``not_triggered``;
    - the body passed -> ``recovered_degraded`` if the runtime degraded anything, else ``recovered``;
    - the body raised -> ``failed_clean``.
    """
    if trial.residue:
        return Outcome.FAILED_DIRTY
    if harness_error:
        return Outcome.INDETERMINATE
    if body_error is None:
        if not trial.triggered:
            return Outcome.NOT_TRIGGERED
        return Outcome.RECOVERED_DEGRADED if trial.degraded else Outcome.RECOVERED
    return Outcome.FAILED_CLEAN


def wilson_interval(successes: int, total: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; ``(0.0, 1.0)`` when ``total`` is 0.

    >>> [round(bound, 3) for bound in wilson_interval(50, 50, 0.95)]
    [0.929, 1.0]
    """
    if total <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= total:
        raise ValueError(f"successes={successes} must be in 0..{total}")
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class ScenarioSummary:
    """The aggregate of one scenario's trial records, and its verdict (see the module docstring)."""

    id: str
    trials: int
    outcomes: dict[str, int]
    recovery_rate: float | None
    interval: tuple[float, float]
    min_recovery_rate: float
    confidence: float
    passed: bool
    reason: str
    faults: list[str]
    time_to_recover: dict[str, float | None]
    failure_types: dict[str, int]
    strategies: dict[str, int]
    failing: list[dict[str, Any]]

    @property
    def baseline(self) -> bool:
        """True for a baseline row (``min_recovery_rate=0.0``): its rate is measured for comparison, not gated;
        it still fails on ``failed_dirty`` or when nothing triggered."""
        return self.min_recovery_rate == 0.0

    @property
    def confident(self) -> bool:
        """True when the interval's lower bound also clears the threshold."""
        return self.interval[0] >= self.min_recovery_rate

    def to_journal(self) -> dict[str, Any]:
        """The journal's scenario entry (DESIGN §4.6)."""
        return {
            "id": self.id,
            "faults": self.faults,
            "trials": self.trials,
            "outcomes": self.outcomes,
            "recovery_rate": self.recovery_rate,
            "interval": [round(self.interval[0], 6), round(self.interval[1], 6)],
            "threshold": self.min_recovery_rate,
            "confidence": self.confidence,
            "confident": self.confident,
            "passed": self.passed,
            "baseline": self.baseline,
            "reason": self.reason,
            "time_to_recover": self.time_to_recover,
            "failure_types": self.failure_types,
            "strategies": self.strategies,
        }


def _summarize(scenario: str, records: list[dict[str, Any]]) -> ScenarioSummary:
    outcomes = {str(outcome): 0 for outcome in Outcome}
    failure_types: Counter[str] = Counter()
    strategies: Counter[str] = Counter()
    fault_names: set[str] = set()
    recover_times: list[float] = []
    threshold: Mapping[str, Any] = {}
    for record in records:
        outcomes[record["outcome"]] += 1
        failure_types.update(record.get("failure_types") or {})
        strategies.update(record.get("strategies") or {})
        fault_names.update(fault["name"] for fault in record.get("faults") or ())
        if record.get("time_to_recover_s") is not None:
            recover_times.append(float(record["time_to_recover_s"]))
        threshold = record.get("threshold") or threshold
    min_rate = float(threshold.get("min_recovery_rate", DEFAULT_MIN_RECOVERY_RATE))
    confidence = float(threshold.get("confidence", DEFAULT_CONFIDENCE))
    evaluated = len(records) - outcomes[Outcome.NOT_TRIGGERED]
    successes = outcomes[Outcome.RECOVERED] + outcomes[Outcome.RECOVERED_DEGRADED]
    rate = successes / evaluated if evaluated else None
    if outcomes[Outcome.FAILED_DIRTY]:
        passed, reason = False, f"{outcomes[Outcome.FAILED_DIRTY]} trial(s) failed_dirty (left residue)"
    elif rate is None:
        passed, reason = False, "no trial triggered its fault"
    elif rate < min_rate:
        passed, reason = False, f"recovery rate {rate:.3f} < min_recovery_rate {min_rate:g}"
    else:
        passed, reason = True, f"recovery rate {rate:.3f} >= min_recovery_rate {min_rate:g}"
    ttr: dict[str, float | None] = {"p50": None, "p95": None, "max": None}
    if recover_times:
        ttr = {
            "p50": _percentile(recover_times, 0.5),
            "p95": _percentile(recover_times, 0.95),
            "max": max(recover_times),
        }
    failing = [
        r for r in records if r["outcome"] in (Outcome.FAILED_CLEAN, Outcome.FAILED_DIRTY, Outcome.INDETERMINATE)
    ]
    return ScenarioSummary(
        id=scenario,
        trials=len(records),
        outcomes=outcomes,
        recovery_rate=rate,
        interval=wilson_interval(successes, evaluated, confidence),
        min_recovery_rate=min_rate,
        confidence=confidence,
        passed=passed,
        reason=reason,
        faults=sorted(fault_names),
        time_to_recover=ttr,
        failure_types=dict(sorted(failure_types.items())),
        strategies=dict(sorted(strategies.items())),
        failing=sorted(failing, key=lambda r: int(r["index"])),
    )


def aggregate(records: Iterable[Mapping[str, Any]]) -> list[ScenarioSummary]:
    """Group trial records by scenario and summarize each; the order of ``records`` does not matter.

    A record seen twice (same scenario and index, e.g. a rerun) counts once: the last one wins.
    """
    by_scenario: dict[str, dict[int, dict[str, Any]]] = {}
    for record in records:
        by_scenario.setdefault(str(record["scenario"]), {})[int(record["index"])] = dict(record)
    return [
        _summarize(scenario, [trials[index] for index in sorted(trials)])
        for scenario, trials in sorted(by_scenario.items())
    ]
