"""Fuzz the reliability config parser: files (bytes, mutated JSON/TOML, generated values) and env overrides.

Budget: 100 file examples, 100 mapping+env examples, Hypothesis deadline 2 s each, no example database.
Each example ends with either a ReliabilityConfig or one single-line ConfigError naming a field and a source,
never another exception; the temporary folder holds only the input file afterwards (nothing else written).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience_core import ConfigError, ReliabilityConfig, load_config

FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_SECTIONS = ("retry", "timeouts", "recovery", "monitoring", "features", "deployment", "retr", "")
_KEYS: tuple[str, ...] = ("max_retries", "base_delay_seconds", "max_delay_seconds", "alternative_sources")
_KEYS += ("reliability_level", "context_multipliers", "alert_thresholds", "error_rate", "large_file", "environment")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["http://", "https://h", "1_0", "\uff11", "nan", "maximum", "standard", "1e999"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(_SECTIONS), st.dictionaries(st.sampled_from(_KEYS), values, max_size=4))
env = st.dictionaries(
    st.sampled_from(
        [
            "RESILIENCE_RETRY_MAX_RETRIES",
            "RESILIENCE_RETRY_BASE_DELAY_SECONDS",
            "RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES",
            "RESILIENCE_FEATURES_RELIABILITY_LEVEL",
            "RESILIENCE_TIMEOUTS_CONTEXT_MULTIPLIERS_LARGE_FILE",
            "RESILIENCE_MONITORING_ALERT_THRESHOLDS_ERROR_RATE",
            "RESILIENCE_RETRY_MAX_RETRYS",
            "RESILIENCE_LOG_DIR",
        ]
    ),
    st.text(max_size=12) | st.sampled_from(["1_0", "\uff15", " 3 ", "-0", "1e3", "http://", "inf", "true"]),
    max_size=3,
)


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, cut, insert in edits:
        at = position % (len(out) + 1)
        out[at : at + cut] = insert
    return bytes(out)


def _toml_value(value: Any) -> str:
    """A TOML literal for ints, floats, bools and strings (others as strings): enough to reach the validator."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 10**18:
        return str(value)
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value)[:40])


def _check(error: ConfigError) -> None:
    assert "\n" not in str(error)
    assert error.field
    assert error.source


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-fuzz")


@FUZZ
@given(
    documents,
    st.sampled_from(["json", "toml"]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 4), st.binary(max_size=4)), max_size=3),
    st.sampled_from([b"", b"[" * 200, b"\xff", b"\x00", b"{{", b"a = ["]),
)
def test_fuzzed_config_files_give_a_config_or_one_config_error(
    folder: Path, document: dict[str, Any], kind: str, edits: list[tuple[int, int, bytes]], junk: bytes
) -> None:
    """Generated, mutated and junk-prefixed JSON/TOML config files never raise anything but ConfigError."""
    if kind == "json":
        try:
            text = json.dumps(document).encode()
        except ValueError:  # an int beyond the printable limit: the junk alone is the file
            text = b"{}"
    else:
        tables = (
            f"[{section or 'x'}]\n" + "\n".join(f"{key} = {_toml_value(value)}" for key, value in table.items())
            for section, table in document.items()
        )
        text = "\n".join(tables).encode()
    path = folder / f"config.{kind}"
    path.write_bytes(junk + _mutate(text, edits))
    try:
        load_config(path, env={})
    except ConfigError as error:
        _check(error)
    assert {p.name for p in folder.iterdir()} <= {"config.json", "config.toml"}  # the parser wrote nothing


@FUZZ
@given(documents, env)
def test_fuzzed_mappings_and_env_give_a_config_or_one_config_error(
    document: dict[str, Any], environ: dict[str, str]
) -> None:
    """Any mapping (huge ints, nan, wrong types, unknown keys) plus any RESILIENCE_* env: a config or a ConfigError
    whose source is the mapping, a level preset, or the env variable that set the value."""
    try:
        cfg = ReliabilityConfig.from_mapping(document, source="fuzz.json", env=environ)
    except ConfigError as error:
        _check(error)
        source = error.source
    else:
        assert 0 <= cfg.retry.max_retries <= 10
        source = "fuzz.json"
    assert source == "fuzz.json" or source.startswith(("env:RESILIENCE_", "level:", "defaults"))
