"""`resilience run` and `resilience faults list`."""

from __future__ import annotations

import fnmatch
import pathlib

import pytest

from chaos.cli import build_parser, main


def test_run_builds_the_pytest_command_line() -> None:
    """resilience run maps its options onto pytest and chaos options."""
    from chaos.cli.run import build_pytest_args

    args = build_parser().parse_args(
        [
            "run",
            "scen/",
            "--trials",
            "3",
            "--seed",
            "9",
            "-n",
            "auto",
            "--report",
            "out",
            "-k",
            "net",
            "--pytest",
            "-x -q",
        ]
    )
    assert build_pytest_args(args) == [
        "scen/",
        "-p",
        "no:cacheprovider",
        "-ra",
        "--chaos-trials=3",
        "--chaos-seed=9",
        "-n",
        "auto",
        "--chaos-report=out",
        "-k",
        "net",
        "-x",
        "-q",
    ]


def test_run_rejects_zero_trials(capsys: pytest.CaptureFixture[str]) -> None:
    """--trials 0 exits 2 with one line naming the option and the fix."""
    assert main(["run", "--trials", "0"]) == 2
    assert capsys.readouterr().err == "resilience run: error: --trials=0 must be >= 1; fix: pass e.g. --trials 5\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--trials", "abc"], "argument --trials/--chaos-trials: 'abc' is not an integer; fix: pass e.g. --trials 5"),
        (["--seed", "-1"], "--seed=-1 must be an integer >= 0; fix: pass e.g. --seed 42"),
        (["--seed", "x1"], "argument --seed/--chaos-seed: 'x1' is not an integer; fix: pass e.g. --seed 42"),
        (["--report", "taken"], "--report='taken' is a file, not a directory; fix: pass e.g. --report reports"),
        (["--report", "taken/sub"], "--report='taken/sub' is under the file '{tmp}/taken', not a directory; fix: *"),
        (["--chaos-shard", "3/2"], "--shard='3/2' must be I/N with 1 <= I <= N; fix: pass e.g. --shard 1/2"),
        (["--shard", "two"], "--shard='two' must be I/N with 1 <= I <= N; fix: pass e.g. --shard 1/2"),
        (["-n", "many"], "-n='many' must be a number of workers or 'auto'; fix: pass e.g. -n auto"),
        (["--pytest=-k 'x"], '--pytest="-k \'x" cannot be split (No closing quotation); fix: *'),
    ],
)
def test_run_rejects_bad_values_with_one_line(
    argv: list[str],
    line: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each bad value exits 2 before pytest starts, with one stderr line naming the flag, the value and the fix."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file")
    try:
        status = main(["run", "scen/", *argv])
    except SystemExit as error:  # argparse rejects a value it cannot convert by exiting
        status = int(str(error.code))
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert fnmatch.fnmatchcase(err.strip(), "resilience run: error: " + line.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "reports").exists()  # nothing ran, nothing written


def test_parse_errors_are_one_line_with_a_pointer_to_help(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option is one line (no usage block) that names it and where help is."""
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "resilience run: error: unrecognized arguments: --bogus; see 'resilience run --help'\n"


def test_run_passes_shard_and_chaos_spellings_to_pytest() -> None:
    """--shard (or --chaos-shard) and the --chaos-* spellings of the other options reach pytest."""
    from chaos.cli.run import build_pytest_args

    args = build_parser().parse_args(["run", "--chaos-trials", "2", "--chaos-seed", "0", "--shard", "2/3"])
    assert build_pytest_args(args)[3:] == [
        "-ra",
        "--chaos-trials=2",
        "--chaos-seed=0",
        "--chaos-report=reports",
        "--chaos-shard=2/3",
    ]
