"""Trials: their seeds, how one is classified (DESIGN §4.1), and how many of them aggregate into a verdict.

A scenario (one chaos-marked test) runs as N trials; trial ``i`` gets ``seed = trial_seed(run_seed, scenario,
i)``, a stable SHA-256 derivation, so the same run seed replays the same trial anywhere.

**The recovery rate** of a scenario is ``(recovered + recovered_degraded) / evaluated`` where ``evaluated`` is the
trials that triggered their fault and were not ``indeterminate`` (``not_triggered`` and ``indeterminate`` trials
are left out: neither says anything about recovery; ``failed_dirty`` counts as a failure). Indeterminate trials
have their own share, and a scenario with more than ``max_indeterminate`` of them fails.

**The verdict** (``verdict`` in the journal): ``pass``, ``fail``, ``undecided`` (the evidence supports neither),
``incomplete`` (trials it needed did not run: ``-x``, ``--maxfail``, ``-k``) or ``baseline``. A gated scenario
never passes when a trial is ``failed_dirty``, when no trial triggered, or when its fault setup was invalid.
Beyond that the gate (:class:`ScenarioSettings`) decides:

- ``gate="point"``: the observed rate must be ``>= min_recovery_rate``;
- ``gate="confident"``: the exact (Clopper-Pearson) one-sided lower bound of the rate at ``confidence`` must be
  ``>= min_recovery_rate``; an observed rate below it fails, anything between is ``undecided``;
- ``trials="auto"``: the sequential rule (:class:`SequentialRule`) looks after every evaluated trial and stops
  the scenario once it is decided; ``undecided`` when ``max_trials`` ran without a decision.

The Wilson score interval at ``confidence`` is reported beside the rate, for reading; it does not gate.

A scenario with ``min_recovery_rate=0.0`` is a **baseline** row (e.g. plain ``huggingface_hub`` under the same
fault as the runtime, or an installer no one here wrote): its rate is there to compare with, so reports label it
``baseline`` rather than pass. Its ``failed_dirty`` trials are counted and shown, but do not fail it: a
half-written install is exactly what such a row exists to show; nor does a row whose fault never provably
reached the target (reported as such: nothing to compare). It still fails when its fault setup was invalid and
when a fault did not revert (``leaked``: the harness's or a plugin's bug, which fails any scenario).
"""

from __future__ import annotations

import hashlib
import math
import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chaos.errors import ChaosError
from resilience_core.recovery.taxonomy import Outcome

if TYPE_CHECKING:
    from chaos.fault import Fault

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_GATE",
    "DEFAULT_MAX_INDETERMINATE",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_MIN_RECOVERY_RATE",
    "DEFAULT_TRIALS",
    "GATES",
    "MAX_NOTES",
    "SCENARIO_KEYS",
    "ScenarioSettings",
    "ScenarioSummary",
    "SequentialRule",
    "SettingsError",
    "Trial",
    "aggregate",
    "binomial_tails",
    "classify",
    "confident_trials",
    "derive_seed",
    "exact_lower_bound",
    "json_safe",
    "planned_items",
    "scenario_settings",
    "sequential_rule",
    "trial_seed",
    "wilson_interval",
]

DEFAULT_TRIALS = 50
DEFAULT_MIN_RECOVERY_RATE = 0.95
DEFAULT_CONFIDENCE = 0.95
DEFAULT_GATE = "point"
DEFAULT_MAX_TRIALS = 200
DEFAULT_MAX_INDETERMINATE = 0.2
GATES = ("point", "confident")
MAX_TRIALS_LIMIT = 1000
SCENARIO_KEYS = ("trials", "min_recovery_rate", "confidence", "gate", "max_trials", "max_indeterminate")
RULE = "exact-binomial-sequential@1"
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
    leaked: list[str] = field(default_factory=list)  # the residue a fault left (it did not revert): a harness bug
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
        if self.leaked:
            entry["leaked"] = list(self.leaked)
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


# -- a scenario's settings: one validated place for the marker's, the ini's and a TOML file's keys ---------------


class SettingsError(ChaosError, ValueError):
    """A scenario setting has a bad value; the one-line message names where, the field, the value and the fix."""


