"""GitHub Actions output and the report files' permissions."""

from __future__ import annotations

import io
import os
import pathlib
import stat

import pytest
from report_journals import mixed_journal

from chaos.report import write_reports
from chaos.report.github import STEP_SUMMARY_LIMIT_BYTES, _cut, error_annotations, publish


def test_annotations_name_each_failed_scenario_and_escape_the_message() -> None:
    """One ::error per failed scenario, on its file, with the reason and replays; newlines and % are escaped."""
    lines = error_annotations(mixed_journal())
    assert len(lines) == 2
    first = lines[0]
    assert first.startswith("::error file=scenarios/test_disk.py,title=chaos%3A test_dirty failed::")
    assert "1 trial(s) failed_dirty (left residue)%0A1 failing trial(s); replay:%0A  pytest " in first
    assert "\n" not in first


def test_publish_appends_the_summary_and_prints_annotations_only_under_actions(tmp_path: pathlib.Path) -> None:
    """With GITHUB_STEP_SUMMARY set, the summary is appended (earlier content kept); annotations print only when
    GITHUB_ACTIONS is true; RESILIENCE_CHAOS_GITHUB=off turns both off."""
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    stream = io.StringIO()
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    assert publish(mixed_journal(), "## chaos\n", environ=env, stream=stream) == summary
    assert summary.read_text() == "earlier step\n## chaos\n\n"
    assert stream.getvalue().count("::error ") == 2
    quiet = io.StringIO()
    assert publish(mixed_journal(), "x", environ={}, stream=quiet) is None
    assert publish(mixed_journal(), "x", environ={**env, "RESILIENCE_CHAOS_GITHUB": "off"}, stream=quiet) is None
    assert quiet.getvalue() == ""
    assert summary.read_text() == "earlier step\n## chaos\n\n"


def test_an_oversized_summary_is_cut_to_what_github_accepts() -> None:
    """A summary over GitHub's 1 MiB limit is cut at a line and says where the whole is."""
    text = ("- a replay line of some length\n" * 40_000) + "end\n"
    cut = _cut(text)
    assert len(cut.encode()) <= STEP_SUMMARY_LIMIT_BYTES + 200
    assert cut.endswith("the whole is summary.md.\n")
    assert _cut("short\n") == "short\n"


def test_write_reports_publishes_and_files_get_umask_permissions(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under umask 022 every report file is 0644; the summary reaches $GITHUB_STEP_SUMMARY."""
    summary = tmp_path / "summary_of_step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    old = os.umask(0o022)
    try:
        paths = write_reports(mixed_journal(), tmp_path / "out")
    finally:
        os.umask(old)
    assert [path.name for path in paths] == ["journal.json", "junit.xml", "summary.md", "report.html"]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths} == dict.fromkeys(
        ("journal.json", "junit.xml", "summary.md", "report.html"), 0o644
    )
    assert summary.read_text().startswith("## ❌ FAIL · chaos run")
