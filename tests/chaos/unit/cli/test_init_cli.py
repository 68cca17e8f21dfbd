"""`resilience init` and `resilience run`'s checks of scenario files and the report directory."""

from __future__ import annotations

import pathlib

import pytest

from chaos.cli import main
from chaos.scenario import load_scenario


def test_init_writes_a_starter_that_loads(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """init --command writes chaos.toml for that command; the file loads as it is."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--command", "hf download acme/tiny-model --local-dir {workdir}/model"]) == 0
    scenario = load_scenario(tmp_path / "chaos.toml")
    assert scenario.command == ("hf", "download", "acme/tiny-model", "--local-dir", "{workdir}/model")
    assert "resilience run chaos.toml" in capsys.readouterr().out


def test_init_refuses_to_overwrite_without_force(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing file stays as it was, with one line saying --force; --force replaces it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chaos.toml").write_text("mine")
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "resilience init: error: --out='chaos.toml' exists; fix: pass --force to overwrite it, or another --out\n"
    )
    assert (tmp_path / "chaos.toml").read_text() == "mine"
    assert main(["init", "--force"]) == 0
    assert load_scenario(tmp_path / "chaos.toml").command == ("sh", "{scenario_dir}/install.sh", "{workdir}/model")


@pytest.mark.parametrize(
    ("out", "says"),
    [("ci/scenario.toml", "is not named chaos*.toml"), ("missing/chaos.toml", "is not a directory")],
)
def test_init_rejects_a_bad_out_with_one_line(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], out: str, says: str
) -> None:
    """--out must be a chaos*.toml in an existing directory: one line, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert says in err
    assert list(tmp_path.iterdir()) == []


def test_run_checks_a_scenario_file_before_pytest_starts(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad chaos.toml given to run (directly or in a directory) is its one line, exit 2; no report written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "chaos.toml").write_text('command = ["true"]\n[[matrix]]\nfault = "network.dwn"\n')
    for target in ("user/chaos.toml", "user"):
        assert main(["run", target, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith("resilience run: error: user/chaos.toml:3: matrix[0]: fault 'network.dwn'")
    assert not (tmp_path / "reports").exists()


def test_run_refuses_a_report_dir_it_cannot_create(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--report /proc/x: one line and exit 2 before any trial, not a silent 0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    assert main(["run", "test_x.py", "--report", "/proc/x", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("resilience run: error: --report='/proc/x' cannot be created (")


def test_make_run_collects_the_third_party_set() -> None:
    """`resilience run scenarios` (make run) finds every chaos*.toml of scenarios/third_party, and nothing else."""
    from chaos.cli.run import scenario_files

    root = pathlib.Path(__file__).resolve().parents[4]
    found = [path.relative_to(root).as_posix() for path in scenario_files([str(root / "scenarios")])]
    assert found == [
        "scenarios/third_party/chaos_curl.toml",
        "scenarios/third_party/chaos_hf_download.toml",
        "scenarios/third_party/chaos_pip_install.toml",
        "scenarios/third_party/chaos_reference.toml",
        "scenarios/third_party/chaos_snapshot_download.toml",
    ]
