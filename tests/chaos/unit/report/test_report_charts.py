"""The SVG charts: well-formed, and every mark where the figures put it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from chaos.report import charts
from chaos.report.charts import OutcomeRow, RatePoint, TimesRow
from chaos.report.svg import Svg, number

NS = {"svg": "http://www.w3.org/2000/svg"}
LEFT, RIGHT = charts._LEFT, charts._RIGHT


def _parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("svg:title", NS) is not None
    return root


def _texts(root: ET.Element) -> list[str]:
    """Every label's own text (a label's <title> tooltip comes first, its text after it)."""
    labels = []
    for element in root.iter("{http://www.w3.org/2000/svg}text"):
        title = element.find("svg:title", NS)
        labels.append((element.text or "") + (title.tail or "" if title is not None else ""))
    return labels


def _x(fraction: float) -> float:
    return LEFT + (RIGHT - LEFT) * fraction


def test_svg_writer_escapes_text_and_rounds_numbers() -> None:
    """Text and attribute values are escaped; numbers carry at most two decimals."""
    chart = Svg(10, 10, title='<a "b">')
    chart.text(1.005, 2.0, "<script>&", title="x<y")
    chart.rect(0, 0, 3.14159, 1, class_="seg", fill_opacity="0.5")
    text = chart.render()
    assert "<script>" not in text
    assert "&lt;script&gt;&amp;" in text
    assert 'aria-label="&lt;a &quot;b&quot;&gt;"' in text
    assert 'width="3.14"' in text
    assert 'class="seg"' in text
    assert 'fill-opacity="0.5"' in text
    assert [number(v) for v in (12.5, 3.0, -0.001, 2.349)] == ["12.5", "3", "0", "2.35"]
    _parse(text)


def test_rate_chart_puts_dot_whiskers_and_threshold_at_their_values() -> None:
    """The dot sits at the rate, the whisker ends at the Wilson bounds, the red tick at the threshold; a baseline
    dot is hollow and has no threshold tick."""
    points = [
        RatePoint("test_a", 0.8, 0.6, 0.9, 0.95, 0.95, "fail", False),
        RatePoint("test_base", 0.25, 0.1, 0.5, 0.0, 0.95, "baseline", True),
        RatePoint("test_none", None, 0.0, 1.0, 0.95, 0.95, "fail", False),
    ]
    root = _parse(charts.rate_chart(points))
    rows = root.findall("svg:g", NS)
    assert len(rows) == 3
    dot = rows[0].find("svg:circle", NS)
    assert dot is not None
    assert float(dot.get("cx", "")) == pytest.approx(_x(0.8), abs=0.01)
    assert "80.0% recovered, 95% Wilson interval 60.0%-90.0%, min 95.0%" in (dot.findtext("svg:title", "", NS))
    xs = sorted({round(float(line.get("x1", "")), 1) for line in rows[0].findall("svg:line", NS)})
    assert xs == sorted({round(_x(v), 1) for v in (0.6, 0.9, 0.95)})
    threshold = [line for line in rows[0].findall("svg:line", NS) if line.get("stroke") == charts._THRESHOLD]
    assert len(threshold) == 1
    hollow = rows[1].find("svg:circle", NS)
    assert hollow is not None
    assert hollow.get("fill") == "#ffffff"
    assert not [line for line in rows[1].findall("svg:line", NS) if line.get("stroke") == charts._THRESHOLD]
    assert "no trial triggered its fault" in ET.tostring(rows[2], encoding="unicode")
    shared = [line for line in root.findall("svg:line", NS) if line.get("stroke-dasharray") == "5 3"]
    assert len(shared) == 1  # both gated scenarios share 0.95: one line across all rows


def test_outcome_chart_segments_are_proportional_and_fill_the_bar() -> None:
    """Segment widths are count/total of the bar, stacked left to right without gaps, in outcome order."""
    counts = {"recovered": 6, "failed_clean": 3, "failed_dirty": 1}
    root = _parse(charts.outcome_chart([OutcomeRow("test_a", counts)]))
    segments = [rect for rect in root.findall("svg:rect", NS) if (rect.get("class") or "").startswith("seg-")]
    assert [rect.get("class") for rect in segments] == ["seg-recovered", "seg-failed_clean", "seg-failed_dirty"]
    widths = [float(rect.get("width", "")) for rect in segments]
    span = RIGHT - LEFT
    assert widths == pytest.approx([span * 0.6, span * 0.3, span * 0.1], abs=0.02)
    starts = [float(rect.get("x", "")) for rect in segments]
    assert starts[1] == pytest.approx(starts[0] + widths[0], abs=0.02)
    assert segments[1].findtext("svg:title", "", NS) == "test_a: 3 of 10 failed clean"


def test_ttr_chart_uses_a_log_axis_over_wide_ranges_and_marks_percentiles() -> None:
    """Values spanning more than 100x get powers-of-ten ticks; p50 and p95 ticks sit at those percentiles."""
    times = [0.002, 0.004, 0.01, 0.5, 3.0]
    root = _parse(charts.ttr_chart([TimesRow("test_a", times), TimesRow("test_b", [])]))
    labels = _texts(root)
    assert {"1 ms", "10 ms", "100 ms", "1 s", "10 s"} <= set(labels)
    assert "no time to recover recorded" in labels
    assert len(root.findall("svg:circle", NS)) == len(times)
    assert "p50 10 ms · p95 3 s" in labels
    span = RIGHT - charts._TTR_TEXT_W - LEFT
    thick = [line for line in root.findall("svg:line", NS) if line.get("stroke-width") == "3"]
    # p50 is 10 ms: one of the axis' four decades (1 ms .. 10 s) from its left end
    assert [float(line.get("x1", "")) for line in thick] == pytest.approx([LEFT + span / 4], abs=0.01)
    linear = _parse(charts.ttr_chart([TimesRow("test_a", [1.0, 2.0, 4.0])]))
    assert "0" in _texts(linear)


def test_nice_and_log_ticks() -> None:
    """Ticks are 1/2/5 steps reaching the maximum; log ticks are powers of ten spanning the range."""
    assert charts.nice_ticks(4.2) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert charts.nice_ticks(0.07) == [0.0, 0.02, 0.04, 0.06, 0.08]
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.log_ticks(0.002, 3.0) == [0.001, 0.01, 0.1, 1.0, 10.0]


def test_matrix_chart_counts_and_shades_cells() -> None:
    """Each failure type x strategy cell carries its count; the fullest is darkest; empty input says so."""
    cells = {("network_timeout", "retry"): 4, ("network_timeout", "source"): 1}
    root = _parse(charts.matrix_chart(["model_corruption", "network_timeout"], ["retry", "source"], cells))
    rects = root.findall("svg:rect", NS)
    assert len(rects) == 4
    titles = {rect.findtext("svg:title", "", NS): rect for rect in rects}
    assert titles["network_timeout x retry: 4 trial(s)"].get("fill-opacity") == "1.00"
    assert float(titles["network_timeout x source: 1 trial(s)"].get("fill-opacity", "")) == pytest.approx(0.34)
    assert titles["model_corruption x retry: 0 trial(s)"].get("fill") == "#eceff1"
    empty = charts.matrix_chart([], [], {})
    assert "no failure type or strategy recorded" in empty


def test_shorten_keeps_the_end_of_a_long_label() -> None:
    """A long label is cut in the middle, keeping the test name's end visible."""
    label = "scenarios/test_network_download.py::test_model_download_under_network_fault[reset_peer]"
    short = charts.shorten(label, 40)
    assert len(short) == 40
    assert short.endswith("fault[reset_peer]")
    assert charts.shorten("short") == "short"


def test_mini_outcome_bar_has_the_counts_in_its_title() -> None:
    """The table's small bar is proportional and says its counts; no trials draws an empty bar."""
    root = _parse(charts.mini_outcome_bar({"recovered": 3, "failed_clean": 1}))
    assert root.findtext("svg:title", "", NS) == "3 recovered, 1 failed clean"
    assert [float(r.get("width", "")) for r in root.findall("svg:rect", NS)] == pytest.approx([82.5, 27.5])
    assert "no trials" in charts.mini_outcome_bar({})
