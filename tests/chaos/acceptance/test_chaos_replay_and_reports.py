"""A failing trial's report ends with a replay command that works from where pytest ran; report-dir mistakes
are one line, never a traceback."""

from __future__ import annotations

import re
import shlex

import pytest

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance

NOISY = """
import logging
import pytest

@pytest.mark.chaos(trials=3, min_recovery_rate=0.5)
def test_noisy(chaos):
    print(f"stdout of trial {chaos.index}")
    logging.getLogger("target").warning("log of trial %s", chaos.index)
    assert chaos.index != 1, f"trial {chaos.index} gave up"
"""


def _failure_block(text: str, test_id: str) -> list[str]:
    """The lines of one failure's report, from its ``___ id ___`` header to the next header or summary."""
    match = re.search(rf"_+ {re.escape(test_id)} _+\n(.*?)(?=\n_{{3,}} |\n={{3,}} )", text, re.S)
    assert match is not None, text
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_failure_report_ends_with_a_replay_that_works_from_a_subdirectory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from a subdirectory of the rootdir, a failing trial's report (after its captured stdout and log)
    ends with `replay: pytest <path from cwd>::test[trialN] ...`, and that command reruns exactly that trial."""
    pytester.makeini("[pytest]\n")
    sub = pytester.mkpydir("sub")
    (sub / "test_scen.py").write_text(NOISY)
    monkeypatch.chdir(sub)
    result = pytester.runpytest("test_scen.py", "--chaos-seed=3", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()  # the threshold is met: the failing trial is counted as tolerated
    assert (outcomes["passed"], outcomes["tolerated"]) == (2, 1)
    block = _failure_block(result.stdout.str(), "test_noisy[trial1]")
    assert any("stdout of trial 1" in line for line in block)
    assert any("log of trial 1" in line for line in block)
    assert block[-3:] == [
        next(line for line in block if " chaos replay " in line),
        "outcome: failed_clean",
        "replay: pytest 'test_scen.py::test_noisy[trial1]' --chaos-seed=3 --chaos-trials=3",
    ]
    argv = shlex.split(block[-1].removeprefix("replay: "))
    replay = pytester.runpytest(*argv[1:], "-p", "no:cacheprovider")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(["*AssertionError: trial 1 gave up*"])


def test_report_dir_that_is_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """--chaos-report naming a file stops the run before any trial, with exit 4 and one line."""
    pytester.makepyfile(test_scen=NOISY)
    (pytester.path / "taken").write_text("not a directory")
    result = pytester.runpytest("--chaos-report=taken", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: --chaos-report='taken' is a file, not a directory; fix: pass e.g. --chaos-report=reports"
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_reports_that_cannot_be_written_end_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    """If the report directory turns into a file during the run, the session ends with one line and exit 3."""
    pytester.makepyfile(
        test_scen="""
        import pathlib
        import pytest

        @pytest.mark.chaos(trials=1, min_recovery_rate=1.0)
        def test_takes_the_report_path(chaos):
            pathlib.Path("out").write_text("someone else's file")
        """
    )
    result = pytester.runpytest("--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["chaos: cannot write the reports to *out: *; fix: pass a writable --chaos-report DIR"])
    assert "INTERNALERROR" not in result.stdout.str()
