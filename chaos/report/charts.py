"""The report's four charts, as static SVG (docs/reports.md says why no charting library).

- :func:`rate_chart`: recovery rate per scenario, Wilson interval whiskers, each scenario's threshold;
- :func:`outcome_chart`: one 100 % bar per scenario, stacked by outcome;
- :func:`ttr_chart`: time to recover, one dot per trial, p50 and p95 marked, log scale over wide ranges;
- :func:`matrix_chart`: failure types x recovery strategies, in how many trials both were seen.

Each takes plain rows (no journal knowledge) and returns one ``<svg>`` element as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.report.svg import Svg

__all__ = [
    "OUTCOME_COLOURS",
    "VERDICT_COLOURS",
    "OutcomeRow",
    "RatePoint",
    "TimesRow",
    "log_ticks",
    "matrix_chart",
    "mini_outcome_bar",
    "nice_ticks",
    "outcome_chart",
    "rate_chart",
    "shorten",
    "ttr_chart",
]

OUTCOME_COLOURS = {
    "recovered": "#2e7d32",
    "recovered_degraded": "#9ccc65",
    "failed_clean": "#ef6c00",
    "failed_dirty": "#c62828",
    "indeterminate": "#7e57c2",
    "not_triggered": "#b0bec5",
}
VERDICT_COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "baseline": "#546e7a",
    "undecided": "#f9a825",
    "incomplete": "#8d6e63",
}
_WIDTH = 1200.0
_LABEL_W = 400.0
_LEFT = _LABEL_W + 16
_RIGHT = _WIDTH - 24
_ROW = 22.0
_TOP = 34.0
_AXIS = "#90a4ae"
_THRESHOLD = "#d32f2f"
_TTR_TEXT_W = 190.0  # the p50/p95 figures sit right of the plot, never over its dots


@dataclass(frozen=True, slots=True)
class RatePoint:
    """A scenario's rate, Wilson interval [lo, hi] and threshold (fractions); ``rate`` None when nothing fired."""

    label: str
    rate: float | None
    lo: float
    hi: float
    threshold: float
    confidence: float
    verdict: str
    baseline: bool


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """A scenario's outcome counts (outcome name -> trials), in the order the bar stacks them."""

    label: str
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class TimesRow:
    """A scenario's time-to-recover values in seconds, one per trial that recorded one."""

    label: str
    seconds: Sequence[float]


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, the test name's end kept."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 3] + "…" + text[len(text) - (keep - keep // 3) :]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``maximum`` (steps of 1, 2 or 5 times a power of ten)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(i * step, 10) for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def log_ticks(lowest: float, highest: float) -> list[float]:
    """Powers of ten spanning [lowest, highest] (both > 0)."""
    return [10.0**k for k in range(math.floor(math.log10(lowest)), math.ceil(math.log10(highest)) + 1)]


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def _axis(chart: Svg, ticks: Sequence[tuple[float, str]], height: float) -> None:
    for x, label in ticks:
        chart.line(x, _TOP - 6, x, height - 8, stroke=_AXIS, stroke_width=0.5, stroke_dasharray="2 3")
        chart.text(x, _TOP - 10, label, text_anchor="middle", fill="#455a64")


def _label(chart: Svg, y: float, label: str) -> None:
    chart.text(_LABEL_W, y + 4, shorten(label), text_anchor="end", fill="#263238", title=label)


