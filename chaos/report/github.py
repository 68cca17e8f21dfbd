"""GitHub Actions output of a chaos run: the step summary and ``::error`` annotations.

When ``$GITHUB_STEP_SUMMARY`` is set, ``summary.md`` is appended to it, so the run's verdict, failed scenarios
and their replay commands show on the job's summary page. When ``$GITHUB_ACTIONS`` is ``true``, every failed
scenario prints one ``::error`` workflow command, which GitHub shows as an annotation on the scenario's file.
``RESILIENCE_CHAOS_GITHUB=off`` turns both off (a shard job, whose verdict is partial, sets it).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any, TextIO

from chaos.report.view import build_view

__all__ = ["STEP_SUMMARY_LIMIT_BYTES", "error_annotations", "publish"]

# GitHub refuses a step summary over 1 MiB; a cut one still says where the whole is.
STEP_SUMMARY_LIMIT_BYTES = 1024 * 1024 - 4096
_SHOWN_REPLAYS = 3


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotations(journal: Mapping[str, Any]) -> list[str]:
    """One ``::error file=...,title=...::message`` line per failed scenario, naming why and how to replay it."""
    lines = []
    for scenario in build_view(journal).failed:
        bad = scenario.bad_trials
        message = f"{scenario.id}: {scenario.reason or 'failed'}"
        if bad:
            message += f"\n{len(bad)} failing trial(s); replay:"
            message += "".join(f"\n  {trial.replay}" for trial in bad[:_SHOWN_REPLAYS])
            if len(bad) > _SHOWN_REPLAYS:
                message += f"\n  ... {len(bad) - _SHOWN_REPLAYS} more in summary.md"
        where = f"file={_property(scenario.module)}," if scenario.module else ""
        lines.append(f"::error {where}title={_property(f'chaos: {scenario.name} failed')}::{_data(message)}")
    return lines


def _cut(markdown: str) -> str:
    encoded = markdown.encode("utf-8")
    if len(encoded) <= STEP_SUMMARY_LIMIT_BYTES:
        return markdown
    kept = encoded[:STEP_SUMMARY_LIMIT_BYTES].decode("utf-8", errors="ignore")
    return kept.rsplit("\n", 1)[0] + "\n\n... cut to fit GitHub's 1 MiB step summary; the whole is summary.md.\n"


def publish(
    journal: Mapping[str, Any], markdown: str, *, environ: Mapping[str, str], stream: TextIO
) -> pathlib.Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` (when set) and print the annotations to ``stream``
    (when ``$GITHUB_ACTIONS`` is ``true``), unless ``RESILIENCE_CHAOS_GITHUB`` is ``off``; returns the step
    summary's path, or None."""
    if environ.get("RESILIENCE_CHAOS_GITHUB", "").lower() == "off":
        return None
    if environ.get("GITHUB_ACTIONS") == "true":
        for line in error_annotations(journal):
            print(line, file=stream, flush=True)
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = pathlib.Path(target)
    # appended, not replaced: earlier steps of the job wrote their own parts of the summary
    with path.open("a", encoding="utf-8") as summary:
        summary.write(_cut(markdown) + "\n")
    return path
