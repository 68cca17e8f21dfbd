"""report.html: one self-contained page from Jinja2 templates, readable without its script."""

from __future__ import annotations

import html.parser
import re

from report_journals import mixed_journal

from chaos.report.html import NOTE_LIMIT, render_html


class _Page(html.parser.HTMLParser):
    """Collects the tags, ids and external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for name in ("src", "href"):
            value = values.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(value)


def _page(journal: dict[str, object] | None = None) -> tuple[str, _Page]:
    text = render_html(journal or mixed_journal())
    parser = _Page()
    parser.feed(text)
    return text, parser


def test_page_is_self_contained() -> None:
    """No external script, style, image or font: styles and script are inline, links are in-page anchors."""
    text, page = _page()
    assert page.external == []
    assert "<script>" in text
    assert "<style>" in text
    assert "@import" not in text
    assert "url(" not in text


def test_banner_failed_first_and_every_failed_trial_replay() -> None:
    """The banner says FAIL and why; the failed-scenarios section lists every bad trial's replay, and the
    baseline's expected failures are not in it."""
    text, page = _page()
    assert {"banner", "attention", "scenarios", "charts", "trials", "legend"} <= page.ids
    assert re.search(r'<header id="banner" class="banner verdict-fail"', text)
    assert "2 of 3 failed, 1 baseline measured, not gated" in text
    attention = text.split('<section id="attention"', 1)[1].split("</section>", 1)[0]
    assert "test_dirty[trial1]" in attention
    assert attention.count("<pre><code>pytest &#39;scenarios/test_net.py::test_low_rate[trial") == 2
    assert "test_baseline_plain" not in attention


def test_table_marks_baselines_and_carries_sort_keys() -> None:
    """Each scenario row has its verdict class and the data-* values the script sorts and filters by."""
    text, _ = _page()
    rows = re.findall(r'<tr id="row-\d+" class="verdict-(\w+)" data-id="([^"]+)"[^>]*data-rate="([^"]*)"', text)
    assert [(verdict, row_id.rpartition("::")[2]) for verdict, row_id, _ in rows] == [
        ("fail", "test_dirty"),
        ("fail", "test_low_rate"),
        ("pass", "test_ok"),
        ("baseline", "test_baseline_plain"),
    ]
    assert '<span class="badge baseline">BASELINE</span>' in text
    assert "Wilson interval (95%)" in text
    assert text.count('<button type="button" data-key=') == 8


def test_four_charts_and_a_drill_down_per_trial() -> None:
    """Four SVG charts; one <details> per trial with faults (params, fired), notes, error and replay."""
    journal = mixed_journal()
    text, page = _page(journal)
    charts = text.split('<section id="charts">', 1)[1].split("</section>", 1)[0]
    assert charts.count("<svg") == 4
    trial_ids = {i for i in page.ids if i.startswith("t-")}
    assert len(trial_ids) == len(journal["trials"])  # type: ignore[arg-type]
    trial = text.split('id="t-', 1)[1].split("</details>", 1)[0]
    assert "<code>network.reset_peer</code>" in trial
    assert "<code>after_bytes=16384</code>" in trial
    assert "✔ yes" in trial
    assert "✘ no" in trial
    assert "<code>{&#34;n&#34;: 0, &#34;path&#34;: &#34;/tmp/x&#34;}</code>" in trial
    assert 'class="copy" data-copy="pytest' in trial
    assert "(expected: baseline)" in text


def test_unknown_keys_render_and_long_notes_are_cut() -> None:
    """A key no renderer knows shows up under its own name; notes past NOTE_LIMIT stay in journal.json."""
    journal = mixed_journal()
    journal["scenarios"][0]["stopping"] = {"rule": "sprt", "stop_reason": "crossed upper bound"}
    journal["trials"][0]["notes"] = [{"event": f"e{i}", "fault": None, "data": {}} for i in range(NOTE_LIMIT + 5)]
    text, _ = _page(journal)
    assert "<dt>stopping</dt><dd>{&#34;rule&#34;: &#34;sprt&#34;" in text
    assert f"<code>e{NOTE_LIMIT - 1}</code>" in text
    assert f"<code>e{NOTE_LIMIT}</code>" not in text
    assert "5 more notes in journal.json." in text


def test_a_passing_run_and_an_empty_one_render() -> None:
    """All passing reads PASS without a failed section; a journal with no scenario still renders."""
    journal = mixed_journal()
    journal["scenarios"] = [s for s in journal["scenarios"] if s["passed"]]
    text, page = _page(journal)
    assert 'class="banner verdict-pass"' in text
    assert "attention" not in page.ids
    journal["scenarios"], journal["trials"] = [], []
    text, _ = _page(journal)
    assert "no scenario ran" in text
