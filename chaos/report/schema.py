"""The journal's JSON Schema (``resilience-chaos/journal@1``), shipped as ``chaos/report/journal.schema.json``.

::

    from chaos.report.schema import journal_errors, validate_journal

    validate_journal(document, source="reports/journal.json")  # ChaosError naming the first bad field
    journal_errors(document)  # every problem, as "trials[3].outcome: 'bad' is not one of [...]"

Other tools can validate a journal with any JSON Schema (draft 2020-12) validator against the shipped file,
whose path is :data:`SCHEMA_PATH`.
"""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
from collections.abc import Iterable
from typing import Any

from chaos.errors import ChaosError

__all__ = ["SCHEMA_PATH", "journal_errors", "journal_schema", "validate_journal"]

SCHEMA_PATH = pathlib.Path(__file__).with_name("journal.schema.json")
_SHOWN_ERRORS = 3


@functools.cache
def journal_schema() -> dict[str, Any]:
    """The journal@1 schema as a dict (read once from :data:`SCHEMA_PATH`)."""
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


def _where(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _date_time(value: object) -> bool:
    # the journal writes datetime.isoformat() with an offset; a naive time is not a point in time
    return not isinstance(value, str) or datetime.datetime.fromisoformat(value).tzinfo is not None


@functools.cache
def _validator() -> Any:
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_date_time)
    return jsonschema.Draft202012Validator(journal_schema(), format_checker=checker)


def journal_errors(document: object) -> list[str]:
    """Every way ``document`` breaks the journal@1 schema, as ``"where: what"`` lines (empty when it is valid)."""
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    return [f"{_where(error.absolute_path)}: {error.message}" for error in errors]


def validate_journal(document: object, *, source: str = "journal") -> None:
    """Raise :class:`ChaosError` naming ``source`` and the first problems when ``document`` is not a valid
    journal@1."""
    errors = journal_errors(document)
    if errors:
        shown = "; ".join(errors[:_SHOWN_ERRORS])
        more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
        message = (
            f"{source}: not a valid resilience-chaos/journal@1: {shown}{more}; "
            f"fix: point at a journal.json a chaos run wrote (schema: {SCHEMA_PATH.name})"
        )
        raise ChaosError(message)