@dataclass(frozen=True, slots=True)
class ScenarioSettings:
    """How one scenario is run and gated (see the module docstring).

    ``trials`` is the fixed trial count, or None under ``trials="auto"`` (then ``max_trials`` items are generated
    and the sequential rule stops early). ``gate`` is ``"confident"`` under auto, whatever was asked.
    """

    trials: int | None = DEFAULT_TRIALS
    min_recovery_rate: float = DEFAULT_MIN_RECOVERY_RATE
    confidence: float = DEFAULT_CONFIDENCE
    gate: str = DEFAULT_GATE
    max_trials: int = DEFAULT_MAX_TRIALS
    max_indeterminate: float = DEFAULT_MAX_INDETERMINATE

    @property
    def auto(self) -> bool:
        """True under ``trials="auto"`` (sequential stopping)."""
        return self.trials is None

    def to_threshold(self) -> dict[str, Any]:
        """The mapping each trial record carries (``record["threshold"]``) and :func:`aggregate` reads back."""
        return {
            "trials": "auto" if self.trials is None else self.trials,
            "min_recovery_rate": self.min_recovery_rate,
            "confidence": self.confidence,
            "gate": self.gate,
            "max_trials": self.max_trials,
            "max_indeterminate": self.max_indeterminate,
        }


def _fail(where: str, key: str, value: object, must: str, example: str) -> SettingsError:
    return SettingsError(f"{where}: {key}={value!r} {must}; fix: e.g. {key}={example}")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def scenario_settings(
    values: Mapping[str, object], where: str, *, trials_override: int | None = None
) -> ScenarioSettings:
    """Validate a scenario's keys (a ``chaos`` marker's kwargs, ini values, a scenario file's table) into
    :class:`ScenarioSettings`; a bad key or value raises :class:`SettingsError`, one line naming ``where``, the
    field, the value and the fix. ``trials_override`` (``--chaos-trials``) replaces ``trials`` with a fixed count,
    point-gated unless the scenario names its ``gate`` (a smoke run must not read as undecided).

    >>> scenario_settings({"trials": "auto", "min_recovery_rate": 0.9}, "test_x.py::test_a").max_trials
    200
    >>> try:
    ...     scenario_settings({"trials": 0}, "test_x.py::test_a")
    ... except SettingsError as error:
    ...     print(error)
    test_x.py::test_a: trials=0 must be an integer >= 1 or 'auto'; fix: e.g. trials=20 or trials='auto'
    """
    unknown = [key for key in values if key not in SCENARIO_KEYS]
    if unknown:
        key = unknown[0]
        raise SettingsError(f"{where}: {key}={values[key]!r} is unknown; fix: use one of {', '.join(SCENARIO_KEYS)}")
    trials = values.get("trials", DEFAULT_TRIALS)
    if trials != "auto" and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise _fail(where, "trials", trials, "must be an integer >= 1 or 'auto'", "20 or trials='auto'")
    rate = values.get("min_recovery_rate", DEFAULT_MIN_RECOVERY_RATE)
    if not _number(rate) or not 0 <= float(rate) <= 1:  # type: ignore[arg-type]
        raise _fail(where, "min_recovery_rate", rate, "must be a number in 0..1", "0.95")
    confidence = values.get("confidence", DEFAULT_CONFIDENCE)
    if not _number(confidence) or not 0 < float(confidence) < 1:  # type: ignore[arg-type]
        raise _fail(where, "confidence", confidence, "must be a number in (0, 1)", "0.95")
    gate = values.get("gate", "confident" if trials == "auto" else DEFAULT_GATE)
    if gate not in GATES:
        raise _fail(where, "gate", gate, "must be 'point' or 'confident'", "'confident'")
    max_trials = values.get("max_trials", DEFAULT_MAX_TRIALS)
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or not 1 <= max_trials <= MAX_TRIALS_LIMIT:
        raise _fail(where, "max_trials", max_trials, f"must be an integer in 1..{MAX_TRIALS_LIMIT}", "200")
    share = values.get("max_indeterminate", DEFAULT_MAX_INDETERMINATE)
    if not _number(share) or not 0 <= float(share) <= 1:  # type: ignore[arg-type]
        raise _fail(where, "max_indeterminate", share, "must be a share in 0..1", "0.2")
    min_rate, level = float(rate), float(confidence)  # type: ignore[arg-type]
    if trials == "auto":
        if gate != "confident":
            raise _fail(
                where,
                "gate",
                gate,
                "cannot be used with trials='auto' (sequential stopping is confident)",
                "'confident' or a fixed trials=N",
            )
        if min_rate == 0.0:
            raise _fail(
                where, "trials", trials, "cannot gate a baseline (min_recovery_rate=0): it measures a rate", "20"
            )
    if gate == "confident" and min_rate >= 1.0:
        raise _fail(
            where,
            "min_recovery_rate",
            rate,
            "can never be shown with confidence (any finite number of trials leaves a lower bound below 1)",
            "0.95, or gate='point'",
        )
    fixed = None if trials == "auto" else int(trials)
    if trials_override is not None:  # a smoke run (--chaos-trials N): N trials, point-gated unless gate was set
        fixed = trials_override
        gate = values.get("gate", "point")
    return ScenarioSettings(
        trials=fixed,
        min_recovery_rate=min_rate,
        confidence=level,
        gate=str(gate) if fixed is not None else "confident",
        max_trials=int(max_trials),
        max_indeterminate=float(share),  # type: ignore[arg-type]
    )


