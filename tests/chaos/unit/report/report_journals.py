"""Journals for the report tests, built by the real producers (Trial.record, aggregate, build_journal)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaos import Outcome
from chaos.report import build_journal
from chaos.trials import Trial, aggregate

STARTED = 1_700_000_000.0


def scenario_records(
    scenario: str,
    outcomes: Sequence[str],
    *,
    min_rate: float = 0.9,
    seed_base: int = 100,
    failure_type: str = "network_timeout",
    strategy: str = "retry",
) -> list[dict[str, Any]]:
    """One record per outcome, with a fault that fired, notes, a time to recover and a duration."""
    records = []
    for index, outcome in enumerate(outcomes):
        trial = Trial(scenario=scenario, index=index, seed=seed_base + index, outcome=Outcome(outcome))
        if outcome in ("failed_clean", "failed_dirty", "indeterminate"):
            trial.error = f"RecoveryFailed: gave up on trial {index}\nsecond line"
        if outcome == "failed_dirty":
            trial.residue.append(f"/tmp/install/model.bin.incomplete (trial {index})")
        trial.failure_types[failure_type] += 1
        trial.strategies[strategy] += 2
        if outcome.startswith("recovered"):
            trial.time_to_recover_s = 0.01 * (index + 1)
        trial.note("attempt", {"n": index, "path": "/tmp/x"})
        record = trial.record(
            replay=f"pytest '{scenario}[trial{index}]' --chaos-seed=9 --chaos-trials={len(outcomes)}",
            threshold={"min_recovery_rate": min_rate, "confidence": 0.95},
        )
        record["faults"] = [
            {"name": "network.reset_peer", "params": {"after_bytes": 16384, "proxy": "hub"}, "triggered": True,
             "backend": "embedded"},
            {"name": "network.latency", "params": {"latency_ms": 3}, "triggered": False, "backend": "embedded"},
        ]  # fmt: skip
        record["duration_s"] = 0.25
        records.append(record)
    return records


def journal_of(records: Iterable[dict[str, Any]], *, seed: int = 9) -> dict[str, Any]:
    """The journal of ``records`` as a run with ``seed``."""
    records = list(records)
    return build_journal(seed, aggregate(records), records, started=STARTED, ended=STARTED + 60.0)


def mixed_journal() -> dict[str, Any]:
    """A passing, a failed (dirty), a failed (rate) and a baseline scenario."""
    return journal_of(
        [
            *scenario_records("scenarios/test_net.py::test_ok", ["recovered"] * 9 + ["recovered_degraded"]),
            *scenario_records(
                "scenarios/test_net.py::test_low_rate", ["recovered", "failed_clean", "failed_clean", "recovered"]
            ),
            *scenario_records("scenarios/test_disk.py::test_dirty", ["recovered", "failed_dirty", "recovered"]),
            *scenario_records(
                "scenarios/test_net.py::test_baseline_plain", ["failed_clean", "failed_clean", "recovered"],
                min_rate=0.0, failure_type="network_connectivity_loss", strategy="none",
            ),
        ]
    )  # fmt: skip
