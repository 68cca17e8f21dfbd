"""A self-contained HTML page of a journal (no scripts, no external assets), for CI artifacts."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["render_html"]

_BAD = ("failed_clean", "failed_dirty", "indeterminate")
_OUTCOMES = ("recovered", "recovered_degraded", "failed_clean", "failed_dirty", "indeterminate", "not_triggered")
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td.id,th.id{text-align:left}"
    ".pass{background:#e6f4ea}.fail{background:#fce8e6}.pass.baseline{background:#eef1f8}code{font-size:90%}"
)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def render_html(journal: Mapping[str, Any], *, limit: int = 50) -> str:
    """The report page: run facts, one row per scenario, and the failing trials with their replay commands."""
    esc = html.escape
    run = journal["run"]
    rows = []
    for scenario in journal.get("scenarios", ()):
        lo, hi = scenario["interval"]
        counts = "".join(f"<td>{scenario['outcomes'].get(key, 0)}</td>" for key in _OUTCOMES)
        verdict_class = "pass" if scenario["passed"] else "fail"
        verdict = "PASS" if scenario["passed"] else "FAIL"
        if scenario.get("baseline", scenario["threshold"] == 0):
            verdict_class, verdict = f"{verdict_class} baseline", f"{verdict} (baseline)"
        rows.append(
            f'<tr class="{verdict_class}"><td class="id"><code>{esc(scenario["id"])}</code></td>'
            f"<td>{scenario['trials']}</td>{counts}<td>{_rate(scenario['recovery_rate'])}</td>"
            f"<td>{lo * 100:.1f}-{hi * 100:.1f}%</td><td>{scenario['threshold']:g}</td>"
            f"<td>{verdict}: {esc(str(scenario.get('reason', '')))}</td></tr>"
        )
    failing = [trial for trial in journal.get("trials", ()) if trial["outcome"] in _BAD][:limit]
    items = "".join(
        f"<li><code>{esc(trial['scenario'])}</code> trial {trial['index']}: <b>{esc(trial['outcome'])}</b> "
        f"{esc(trial.get('error') or '')}<br><code>{esc(trial['replay'])}</code></li>"
        for trial in failing
    )
    header = "".join(f"<th>{esc(key)}</th>" for key in _OUTCOMES)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Chaos run {esc(run["id"])}</title>'
        f"<style>{_STYLE}</style></head><body>\n<h1>Chaos run <code>{esc(run['id'])}</code></h1>\n"
        f"<p>Seed <code>{run['seed']}</code> &middot; {esc(run['started'])} to {esc(run['ended'])} &middot; "
        f'host {esc(run["host"])}</p>\n<table><tr><th class="id">scenario</th><th>trials</th>{header}'
        f"<th>rate</th><th>interval</th><th>min</th><th>verdict</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n"
        + (f"<h2>Failing trials</h2><ul>{items}</ul>\n" if items else "")
        + "</body></html>\n"
    )
