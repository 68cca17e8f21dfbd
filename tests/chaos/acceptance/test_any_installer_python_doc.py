"""The examples in docs/any-installer-python.md run as written: a shell installer and pip under real faults."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "any-installer-python.md"
FILE_BLOCK = re.compile(r"```(?:python|sh) file=(\S+)\n(.*?)```\n", re.DOTALL)


@pytest.mark.slow
def test_any_installer_page_examples_pass(pytester: pytest.Pytester) -> None:
    """Every scenario on the page passes; the journal carries exit codes, verify results and fired faults."""
    files = dict(FILE_BLOCK.findall(DOC.read_text()))
    assert set(files) == {"conftest.py", "install.sh", "test_my_installer.py"}
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    result = pytester.runpytest("--chaos-seed=1", "--chaos-report=reports", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=8)
    journal = json.loads((pytester.path / "reports" / "journal.json").read_text())
    trials = journal["trials"]
    assert {trial["outcome"] for trial in trials} == {"recovered"}
    for trial in trials:
        runs = [note["data"] for note in trial["notes"] if note["event"] == "command.run"]
        verified = [note["data"] for note in trial["notes"] if note["event"] == "command.verify"]
        assert runs[-1]["returncode"] == 0
        assert len(verified) == 1
        assert verified[0]["problems"] == []
        assert verified[0]["returncode"] == 0
        armed = {fault["name"] for fault in trial["faults"]}
        assert set(verified[0]["fired"]) == armed  # each armed fault reached the command
        assert all(fault["triggered"] for fault in trial["faults"])
        if "kill" in trial["scenario"]:
            assert [run["killed"] for run in runs] == [True, False]
            assert runs[0]["returncode"] < 0
        else:
            assert [run["killed"] for run in runs] == [False]


def test_any_installer_toml_is_a_valid_spec(tmp_path: pathlib.Path) -> None:
    from chaos.targets import HubSpec

    [toml] = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.DOTALL)
    (tmp_path / "repos.toml").write_text(toml)
    [repo] = HubSpec.from_toml(tmp_path / "repos.toml").repos
    assert repo.repo_id == "acme/real-model"
    assert repo.from_dir is not None
    assert repo.from_dir.endswith(".cache/huggingface/hub")
