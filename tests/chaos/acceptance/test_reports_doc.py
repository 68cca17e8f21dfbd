"""The examples in docs/reports.md run as written: the report commands, the schema snippet, the workflow."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from report_project import run_project

from chaos.cli import build_parser
from chaos.report.schema import journal_errors

pytestmark = pytest.mark.acceptance

ROOT = pathlib.Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "reports.md").read_text()


def _console_commands(section: str) -> list[tuple[list[str], int]]:
    """The ``$ resilience ...`` lines of the first console block after ``section``, with their expected exit."""
    block = PAGE.split(section, 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if line.startswith("$ resilience "):
            command, _, comment = line[2:].partition("  #")
            expected = re.search(r"exit (\d+)", comment)
            commands.append((shlex.split(command), int(expected.group(1)) if expected else 0))
    return commands


def test_report_commands_run_as_shown(tmp_path: pathlib.Path) -> None:
    """Each `resilience report` line of the page runs on real journals with the exit status it states."""
    reports = run_project(tmp_path, "reports")
    for index in (1, 2):
        run_project(tmp_path, f"shard{index}", extra=("--shard", f"{index}/2"))
    run_project(tmp_path, "main")
    (tmp_path / "baselines" / "0.1.0").mkdir(parents=True)
    shutil.copy(reports, tmp_path / "baselines" / "0.1.0" / "journal.json")
    commands = _console_commands("## resilience report")
    verbs = ("render", "render", "show", "diff", "diff", "merge")
    assert [command[:3] for command, _ in commands] == [["resilience", "report", verb] for verb in verbs]
    for command, expected in commands:
        done = subprocess.run(
            [sys.executable, "-m", "chaos.cli", *command[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert done.returncode == expected, (command, done.stdout[-2000:], done.stderr[-2000:])
    for folder in ("site", "combined", "merged"):
        assert (tmp_path / folder / "report.html").exists()
    assert json.loads((tmp_path / "diff.json").read_text())["regressed"] is False
    merged = json.loads((tmp_path / "merged" / "journal.json").read_text())
    assert sum(s["trials"] for s in merged["scenarios"]) == len(json.loads(reports.read_text())["trials"])


def test_schema_snippet_runs(tmp_path: pathlib.Path) -> None:
    """The Python snippet validates a real journal and lists no problem."""
    snippet = PAGE.split("```python\n", 1)[1].split("```", 1)[0]
    journal = json.loads(run_project(tmp_path, "reports").read_text())
    namespace: dict[str, object] = {"journal": journal}
    exec(compile(snippet, "docs/reports.md", "exec"), namespace)  # the doc's own example
    assert namespace["journal_errors"](journal) == []  # type: ignore[operator]


def test_release_commands_parse_and_the_shipped_baseline_is_a_valid_journal() -> None:
    """The release steps are valid commands; every baselines/*/journal.json validates and used seed 42."""
    ((command, _),) = _console_commands("## A baseline per release")
    build_parser().parse_args(command[1:])
    baselines = sorted((ROOT / "baselines").glob("*/journal.json"))
    assert baselines, "no baseline journal in baselines/"
    for path in baselines:
        journal = json.loads(path.read_text())
        assert journal_errors(journal) == [], path
        assert journal["run"]["seed"] == 42


def test_workflow_shards_merge_and_diff() -> None:
    """The workflow parses; its shards match --shard I/N; every resilience command parses; the merge job
    downloads what the shards upload and diffs against main's journal."""
    text = PAGE.split("```yaml file=.github/workflows/chaos.yml\n", 1)[1].split("```", 1)[0]
    workflow = yaml.safe_load(text)
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    shards = shard_job["strategy"]["matrix"]["shard"]
    assert shard_job["env"]["RESILIENCE_CHAOS_GITHUB"] == "off"
    runs = [step["run"] for job in (shard_job, merge_job) for step in job["steps"] if "run" in step]
    commands = [
        shlex.split(line.strip().split(" || ")[0].split(" && ")[0].replace("${{ matrix.shard }}", "1"))
        for run in runs
        for line in run.splitlines()
        if line.strip().startswith("resilience ")
    ]
    assert [command[:3] for command in commands] == [
        ["resilience", "run", "scenarios"], ["resilience", "report", "merge"], ["resilience", "report", "diff"],
    ]  # fmt: skip
    for command in commands:
        build_parser().parse_args(command[1:])
    assert commands[0][commands[0].index("--shard") + 1] == f"1/{len(shards)}"
    upload = next(step for step in shard_job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in merge_job["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert re.fullmatch(download["with"]["pattern"].replace("*", ".*"), upload["with"]["name"].replace(
        "${{ matrix.shard }}", "1"))  # fmt: skip
    assert commands[2][3:5] == ["main/journal.json", "reports/journal.json"]
    assert merge_job["needs"] == "shard"
