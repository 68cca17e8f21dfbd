"""resilience report render / show / diff / merge, in process."""

from __future__ import annotations

import json
import pathlib

import pytest
from report_journals import journal_of, mixed_journal, scenario_records

from chaos.cli import main
from chaos.report.journal import write_json_atomic


def _journal_file(path: pathlib.Path, journal: dict[str, object]) -> str:
    return str(write_json_atomic(path, journal))


def test_render_writes_every_report_from_several_journals(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """render merges shard journals and writes journal, junit, summary and page; exit 0 whatever the verdict."""
    one = _journal_file(tmp_path / "a" / "journal.json", journal_of(scenario_records("s.py::test_a", ["recovered"])))
    two = _journal_file(
        tmp_path / "b" / "journal.json", journal_of(scenario_records("s.py::test_a", ["recovered", "failed_clean"]))
    )
    assert main(["report", "render", one, two, "--out", str(tmp_path / "site")]) == 0
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [
        "journal.json", "junit.xml", "report.html", "summary.md",
    ]  # fmt: skip
    assert "wrote " in capsys.readouterr().out
    merged = json.loads((tmp_path / "site" / "journal.json").read_text())
    assert merged["scenarios"][0]["trials"] == 2


def test_show_prints_the_summary(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """show prints the verdict and the failed scenarios' replays."""
    path = _journal_file(tmp_path / "journal.json", mixed_journal())
    assert main(["report", "show", path, "--all"]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 failed" in out
    assert "test_low_rate[trial2]" in out


def test_diff_exits_1_on_a_regression_in_every_format(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """diff exits 0 for equal journals and 1 for a significant drop, in markdown, json and html; --out writes."""
    base = _journal_file(tmp_path / "base.json", journal_of(scenario_records("s.py::test_a", ["recovered"] * 10)))
    worse = _journal_file(tmp_path / "new.json", journal_of(scenario_records("s.py::test_a", ["failed_clean"] * 10)))
    assert main(["report", "diff", base, base]) == 0
    assert "NO REGRESSION" in capsys.readouterr().out
    assert main(["report", "diff", base, worse]) == 1
    assert "**rate drop** `s.py::test_a`" in capsys.readouterr().out
    assert main(["report", "diff", base, worse, "--format", "json", "--test", "z"]) == 1
    assert json.loads(capsys.readouterr().out)["test"] == "z"
    out = tmp_path / "diff.html"
    assert main(["report", "diff", base, worse, "--format", "html", "--out", str(out)]) == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "REGRESSION" in page
    assert "rate drop" in page


def test_bad_input_is_one_line_and_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A journal breaking the schema, or a bad --confidence, is one line naming the problem, exit 2."""
    broken = mixed_journal()
    broken["trials"][0]["outcome"] = "exploded"
    path = _journal_file(tmp_path / "broken.json", broken)
    assert main(["report", "show", path]) == 2
    err = capsys.readouterr().err
    assert "trials[0].outcome: 'exploded' is not one of" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "diff", path, path, "--confidence", "95"])
    assert exit_info.value.code == 2
    assert "'95' must be a number in (0, 1)" in capsys.readouterr().err


def test_merge_exits_1_when_a_scenario_failed(tmp_path: pathlib.Path) -> None:
    """merge keeps its contract: the merged verdict decides the exit status."""
    path = _journal_file(tmp_path / "s1" / "journal.json", mixed_journal())
    assert main(["report", "merge", path, "--out", str(tmp_path / "merged")]) == 1