def rate_chart(points: Sequence[RatePoint]) -> str:
    """Recovery rate per scenario: a dot at the rate, whiskers over the Wilson interval, a red tick at the
    threshold (a dashed line across all rows when every scenario shares one). Baselines are hollow."""
    height = _TOP + _ROW * max(len(points), 1) + 12
    chart = Svg(_WIDTH, height, title="Recovery rate per scenario", desc="Dot: rate; whiskers: Wilson interval.")
    span = _RIGHT - _LEFT

    def x_of(fraction: float) -> float:
        return _LEFT + span * min(max(fraction, 0.0), 1.0)

    _axis(chart, [(x_of(t / 4), f"{t * 25}%") for t in range(5)], height)
    thresholds = {point.threshold for point in points if not point.baseline}
    if len(thresholds) == 1:
        (shared,) = thresholds
        chart.line(x_of(shared), _TOP - 4, x_of(shared), height - 8, stroke=_THRESHOLD, stroke_dasharray="5 3")
    for row, point in enumerate(points):
        y = _TOP + _ROW * row + _ROW / 2
        colour = VERDICT_COLOURS.get(point.verdict, VERDICT_COLOURS["undecided"])
        _label(chart, y, point.label)
        chart.open_group(class_=f"rate-row verdict-{point.verdict}")
        if not point.baseline:
            chart.line(x_of(point.threshold), y - 8, x_of(point.threshold), y + 8, stroke=_THRESHOLD, stroke_width=2)
        if point.rate is None:
            chart.text(_LEFT + 4, y + 4, "no trial triggered its fault", fill="#78909c", font_style="italic")
            chart.close_group()
            continue
        lo, hi = x_of(point.lo), x_of(point.hi)
        chart.line(lo, y, hi, y, stroke=colour, stroke_width=1.5)
        chart.line(lo, y - 4, lo, y + 4, stroke=colour, stroke_width=1.5)
        chart.line(hi, y - 4, hi, y + 4, stroke=colour, stroke_width=1.5)
        title = (
            f"{point.label}: {_pct(point.rate)} recovered, {point.confidence * 100:g}% Wilson interval "
            f"{_pct(point.lo)}-{_pct(point.hi)}, " + ("baseline" if point.baseline else f"min {_pct(point.threshold)}")
        )
        fill = "#ffffff" if point.baseline else colour
        chart.circle(x_of(point.rate), y, 5, fill=fill, stroke=colour, stroke_width=2, title=title)
        chart.close_group()
    return chart.render()


def _legend(chart: Svg, entries: Sequence[tuple[str, str]], y: float) -> None:
    x = _LEFT
    for label, colour in entries:
        chart.rect(x, y - 9, 10, 10, fill=colour)
        chart.text(x + 14, y, label, fill="#263238")
        x += 14 + 7.2 * len(label) + 18


def outcome_chart(rows: Sequence[OutcomeRow]) -> str:
    """One 100 % bar per scenario, stacked by outcome in :data:`OUTCOME_COLOURS` order, counts printed inside
    segments wide enough to hold them."""
    height = _TOP + _ROW * max(len(rows), 1) + 12
    chart = Svg(_WIDTH, height, title="Trial outcomes per scenario", desc="Each bar is 100% of its trials.")
    _legend(chart, [(name.replace("_", " "), colour) for name, colour in OUTCOME_COLOURS.items()], 16)
    span = _RIGHT - _LEFT
    for row, entry in enumerate(rows):
        y = _TOP + _ROW * row + 3
        _label(chart, y + 8, entry.label)
        total = sum(entry.counts.get(name, 0) for name in OUTCOME_COLOURS)
        x = _LEFT
        for name, colour in OUTCOME_COLOURS.items():
            count = entry.counts.get(name, 0)
            if not count or not total:
                continue
            width = span * count / total
            title = f"{entry.label}: {count} of {total} {name.replace('_', ' ')}"
            chart.rect(x, y, width, _ROW - 6, fill=colour, class_=f"seg-{name}", title=title)
            if width >= 9 * len(str(count)) + 6:
                ink = "#263238" if name in ("recovered_degraded", "not_triggered") else "#ffffff"
                chart.text(x + width / 2, y + 12, str(count), text_anchor="middle", fill=ink, font_size="11")
            x += width
    return chart.render()


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ttr_chart(rows: Sequence[TimesRow]) -> str:
    """Time to recover per scenario: one dot per trial (spread vertically so ties stay visible), a thick tick
    at p50 and a thin one at p95. The axis is logarithmic when the values span more than 100x."""
    height = _TOP + _ROW * max(len(rows), 1) + 12
    chart = Svg(_WIDTH, height, title="Time to recover per scenario", desc="Dots: trials; ticks: p50 and p95.")
    values = [v for row in rows for v in row.seconds if v >= 0]
    positive = [v for v in values if v > 0]
    span = _RIGHT - _TTR_TEXT_W - _LEFT
    logarithmic = bool(positive) and max(positive) / min(positive) > 100
    if logarithmic:
        ticks = log_ticks(min(positive), max(positive))
        low, high = math.log10(ticks[0]), math.log10(ticks[-1])

        def x_of(seconds: float) -> float:
            return _LEFT + span * (math.log10(max(seconds, ticks[0])) - low) / (high - low)

    else:
        ticks = nice_ticks(max(values, default=1.0))

        def x_of(seconds: float) -> float:
            return _LEFT + span * seconds / ticks[-1]

    _axis(chart, [(x_of(t), _seconds(t) if t else "0") for t in ticks], height)
    for row, entry in enumerate(rows):
        y = _TOP + _ROW * row + _ROW / 2
        _label(chart, y, entry.label)
        times = [v for v in entry.seconds if v >= 0]
        if not times:
            chart.text(_LEFT + 4, y + 4, "no time to recover recorded", fill="#78909c", font_style="italic")
            continue
        for index, seconds in enumerate(times):
            offset = ((index * 7) % 11 - 5) * 1.2  # a fixed spread, not random: the page is reproducible
            chart.circle(x_of(seconds), y + offset, 2.2, fill="#1565c0", fill_opacity="0.55", title=_seconds(seconds))
        p50, p95 = _percentile(times, 0.5), _percentile(times, 0.95)
        chart.line(x_of(p50), y - 8, x_of(p50), y + 8, stroke="#0d47a1", stroke_width=3)
        chart.line(x_of(p95), y - 8, x_of(p95), y + 8, stroke="#0d47a1", stroke_width=1)
        figures = f"p50 {_seconds(p50)} · p95 {_seconds(p95)}"
        chart.text(_RIGHT, y + 4, figures, text_anchor="end", fill="#455a64", title=f"{len(times)} trials")
    return chart.render()


