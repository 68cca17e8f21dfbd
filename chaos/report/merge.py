"""Merge the journals of several shards (``--chaos-shard I/N`` jobs) into one, re-aggregated from the trials;
or combine journals of different runs into one document to render side by side.

Shards split a fixed-count scenario by trial index, so the merged verdict is the one an unsharded run gives
(each shard's ``expected`` trial count adds up). A ``trials="auto"`` scenario runs whole on one shard (its
trials decide as they go), so merging keeps that shard's sequential verdict as it was.

::

    resilience report merge shard1/journal.json shard2/journal.json --out reports/
    resilience report render nightly/journal.json pr/journal.json --out combined/
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.errors import ChaosError
from chaos.report.journal import build_journal
from chaos.trials import aggregate

__all__ = ["combine_journals", "merge_journals"]


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
            settings = dict(scenario.get("settings") or {})
            merged = thresholds.setdefault(scenario["id"], {**settings, "expected": 0})
            merged.update(min_recovery_rate=scenario["threshold"], confidence=scenario.get("confidence", 0.95))
            if "expected" in settings and "expected" in merged:
                merged["expected"] += int(settings["expected"])  # each shard ran its share of the trials
            else:
                merged.pop("expected", None)  # a journal written before "expected": completeness unknown
    records = [
        {**trial, "threshold": thresholds.get(trial["scenario"], {})}
        for journal in journals
        for trial in journal["trials"]
    ]
    started = min(_epoch(journal["run"]["started"]) for journal in journals)
    ended = max(_epoch(journal["run"]["ended"]) for journal in journals)
    return build_journal(seeds.pop(), aggregate(records), records, started=started, ended=ended)


def _qualified(run_id: str, scenario_id: str) -> str:
    return f"{run_id}: {scenario_id}"


def combine_journals(journals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One journal to render from any ``journals``: shards of one run (same seed) are merged as by
    :func:`merge_journals`; journals of different runs keep their figures, each scenario and trial renamed
    ``"<run id>: <scenario id>"`` and tagged with ``"run"``, and the result lists every run under ``"runs"``.
    """
    if not journals:
        raise ChaosError("render needs at least one journal; fix: pass one or more journal.json files")
    if len(journals) == 1:
        return dict(journals[0])
    if len({journal["run"]["seed"] for journal in journals}) == 1:
        return merge_journals(journals)
    scenarios: list[dict[str, Any]] = []
    trials: list[dict[str, Any]] = []
    for journal in journals:
        run_id = str(journal["run"]["id"])
        scenarios += [
            {**scenario, "id": _qualified(run_id, scenario["id"]), "run": run_id} for scenario in journal["scenarios"]
        ]
        trials += [
            {**trial, "scenario": _qualified(run_id, trial["scenario"]), "run": run_id} for trial in journal["trials"]
        ]
    first = min(journals, key=lambda journal: _epoch(journal["run"]["started"]))
    last = max(journals, key=lambda journal: _epoch(journal["run"]["ended"]))
    run = {
        **first["run"],
        "id": f"combined-{len(journals)}-runs",
        "started": first["run"]["started"],
        "ended": last["run"]["ended"],
    }
    return {
        "schema": first["schema"],
        "run": run,
        "runs": [dict(journal["run"]) for journal in journals],
        "scenarios": scenarios,
        "trials": trials,
    }