def confident_trials(threshold: float, confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """How many trials, all recovered, a fixed-count ``gate="confident"`` scenario needs: the smallest n whose
    exact lower bound of n out of n clears ``threshold`` (None for a threshold of 1.0: never).

    >>> confident_trials(0.95, 0.95), confident_trials(0.9, 0.95), confident_trials(0.8, 0.9)
    (59, 29, 11)
    """
    if threshold >= 1.0:
        return None
    if threshold <= 0.0:
        return 1
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(threshold) - 1e-12))


def planned_items(settings: ScenarioSettings) -> int:
    """How many trial items a scenario generates: ``trials``, or ``max_trials`` under ``trials="auto"``.

    >>> planned_items(ScenarioSettings(trials=None, max_trials=80, gate="confident"))
    80
    """
    return settings.max_trials if settings.trials is None else settings.trials


# -- exact binomial bounds and the sequential rule ------------------------------------------------------------


def binomial_tails(n: int, p: float) -> tuple[list[float], list[float]]:
    """``(upper, lower)`` for ``X ~ Binomial(n, p)``: ``upper[s] = P(X >= s)``, ``lower[s] = P(X <= s)``, s in 0..n."""
    if p <= 0.0 or p >= 1.0:
        point = [1.0 if (s == 0 if p <= 0.0 else s == n) else 0.0 for s in range(n + 1)]
    else:
        lp, lq, lf = math.log(p), math.log1p(-p), math.lgamma(n + 1)
        point = [
            math.exp(lf - math.lgamma(s + 1) - math.lgamma(n - s + 1) + s * lp + (n - s) * lq) for s in range(n + 1)
        ]
    upper = [0.0] * (n + 2)
    for s in range(n, -1, -1):
        upper[s] = min(1.0, upper[s + 1] + point[s])
    lower = [0.0] * (n + 1)
    running = 0.0
    for s in range(n + 1):
        running += point[s]
        lower[s] = min(1.0, running)
    return upper[: n + 1], lower


def _upper_tail(successes: int, total: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(total, p), summing only the terms it needs."""
    if p <= 0.0:
        return 1.0 if successes <= 0 else 0.0
    if p >= 1.0:
        return 1.0
    lp, lq, lf = math.log(p), math.log1p(-p), math.lgamma(total + 1)
    terms = (
        math.exp(lf - math.lgamma(k + 1) - math.lgamma(total - k + 1) + k * lp + (total - k) * lq)
        for k in range(successes, total + 1)
    )
    return min(1.0, math.fsum(terms))


def exact_lower_bound(successes: int, total: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The exact (Clopper-Pearson) one-sided lower confidence bound of a binomial proportion: the smallest ``p``
    with ``P(X >= successes | total, p) > 1 - confidence``; 0.0 when there is nothing to bound.

    >>> round(exact_lower_bound(59, 59, 0.95), 4)   # 59 of 59 shows a rate of at least 0.95
    0.9505
    """
    if total <= 0 or successes <= 0:
        return 0.0
    if not 0 <= successes <= total:
        raise ValueError(f"successes={successes} must be in 0..{total}")
    alpha = 1.0 - confidence
    if successes == total:
        return float(alpha ** (1.0 / total))
    lo, hi = 0.0, successes / total
    for _ in range(60):
        mid = (lo + hi) / 2
        if _upper_tail(successes, total, mid) <= alpha:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True, slots=True)
