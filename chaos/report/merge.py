"""Merge the journals of several shards (``--chaos-shard I/N`` jobs) into one, re-aggregated from the trials.

::

    resilience report merge shard1/journal.json shard2/journal.json --out reports/
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.errors import ChaosError
from chaos.report.journal import build_journal
from chaos.trials import aggregate

__all__ = ["merge_journals"]


def _epoch(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def merge_journals(journals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One journal holding every trial of ``journals``; they must come from the same run seed."""
    if not journals:
        raise ChaosError("merge needs at least one journal; fix: pass the shards' journal.json files")
    seeds = {journal["run"]["seed"] for journal in journals}
    if len(seeds) != 1:
        message = f"journals have different run seeds {sorted(seeds)}; fix: run every shard with the same --chaos-seed"
        raise ChaosError(message)
    thresholds: dict[str, dict[str, Any]] = {}
    for journal in journals:
        for scenario in journal["scenarios"]:
            thresholds[scenario["id"]] = {
                "min_recovery_rate": scenario["threshold"],
                "confidence": scenario.get("confidence", 0.95),
            }
    records = [
        {**trial, "threshold": thresholds.get(trial["scenario"], {})}
        for journal in journals
        for trial in journal["trials"]
    ]
    started = min(_epoch(journal["run"]["started"]) for journal in journals)
    ended = max(_epoch(journal["run"]["ended"]) for journal in journals)
    return build_journal(seeds.pop(), aggregate(records), records, started=started, ended=ended)