def matrix_chart(failure_types: Sequence[str], strategies: Sequence[str], cells: Mapping[tuple[str, str], int]) -> str:
    """Failure types (rows) x strategies (columns): each cell is how many trials saw that failure type and ran
    that strategy; darker is more. Empty when no trial recorded either."""
    cell_w, cell_h, top = 96.0, 24.0, 80.0
    width = max(_WIDTH, _LEFT + cell_w * len(strategies) + 24)
    height = top + cell_h * max(len(failure_types), 1) + 12
    chart = Svg(width, height, title="Failure types x recovery strategies", desc="Trials where both were seen.")
    if not failure_types or not strategies:
        chart.text(_LEFT, top, "no failure type or strategy recorded", fill="#78909c", font_style="italic")
        return chart.render()
    peak = max(cells.values(), default=0) or 1
    for column, strategy in enumerate(strategies):
        x = _LEFT + cell_w * column + cell_w / 2
        chart.text(x, top - 8, shorten(strategy, 22), transform=f"rotate(-35 {x:.1f} {top - 8:.1f})", title=strategy)
    for row, failure_type in enumerate(failure_types):
        y = top + cell_h * row
        chart.text(_LABEL_W, y + cell_h / 2 + 4, shorten(failure_type), text_anchor="end", title=failure_type)
        for column, strategy in enumerate(strategies):
            count = cells.get((failure_type, strategy), 0)
            x = _LEFT + cell_w * column
            shade = f"{0.12 + 0.88 * count / peak:.2f}" if count else "1"
            fill = "#1565c0" if count else "#eceff1"
            title = f"{failure_type} x {strategy}: {count} trial(s)"
            chart.rect(x + 1, y + 1, cell_w - 2, cell_h - 2, fill=fill, fill_opacity=shade, title=title)
            if count:
                ink = "#ffffff" if count / peak > 0.5 else "#0d47a1"
                chart.text(x + cell_w / 2, y + cell_h / 2 + 4, str(count), text_anchor="middle", fill=ink)
    return chart.render()


def mini_outcome_bar(counts: Mapping[str, int], *, width: float = 110.0, height: float = 10.0) -> str:
    """A small stacked outcome bar for a table cell (the counts are in its title and beside it as text)."""
    total = sum(counts.get(name, 0) for name in OUTCOME_COLOURS)
    summary = ", ".join(f"{counts[name]} {name.replace('_', ' ')}" for name in OUTCOME_COLOURS if counts.get(name))
    chart = Svg(width, height, title=summary or "no trials", css_class="mini", stretch=True)
    x = 0.0
    for name, colour in OUTCOME_COLOURS.items():
        count = counts.get(name, 0)
        if count and total:
            chart.rect(x, 0, width * count / total, height, fill=colour)
            x += width * count / total
    if not total:
        chart.rect(0, 0, width, height, fill="#eceff1")
    return chart.render()