class SequentialRule:
    """The stopping rule of ``trials="auto"``: exact binomial boundaries at a fixed per-look level, calibrated.

    After the n-th evaluated trial with s successes the scenario **passes** when ``s >= pass_at[n-1]`` (the exact
    one-sided test of ``rate <= threshold`` at level ``pass_level`` rejects: the Clopper-Pearson lower bound at
    ``1 - pass_level`` clears the threshold) and **fails** when ``s <= fail_at[n-1]`` (the upper bound at
    ``1 - fail_level`` is below it). The levels are the largest for which the probability, at a true rate equal
    to the threshold, of *ever* crossing the boundary in ``max_trials`` looks is at most ``1 - confidence``,
    computed exactly by dynamic programming over (n, s). Crossing an upper boundary is monotone in the true rate,
    so the false-pass rate is at most ``1 - confidence`` for every true rate below the threshold too, and the
    false-fail rate likewise above it; stopping at the first crossing only removes paths from the other boundary.
    """

    threshold: float
    confidence: float
    max_trials: int
    pass_level: float
    fail_level: float
    pass_at: tuple[int, ...]
    fail_at: tuple[int, ...]

    def decide(self, successes: int, evaluated: int) -> str | None:
        """``"pass"``, ``"fail"`` or None (go on) after ``evaluated`` trials with ``successes``."""
        if evaluated < 1 or evaluated > self.max_trials:
            return None
        if successes >= self.pass_at[evaluated - 1]:
            return "pass"
        if successes <= self.fail_at[evaluated - 1]:
            return "fail"
        return None

    def replay(self, sequence: Iterable[bool]) -> tuple[str | None, int]:
        """The rule run over evaluated outcomes in order: ``(decision, looks used)``; None when undecided."""
        successes = evaluated = 0
        for success in sequence:
            evaluated += 1
            successes += bool(success)
            decision = self.decide(successes, evaluated)
            if decision is not None:
                return decision, evaluated
        return None, evaluated

    @property
    def all_success_stop(self) -> int | None:
        """How many evaluated trials an all-success scenario needs to pass (None: not within max_trials)."""
        return next((n for n, bound in enumerate(self.pass_at, start=1) if bound <= n), None)

    def expected_stop(self, rate: float) -> float:
        """The expected number of evaluated trials at true ``rate`` (undecided runs count as ``max_trials``)."""
        alive = [1.0]
        expected = 0.0
        for n in range(1, self.max_trials + 1):
            grown = [0.0] * (len(alive) + 1)
            for s, mass in enumerate(alive):
                if mass:
                    grown[s] += mass * (1 - rate)
                    grown[s + 1] += mass * rate
            stopped = sum(m for s, m in enumerate(grown) if s >= self.pass_at[n - 1] or s <= self.fail_at[n - 1])
            expected += n * stopped
            alive = [0.0 if s >= self.pass_at[n - 1] or s <= self.fail_at[n - 1] else m for s, m in enumerate(grown)]
        return expected + self.max_trials * sum(alive)


def _crossing(rate: float, bounds: list[int], upper: bool) -> float:
    """P(ever reach s >= bound (upper) / s <= bound (lower) at some look n) for Bernoulli(rate) trials."""
    alive = [1.0]
    total = 0.0
    for n, bound in enumerate(bounds, start=1):
        grown = [0.0] * (len(alive) + 1)
        for s, mass in enumerate(alive):
            if mass:
                grown[s] += mass * (1 - rate)
                grown[s + 1] += mass * rate
        if upper and bound <= n:
            total += sum(grown[bound:])
            grown[bound:] = [0.0] * (len(grown) - bound)
        elif not upper and bound >= 0:
            total += sum(grown[: bound + 1])
            grown[: bound + 1] = [0.0] * (bound + 1)
        alive = grown
    return total


