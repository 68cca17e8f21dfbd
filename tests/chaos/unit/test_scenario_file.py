"""Scenario files (chaos*.toml): loading, one-line errors, the shipped JSON Schema and the starter file."""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Any

import jsonschema
import pytest

from chaos.manager import ChaosManager
from chaos.scenario import SCHEMA_PATH, ScenarioError, load_scenario
from chaos.scenario.lines import key_lines
from chaos.scenario.starter import starter_text

ROOT = pathlib.Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "scenarios" / "third_party").glob("chaos*.toml"))

GOOD = """\
command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]
trials = 2
min_recovery_rate = 0.5

[hub]
seed = 7

[[hub.repos]]
repo_id = "acme/tiny"

[[hub.repos.files]]
path = "config.json"

[[matrix]]
fault = "network.reset_peer"
params = { after_bytes = 1000 }

[[matrix]]
id = "kill"
faults = [{ fault = "process.kill", params = { min_s = 0.1, max_s = 0.2 } }]

[verify]
leftovers = ["{workdir}/model"]
hf_cache = { path = "{workdir}/model", repos = ["acme/tiny"] }
"""

# (name, edit of GOOD, text of the line the error names, what the error says, whether the schema sees it too)
BAD = [
    (
        "unknown fault",
        ("network.reset_peer", "network.reset_pear"),
        "reset_pear",
        "did you mean 'network.reset_peer'?",
        False,
    ),
    ("bad param", ("after_bytes = 1000", "after_bytes = -1"), "-1", "network.reset_peer.after_bytes=-1", False),
    ("bad param type", ("min_s = 0.1", 'min_s = "x"'), '"x"', "process.kill.min_s='x' must be a number", False),
    (
        "missing command",
        ('command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]', ""),
        None,
        "command",
        True,
    ),
    ("wrong type", ("trials = 2", 'trials = "2"'), "trials", "trials='2'", True),
    (
        "command string",
        ('command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]', 'command = "sh x"'),
        "sh x",
        "",
        True,
    ),
    ("unknown key", ("[verify]", "[verify]\nbogus = 1"), "bogus", "verify.bogus is not a known key", True),
    ("unknown top key", ("trials = 2", "trials = 2\ntrails = 3"), "trails", "trails is not a known key", True),
    (
        "unknown placeholder",
        ('"{workdir}/model"]', '"{wrkdir}"]'),
        "wrkdir",
        "{wrkdir}, which is not a placeholder",
        False,
    ),
    ("unserved repo", ('repos = ["acme/tiny"] }', 'repos = ["acme/other"] }'), "acme/other", "'acme/other'", False),
    (
        "fault and faults",
        ('id = "kill"', 'id = "kill"\nfault = "network.down"'),
        '[[matrix]]\nid = "kill"',
        "either fault",
        True,
    ),
    ("bad rerun", ("trials = 2", 'trials = 2\nrerun = "always"'), "rerun", "rerun='always'", True),
    ("bad for_s", ("after_bytes = 1000 }", "after_bytes = 1000 }\nfor_s = -1"), "for_s", "for_s=-1", True),
    ("bad at_s", ("after_bytes = 1000 }", "after_bytes = 1000 }\nat_s = -1"), "at_s", "at_s=-1", True),
    (
        "at_s on a fault armed before the start",
        ("max_s = 0.2 } }]", "max_s = 0.2 }, at_s = 1.0 }]"),
        "at_s = 1.0",
        "at_s times network faults only",
        False,
    ),
    ("misspelt table", ("[[matrix]]\nid", "[[matrix_x]]\nid"), "matrix_x", "matrix_x is not a known key", True),
]


