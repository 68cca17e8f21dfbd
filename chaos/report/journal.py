"""The journal: the one JSON document every report is rendered from (schema ``resilience-chaos/journal@1``).

Shape (DESIGN §4.6)::

    {"schema": "resilience-chaos/journal@1",
     "run": {"id", "seed", "started", "ended", "host", "versions"},
     "scenarios": [{"id", "faults", "trials", "outcomes", "recovery_rate", "interval": [lo, hi], "threshold",
                    "passed", "baseline", "time_to_recover": {"p50", "p95", "max"}, "failure_types", "strategies",
                    ...}],
     "trials": [{"scenario", "index", "seed", "faults": [{"name", "params", "triggered", ...}], "outcome",
                 "time_to_recover_s", "failure_types", "strategies", "error", "replay",
                 "notes": [{"event", "fault", "data"}]}]}

``notes`` holds what the trial recorded with ``chaos.note(event, **data)`` (``fault`` null) and what its faults
recorded through ``FaultContext.note`` (``fault`` the fault's name), in order, JSON-safe (paths and other
objects as text), at most ``chaos.trials.MAX_NOTES`` per trial. Fields added within ``journal@1`` are optional
to readers: a journal written before them still loads and merges.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import pathlib
import platform
from collections.abc import Iterable, Mapping
from typing import Any

from chaos.errors import ChaosError
from chaos.trials import ScenarioSummary
from resilience_core import atomic_write

__all__ = ["SCHEMA", "build_journal", "load_journal", "write_json_atomic"]

SCHEMA = "resilience-chaos/journal@1"
_VERSIONED = ("resilience-chaos", "pytest", "pluggy", "hypothesis", "huggingface_hub")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


def build_journal(
    seed: int,
    summaries: Iterable[ScenarioSummary],
    records: Iterable[Mapping[str, Any]],
    *,
    started: float,
    ended: float,
) -> dict[str, Any]:
    """Assemble the journal from scenario summaries and per-trial records (timestamps are epoch seconds)."""
    trials = []
    for record in sorted(records, key=lambda r: (str(r["scenario"]), int(r["index"]))):
        entry = {key: value for key, value in record.items() if key != "threshold"}
        trials.append(entry)
    unique = {(entry["scenario"], entry["index"]): entry for entry in trials}
    started_iso = _iso(started)
    return {
        "schema": SCHEMA,
        "run": {
            "id": f"{started_iso.replace(':', '').replace('-', '')[:15]}-{seed}",
            "seed": seed,
            "started": started_iso,
            "ended": _iso(ended),
            "host": platform.node(),
            "versions": _versions(),
        },
        "scenarios": [summary.to_journal() for summary in summaries],
        "trials": list(unique.values()),
    }


def write_json_atomic(path: pathlib.Path, document: object) -> pathlib.Path:
    """Write ``document`` as indented JSON, atomically and durably: readers never see half a file."""
    return atomic_write(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


_MAX_JOURNAL_BYTES = 1 << 30


def load_journal(path: pathlib.Path) -> dict[str, Any]:
    """Read a journal back; a file of another schema raises ChaosError naming the file and the schema found."""
    from resilience_core import InputError, read_document

    try:  # bounded: a 100,000-deep or binary file is one line, not a RecursionError
        document = read_document(path, kind="json", max_bytes=_MAX_JOURNAL_BYTES)
    except InputError as error:
        raise ChaosError(f"journal {path}: cannot read it ({error}); fix: point at a journal.json") from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema != SCHEMA:
        raise ChaosError(f"journal {path}: schema={schema!r} must be {SCHEMA!r}; fix: point at a journal.json")
    return dict(document)
