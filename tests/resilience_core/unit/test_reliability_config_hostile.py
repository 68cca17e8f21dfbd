"""ReliabilityConfig under hostile or sloppy input: one ConfigError naming field, value, source and range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resilience_core import ConfigError, ReliabilityConfig, load_config


def error_for(data: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.from_mapping(data, source="app.json", env=env or {})
    return info.value


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("RESILIENCE_RETRY_MAX_RETRIES", "1_0", "retry.max_retries"),
        ("RESILIENCE_RETRY_MAX_RETRIES", "\uff11\uff10", "retry.max_retries"),  # full-width "10"
        ("RESILIENCE_RETRY_MAX_RETRIES", "\u0664", "retry.max_retries"),  # Arabic-Indic digit four
        ("RESILIENCE_RETRY_MAX_RETRIES", "1" + "0" * 400, "retry.max_retries"),
        ("RESILIENCE_RETRY_BASE_DELAY_SECONDS", "1_0.5", "retry.base_delay_seconds"),
        ("RESILIENCE_RETRY_BASE_DELAY_SECONDS", "nan", "retry.base_delay_seconds"),
        ("RESILIENCE_RETRY_BASE_DELAY_SECONDS", "inf", "retry.base_delay_seconds"),
        ("RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES", "http://", "recovery.alternative_sources"),
        ("RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES", "https://ok.example,http://:80", "recovery.alternative_sources"),
        ("RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES", "http://host:99999", "recovery.alternative_sources"),
        ("RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES", "ftp://host", "recovery.alternative_sources"),
    ],
)
def test_sloppy_env_values_are_refused_and_blamed_on_the_variable(name: str, value: str, field: str) -> None:
    """Digit separators, non-ASCII digits, nan/inf, giant numbers and host-less URLs from env are one ConfigError."""
    error = error_for({}, {name: value})
    assert error.field == field
    assert error.source == f"env:{name}"
    assert f"from env:{name}" in str(error)
    assert error.allowed
    assert error.allowed in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize("value", ["http://", "https:///path", "http://exa mple.com", "http://h\r\nX: y"])
def test_host_less_or_broken_source_urls_in_a_file_are_refused(value: str) -> None:
    """The same URL check holds for values from the file, and the file is named as the source."""
    error = error_for({"recovery": {"alternative_sources": [value]}})
    assert error.field == "recovery.alternative_sources"
    assert error.source == "app.json"
    assert error.value == value


def test_a_huge_integer_in_a_file_is_one_short_error() -> None:
    """max_retries=10**400 is out of range (not an OverflowError), and the message does not print 400 digits."""
    error = error_for({"retry": {"max_retries": 10**400}})
    assert error.field == "retry.max_retries"
    assert "(401 digits)" in str(error)
    assert "0..10" in error.allowed
    assert len(str(error)) < 300
    error = error_for({"retry": {"base_delay_seconds": 10**400}})
    assert error.field == "retry.base_delay_seconds"


def test_a_cross_field_error_is_blamed_on_the_env_variable_that_set_it() -> None:
    """base_delay above max_delay, set by env, names env:RESILIENCE_... and where max_delay came from."""
    error = error_for({"retry": {"max_delay_seconds": 30}}, {"RESILIENCE_RETRY_BASE_DELAY_SECONDS": "45"})
    assert error.source == "env:RESILIENCE_RETRY_BASE_DELAY_SECONDS"
    assert "30 from app.json" in str(error)
    error = error_for({"retry": {"base_delay_seconds": 100}})
    assert error.source == "app.json"
    assert "60 from defaults" in str(error)


def test_plain_env_numbers_still_work() -> None:
    """Signed ASCII integers and decimals (with exponent) are accepted from env."""
    cfg = ReliabilityConfig.from_mapping(
        {},
        env={
            "RESILIENCE_RETRY_MAX_RETRIES": " 7 ",
            "RESILIENCE_RETRY_BASE_DELAY_SECONDS": "1.5e0",
            "RESILIENCE_RECOVERY_ALTERNATIVE_SOURCES": "http://127.0.0.1:8080, https://mirror.example/hub",
        },
    )
    assert cfg.retry.max_retries == 7
    assert cfg.retry.base_delay_seconds == 1.5
    assert cfg.recovery.alternative_sources == ("http://127.0.0.1:8080", "https://mirror.example/hub")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("latin1.json", b'{"deployment": {"support_contact": "J\xfcrgen"}}', "not UTF-8"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "deeper than 64 levels"),
        ("deep.toml", b"a = " + b"[" * 100_000 + b"]" * 100_000, "deeper than 64 levels"),
        ("inline.toml", b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000, "deeper than 64 levels"),
        ("huge.json", b'{"x": "' + b"a" * (16 << 20) + b'"}', "over the limit"),
        ("bom.json", b"\xef\xbb\xbf{}", "not valid JSON"),
    ],
)
def test_hostile_config_files_are_one_config_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    """Non-UTF-8, 100,000-deep, 16 MiB+ files each give one ConfigError naming the file, never a traceback."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert reason in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)
    assert "\n" not in str(info.value)