@pytest.fixture(scope="module")
def manager() -> ChaosManager:
    """One registry for the module (building it reads entry points)."""
    return ChaosManager.build()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The shipped JSON Schema, itself valid draft 2020-12."""
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def schema_errors(schema: dict[str, Any], text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [error.message for error in validator.iter_errors(tomllib.loads(text))]


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "chaos.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_into_its_matrix(tmp_path: pathlib.Path, manager: ChaosManager) -> None:
    """Entries get readable ids (the fault name, or the given id), steps their proxy and params."""
    scenario = load_scenario(write(tmp_path, GOOD), manager=manager)
    assert [entry.id for entry in scenario.matrix] == ["network.reset_peer", "kill"]
    assert scenario.matrix[0].faults[0].proxy == "hub"
    assert scenario.matrix[1].faults[0].proxy is None
    assert scenario.entry_thresholds(scenario.matrix[0]) == {"trials": 2, "min_recovery_rate": 0.5}
    assert scenario.hf_cache[0].repos == ("acme/tiny",)
    assert scenario.rerun == "once"


@pytest.mark.parametrize(("name", "edit", "line", "says", "schema_sees"), BAD, ids=[case[0] for case in BAD])
def test_a_bad_file_is_one_line_naming_file_line_key_and_fix(
    tmp_path: pathlib.Path,
    manager: ChaosManager,
    schema: dict[str, Any],
    name: str,
    edit: tuple[str, str],
    line: str | None,
    says: str,
    schema_sees: bool,
) -> None:
    """Each bad case raises one ScenarioError line with the file, the line, the value and a fix; the schema
    rejects every structural case too, and accepts what only the registry can know (faults, their params)."""
    text = GOOD.replace(*edit, 1)
    assert text != GOOD, name
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, manager=manager)
    message = str(caught.value)
    assert "\n" not in message
    number = None if line is None else text[: text.index(line)].count("\n") + 1
    assert message.startswith(f"{path}:{number}: " if number is not None else f"{path}: ")
    assert says in message
    assert "fix" in message
    assert bool(schema_errors(schema, text)) is schema_sees


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_shipped_scenarios_load_and_match_the_schema(
    path: pathlib.Path, manager: ChaosManager, schema: dict[str, Any]
) -> None:
    """Every shipped scenario file loads and validates against the shipped schema."""
    load_scenario(path, manager=manager)
    assert schema_errors(schema, path.read_text()) == []


@pytest.mark.parametrize(
    "command",
    [
        None,
        "hf download acme/tiny-model --local-dir {workdir}/model",
        "curl -C - -o m {hub_url}/x && echo ok",
        "./i.sh",
    ],
)
def test_the_starter_file_loads_and_matches_the_schema(
    tmp_path: pathlib.Path, manager: ChaosManager, schema: dict[str, Any], command: str | None
) -> None:
    """``resilience init``'s text loads for any command (shell syntax becomes shell = true)."""
    text = starter_text(command)
    scenario = load_scenario(write(tmp_path, text), manager=manager)
    assert schema_errors(schema, text) == []
    assert scenario.shell is ("&&" in (command or ""))


def test_key_lines_follow_arrays_of_tables() -> None:
    """The nth [[matrix]] table and its keys map to their own lines."""
    lines = key_lines('a = 1\n[[m]]\nx = 1\n[[m]]\nx = 2\n[m.params]\ny = 3\n[t]\n"q.r" = 1\n')
    assert lines[("a",)] == 1
    assert lines[("m", 0, "x")] == 3
    assert lines[("m", 1, "x")] == 5
    assert lines[("m", 1, "params", "y")] == 7
    assert lines[("t", "q.r")] == 9


def test_a_missing_spec_file_names_where_it_looked(tmp_path: pathlib.Path, manager: ChaosManager) -> None:
    """[hub] spec = a missing file: one line with the resolved path."""
    text = GOOD.replace("[hub]\nseed = 7", '[hub]\nspec = "nope.toml"\n[x]').split("[x]")[0]
    text += '[[matrix]]\nfault = "network.down"\n'
    with pytest.raises(ScenarioError, match=r"chaos.toml:\d+: hub.spec='nope.toml' is not a file"):
        load_scenario(write(tmp_path, text), manager=manager)
