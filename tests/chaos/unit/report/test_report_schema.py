"""The journal@1 JSON Schema shipped in the package, and the validation helper next to the journal."""

from __future__ import annotations

import copy
import json
import pathlib
import tomllib

import pytest
from report_journals import mixed_journal

from chaos import ChaosError
from chaos.report.schema import SCHEMA_PATH, journal_errors, journal_schema, validate_journal


def test_schema_file_is_a_valid_draft_2020_12_schema_named_journal_at_1() -> None:
    """The shipped file is a JSON Schema (draft 2020-12) with the journal's id, and a package data file."""
    import jsonschema

    schema = journal_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "resilience-chaos/journal@1"
    assert schema["properties"]["schema"] == {"const": "resilience-chaos/journal@1"}
    pyproject = tomllib.loads((pathlib.Path(__file__).parents[4] / "pyproject.toml").read_text())
    assert "report/journal.schema.json" in pyproject["tool"]["setuptools"]["package-data"]["chaos"]
    assert SCHEMA_PATH.name == "journal.schema.json"


def test_a_journal_the_producers_build_is_valid() -> None:
    """build_journal's output (with notes, residue, duration) validates, and survives a JSON round trip."""
    journal = mixed_journal()
    assert journal_errors(journal) == []
    assert journal_errors(json.loads(json.dumps(journal))) == []
    validate_journal(journal)


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda j: j["trials"][0].__setitem__("outcome", "exploded"), "trials[0].outcome"),
        (lambda j: j["scenarios"][1].__setitem__("interval", [0.2]), "scenarios[1].interval"),
        (lambda j: j["scenarios"][0].__setitem__("recovery_rate", 1.5), "scenarios[0].recovery_rate"),
        (lambda j: j["run"].__setitem__("started", "2023-11-14T22:13:20"), "run.started"),
        (lambda j: j["run"].__setitem__("seed", -1), "run.seed"),
        (lambda j: j["trials"][2]["faults"][0].pop("triggered"), "trials[2].faults[0]"),
        (lambda j: j.__setitem__("schema", "resilience-chaos/journal@2"), "schema"),
        (lambda j: j["scenarios"][0]["outcomes"].__setitem__("exploded", 1), "scenarios[0].outcomes"),
    ],
)
def test_a_damaged_journal_names_the_field(damage: object, where: str) -> None:
    """Each kind of damage is reported at the field it hit, and validate_journal raises ChaosError naming it."""
    journal = copy.deepcopy(mixed_journal())
    damage(journal)  # type: ignore[operator]
    errors = journal_errors(journal)
    assert any(error.startswith(where) for error in errors), errors
    with pytest.raises(ChaosError, match=r"^j\.json: not a valid resilience-chaos/journal@1: .*fix: "):
        validate_journal(journal, source="j.json")


def test_keys_a_newer_writer_adds_stay_valid() -> None:
    """Objects are open: a verdict key, a plugin's key or a run's extra fact do not break journal@1."""
    journal = mixed_journal()
    journal["scenarios"][0]["verdict"] = "undecided"
    journal["scenarios"][0]["stopping"] = {"rule": "sprt", "trials_used": 12}
    journal["trials"][0]["plugin_fact"] = [1, 2]
    journal["run"]["ci"] = {"job": "shard-1"}
    assert journal_errors(journal) == []
