"""The HTML report (``report.html``) and the HTML diff page, rendered with Jinja2 from templates shipped in
``chaos/report/templates/``.

One self-contained file: styles, the small script and the SVG charts are inline, nothing is fetched, so it opens
offline from a CI artifact. Without JavaScript it reads the same (tables, charts, ``<details>`` drill-downs);
the script only adds sorting, filtering, copy buttons and opening a linked trial.
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaos.report.charts import (
    OutcomeRow,
    RatePoint,
    TimesRow,
    matrix_chart,
    mini_outcome_bar,
    outcome_chart,
    rate_chart,
    ttr_chart,
)
from chaos.report.view import OUTCOME_HELP, OUTCOME_SHORT, OUTCOMES, VERDICT_ORDER, ReportView, build_view, format_value

if TYPE_CHECKING:
    import jinja2

    from chaos.report.diff import JournalDiff

__all__ = ["NOTE_LIMIT", "render_diff_html", "render_html"]

# Notes are for reading one trial; a trial with hundreds keeps the rest in journal.json, not in the page.
NOTE_LIMIT = 40


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "\u2013"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 600:
        return f"{value:.3g} s"
    return f"{value / 60:.1f} min"


def _level(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counts.items()) or "-"


def _counts(scenario: Any) -> str:
    shown = [name for name in OUTCOMES if scenario.outcomes[name]]
    return " · ".join(f"{scenario.outcomes[name]} {OUTCOME_SHORT[name]}" for name in shown)


def _breakable(text: str) -> Any:
    """``text`` escaped, with line-break opportunities after ``_``, ``/``, ``.`` and before ``[``: long test
    ids wrap at their joints, not mid-word."""
    import markupsafe

    escaped = str(markupsafe.escape(text))
    for joint, wrapped in (("_", "_<wbr>"), ("/", "/<wbr>"), (".", ".<wbr>"), ("[", "<wbr>[")):
        escaped = escaped.replace(joint, wrapped)
    return _markup(escaped)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("chaos.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        pct=_pct, seconds=_seconds, level=_level, pairs=_pairs, counts=_counts, value=format_value, wbr=_breakable
    )
    return environment


@functools.cache
def _asset(name: str) -> str:
    loader = _environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(_environment(), name)
    return source  # our own stylesheet or script, inlined as it is (never parsed as a template)


def _generator() -> str:
    try:
        return importlib.metadata.version("resilience-chaos")
    except importlib.metadata.PackageNotFoundError:
        return "(source)"


def _labels(view: ReportView) -> dict[str, str]:
    """Chart labels: the test name, with its file's stem where two files share a test name."""
    names = [scenario.name for scenario in view.scenarios]
    return {
        scenario.id: scenario.name
        if names.count(scenario.name) == 1
        else f"{scenario.module.rpartition('/')[2].removesuffix('.py')}::{scenario.name}"
        for scenario in view.scenarios
    }


def _charts(view: ReportView) -> dict[str, str]:
    label = _labels(view)
    points = [
        RatePoint(
            label=label[scenario.id],
            rate=scenario.recovery_rate,
            lo=scenario.interval[0],
            hi=scenario.interval[1],
            threshold=scenario.threshold,
            confidence=scenario.confidence,
            verdict=scenario.verdict,
            baseline=scenario.baseline,
        )
        for scenario in view.scenarios
    ]
    outcomes = [OutcomeRow(label[scenario.id], scenario.outcomes) for scenario in view.scenarios]
    times = [
        TimesRow(label[s.id], [t.time_to_recover_s for t in s.trial_views if t.time_to_recover_s is not None])
        for s in view.scenarios
    ]
    cells: dict[tuple[str, str], int] = {}
    failure_types: set[str] = set()
    strategies: set[str] = set()
    for trial in itertools.chain.from_iterable(scenario.trial_views for scenario in view.scenarios):
        failure_types.update(trial.failure_types)
        strategies.update(trial.strategies)
        for pair in itertools.product(trial.failure_types, trial.strategies):
            cells[pair] = cells.get(pair, 0) + 1
    return {
        "rate": rate_chart(points),
        "outcomes": outcome_chart(outcomes),
        "ttr": ttr_chart(times),
        "matrix": matrix_chart(sorted(failure_types), sorted(strategies), cells),
    }


def _markup(text: str) -> Any:
    import markupsafe

    # S704: only for markup we built (the SVG writer escapes every text it takes) or our own css/js files
    return markupsafe.Markup(text)  # noqa: S704


def render_html(journal: Mapping[str, Any]) -> str:
    """The report page of ``journal``: verdict banner, failed scenarios with their replays, the scenario table,
    four charts, a per-trial drill-down and a legend."""
    view = build_view(journal)
    charts = {name: _markup(svg) for name, svg in _charts(view).items()}
    mini = {scenario.number: _markup(mini_outcome_bar(scenario.outcomes)) for scenario in view.scenarios}
    levels = {scenario.confidence for scenario in view.scenarios}
    verdicts = [v for v in VERDICT_ORDER if view.count(v)] + sorted(
        {s.verdict for s in view.scenarios} - set(VERDICT_ORDER)
    )
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            view=view,
            charts=charts,
            mini=mini,
            verdicts=verdicts,
            outcomes=OUTCOMES,
            short=OUTCOME_SHORT,
            help=OUTCOME_HELP,
            note_limit=NOTE_LIMIT,
            confidence=levels.pop() if len(levels) == 1 else None,
            generator=_generator(),
            css=_markup(_asset("report.css")),
            js=_markup(_asset("report.js")),
        )
    )


def render_diff_html(diff: JournalDiff) -> str:
    """The diff of two journals as a page: regressions first, then every scenario's change."""
    return (
        _environment()
        .get_template("diff.html.j2")
        .render(diff=diff, generator=_generator(), css=_markup(_asset("report.css")))
    )