def _calibrate(tables: list[list[float]], alpha: float, upper: bool, rate: float) -> tuple[float, list[int]]:
    """The largest per-look level whose boundaries are crossed with probability <= alpha at ``rate``."""

    def bounds(level: float) -> list[int]:
        if upper:  # the smallest s with P(X >= s) <= level (n + 1: none)
            return [next((s for s in range(len(t)) if t[s] <= level), len(t)) for t in tables]
        # the largest s with P(X <= s) <= level (-1: none); lower tails are increasing in s
        return [bisect_right(t, level) - 1 for t in tables]

    lo, hi = math.log(alpha / len(tables)), math.log(alpha)  # Bonferroni is always within alpha
    if _crossing(rate, bounds(alpha), upper) <= alpha:
        return alpha, bounds(alpha)
    for _ in range(40):
        mid = (lo + hi) / 2
        if _crossing(rate, bounds(math.exp(mid)), upper) <= alpha:
            lo = mid
        else:
            hi = mid
    return math.exp(lo), bounds(math.exp(lo))


@lru_cache(maxsize=64)
def sequential_rule(threshold: float, confidence: float, max_trials: int) -> SequentialRule:
    """The :class:`SequentialRule` for a threshold, confidence and look budget (cached; a second at most).

    >>> rule = sequential_rule(0.95, 0.95, 200)
    >>> rule.all_success_stop, rule.decide(20, 30)
    (75, 'fail')
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold} must be in (0, 1) for a sequential rule")
    alpha = 1.0 - confidence
    uppers: list[list[float]] = []
    lowers: list[list[float]] = []
    for n in range(1, max_trials + 1):
        upper, lower = binomial_tails(n, threshold)
        uppers.append(upper)
        lowers.append(lower)
    pass_level, pass_at = _calibrate(uppers, alpha, True, threshold)
    fail_level, fail_at = _calibrate(lowers, alpha, False, threshold)
    return SequentialRule(threshold, confidence, max_trials, pass_level, fail_level, tuple(pass_at), tuple(fail_at))


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
    verdict: str = ""
    gate: str = DEFAULT_GATE
    lower_bound: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    sequential: dict[str, Any] | None = None
    indeterminate_share: float = 0.0

    @property
    def baseline(self) -> bool:
        """True for a baseline row (``min_recovery_rate=0.0``): its rate is measured for comparison, not gated;
        ``failed_dirty`` trials are shown but do not fail it; a leaked fault or a bad fault setup still does."""
        return self.min_recovery_rate == 0.0

    @property
    def confident(self) -> bool:
        """True when the exact lower bound at ``confidence`` (under auto: at the rule's level) clears the
        threshold."""
        return self.lower_bound is not None and self.lower_bound >= self.min_recovery_rate

    def to_journal(self) -> dict[str, Any]:
        """The journal's scenario entry (DESIGN §4.6)."""
        entry: dict[str, Any] = {
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
            "verdict": self.verdict,
            "gate": self.gate,
            "lower_bound": None if self.lower_bound is None else round(self.lower_bound, 6),
            "indeterminate_share": round(self.indeterminate_share, 6),
            "settings": self.settings,
            "reason": self.reason,
            "time_to_recover": self.time_to_recover,
            "failure_types": self.failure_types,
            "strategies": self.strategies,
        }
        if self.sequential is not None:
            entry["sequential"] = self.sequential
        return entry


_SUCCESS = (Outcome.RECOVERED, Outcome.RECOVERED_DEGRADED)
_EVALUATED = (*_SUCCESS, Outcome.FAILED_CLEAN, Outcome.FAILED_DIRTY)


def _settings_of(threshold: Mapping[str, Any]) -> ScenarioSettings:
    """The settings a record carries; a record written before a key existed gets that key's default."""
    trials = threshold.get("trials", DEFAULT_TRIALS)
    return ScenarioSettings(
        trials=None if trials == "auto" else int(trials),
        min_recovery_rate=float(threshold.get("min_recovery_rate", DEFAULT_MIN_RECOVERY_RATE)),
        confidence=float(threshold.get("confidence", DEFAULT_CONFIDENCE)),
        gate="confident" if trials == "auto" else str(threshold.get("gate", DEFAULT_GATE)),
        max_trials=int(threshold.get("max_trials", DEFAULT_MAX_TRIALS)),
        max_indeterminate=float(threshold.get("max_indeterminate", DEFAULT_MAX_INDETERMINATE)),
    )


def _gate(settings: ScenarioSettings, successes: int, evaluated: int, complete: bool) -> tuple[str, str]:
    """(verdict, reason) of a scenario's evaluated trials under its gate; ``complete``: every planned trial ran."""
    min_rate = settings.min_recovery_rate
    rate = successes / evaluated
    if settings.auto:
        rule = sequential_rule(min_rate, settings.confidence, settings.max_trials)
        decision = rule.decide(successes, evaluated) if evaluated <= settings.max_trials else None
        level = f"{settings.confidence * 100:g}%"
        if decision == "pass":
            return "pass", f"confident at {level}: rate >= {min_rate:g} after {evaluated} trials ({rate:.3f})"
        if decision == "fail":
            return "fail", f"confident at {level}: rate < {min_rate:g} after {evaluated} trials ({rate:.3f})"
        if not complete:
            return "incomplete", f"stopped after {evaluated} evaluated trial(s), undecided ({rate:.3f})"
        return "undecided", f"max_trials={settings.max_trials} ran and the rate ({rate:.3f}) is not decided at {level}"
    if not complete:
        return "incomplete", f"not every planned trial ran ({evaluated} evaluated, rate {rate:.3f})"
    if rate < min_rate:
        return "fail", f"recovery rate {rate:.3f} < min_recovery_rate {min_rate:g}"
    if settings.gate == "confident":
        lower = exact_lower_bound(successes, evaluated, settings.confidence)
        if lower < min_rate:
            return "undecided", (
                f"recovery rate {rate:.3f} >= {min_rate:g} but its {settings.confidence * 100:g}% lower bound "
                f"{lower:.3f} is below it; fix: more trials (resilience plan says how many) or trials='auto'"
            )
        return "pass", f"{settings.confidence * 100:g}% lower bound {lower:.3f} >= min_recovery_rate {min_rate:g}"
    return "pass", f"recovery rate {rate:.3f} >= min_recovery_rate {min_rate:g}"


def _summarize(scenario: str, records: list[dict[str, Any]], hint: Mapping[str, Any] | None = None) -> ScenarioSummary:
    outcomes = {str(outcome): 0 for outcome in Outcome}
    failure_types: Counter[str] = Counter()
    strategies: Counter[str] = Counter()
    fault_names: set[str] = set()
    recover_times: list[float] = []
    threshold: Mapping[str, Any] = hint or {}
    usage_error = ""
    for record in records:
        threshold = record.get("threshold") or threshold
        usage_error = usage_error or str(record.get("usage_error") or "")
    settings = _settings_of(threshold)
    expected = threshold.get("expected")
    sequence: list[bool] = []
    used = len(records)
    decision: str | None = None
    rule = (
        sequential_rule(settings.min_recovery_rate, settings.confidence, settings.max_trials) if settings.auto else None
    )
    counted: list[dict[str, Any]] = []
    for position, record in enumerate(records):
        counted.append(record)
        if record["outcome"] in _EVALUATED:
            sequence.append(record["outcome"] in _SUCCESS)
            if rule is not None:
                decision = rule.decide(sum(sequence), len(sequence))
                if decision is not None:
                    used = position + 1
                    break  # trials after the decision (a rerun, a fixed replay) are not evidence of this run
    for record in counted:
        outcomes[record["outcome"]] += 1
        failure_types.update(record.get("failure_types") or {})
        strategies.update(record.get("strategies") or {})
        fault_names.update(fault["name"] for fault in record.get("faults") or ())
        if record.get("time_to_recover_s") is not None:
            recover_times.append(float(record["time_to_recover_s"]))
    min_rate = settings.min_recovery_rate
    baseline = min_rate == 0.0  # measured for comparison, not gated
    evaluated = len(sequence)
    successes = sum(sequence)
    rate = successes / evaluated if evaluated else None
    complete = decision is not None or expected is None or len(records) >= int(expected)
    indeterminate = outcomes[Outcome.INDETERMINATE]
    share = indeterminate / len(counted) if counted else 0.0
    lower: float | None = None
    if evaluated:
        level = settings.confidence if rule is None else 1.0 - rule.pass_level
        lower = exact_lower_bound(successes, evaluated, level)
    if usage_error:
        verdict, reason = "fail", usage_error
    elif leaked := [r for r in counted if r.get("leaked")]:
        verdict, reason = "fail", f"{len(leaked)} trial(s) left a fault not reverted: {leaked[0]['leaked'][0]}"
    elif outcomes[Outcome.FAILED_DIRTY] and not baseline:
        verdict, reason = "fail", f"{outcomes[Outcome.FAILED_DIRTY]} trial(s) failed_dirty (left residue)"
    elif share > settings.max_indeterminate:
        verdict, reason = (
            "fail",
            (
                f"{indeterminate} of {len(counted)} trials indeterminate ({share:.0%} > max_indeterminate "
                f"{settings.max_indeterminate:g}); the first: {_first_error(counted, Outcome.INDETERMINATE)}"
            ),
        )
    elif not records:
        verdict, reason = "incomplete", "no trial ran (the run stopped first: -x, --maxfail, an interrupt)"
    elif rate is None and baseline and indeterminate == 0:
        # a baseline measures; that the fault never provably reached the target is the measurement (n/t)
        verdict = "baseline" if complete else "incomplete"
        reason = "baseline: no trial triggered its fault (nothing to compare)"
    elif rate is None:
        verdict = "fail" if complete else "incomplete"
        reason = "no trial triggered its fault" if indeterminate == 0 else "every triggered trial was indeterminate"
    elif baseline:
        verdict = "baseline" if complete else "incomplete"
        dirty = outcomes[Outcome.FAILED_DIRTY]
        reason = (
            f"baseline: recovery rate {rate:.3f}"
            + (f", {dirty} trial(s) left a half-written install (failed_dirty)" if dirty else "")
            + ("" if complete else " (not every planned trial ran)")
        )
    else:
        verdict, reason = _gate(settings, successes, evaluated, complete)
    ttr: dict[str, float | None] = {"p50": None, "p95": None, "max": None}
    if recover_times:
        ttr = {
            "p50": _percentile(recover_times, 0.5),
            "p95": _percentile(recover_times, 0.95),
            "max": max(recover_times),
        }
    failing = [
        r for r in counted if r["outcome"] in (Outcome.FAILED_CLEAN, Outcome.FAILED_DIRTY, Outcome.INDETERMINATE)
    ]
    sequential = None
    if rule is not None:
        stop = decision or ("undecided" if verdict == "undecided" else verdict)
        sequential = {
            "rule": RULE,
            "max_trials": settings.max_trials,
            "pass_level": rule.pass_level,
            "fail_level": rule.fail_level,
            "stop": stop,
            "trials_used": used,
            "evaluated": evaluated,
        }
    recorded = {**settings.to_threshold(), **({"expected": int(expected)} if expected is not None else {})}
    return ScenarioSummary(
        id=scenario,
        trials=len(counted),
        outcomes=outcomes,
        recovery_rate=rate,
        interval=wilson_interval(successes, evaluated, settings.confidence),
        min_recovery_rate=min_rate,
        confidence=settings.confidence,
        passed=verdict in ("pass", "baseline"),
        reason=reason,
        faults=sorted(fault_names),
        time_to_recover=ttr,
        failure_types=dict(sorted(failure_types.items())),
        strategies=dict(sorted(strategies.items())),
        failing=sorted(failing, key=lambda r: int(r["index"])),
        verdict=verdict,
        gate=settings.gate,
        lower_bound=lower,
        settings=recorded,
        sequential=sequential,
        indeterminate_share=share,
    )


def _first_error(records: list[dict[str, Any]], outcome: str) -> str:
    return next((str(r.get("error") or "") for r in records if r["outcome"] == outcome), "")


def aggregate(
    records: Iterable[Mapping[str, Any]], *, planned: Mapping[str, Mapping[str, Any]] | None = None
) -> list[ScenarioSummary]:
    """Group trial records by scenario and summarize each; the order of ``records`` does not matter.

    A record seen twice (same scenario and index, e.g. a rerun) counts once: the last one wins. Records are read
    in index order, which is also the order the sequential rule saw them in. ``planned`` maps scenarios that
    were collected but ran no trial (``-x`` stopped the run first) to their threshold: they are ``incomplete``.
    """
    by_scenario: dict[str, dict[int, dict[str, Any]]] = {}
    for record in records:
        by_scenario.setdefault(str(record["scenario"]), {})[int(record["index"])] = dict(record)
    for scenario in planned or {}:
        by_scenario.setdefault(scenario, {})
    return [
        _summarize(scenario, [trials[index] for index in sorted(trials)], (planned or {}).get(scenario))
        for scenario, trials in sorted(by_scenario.items())
    ]
