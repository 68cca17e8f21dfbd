"""Harness settings: command line > environment > ini > default, and one clear line for bad values."""

from __future__ import annotations

import pathlib

import pytest

from chaos.settings import SettingError, resolve_settings


def test_command_line_beats_environment_beats_ini() -> None:
    """Each setting takes the command-line value, else the environment's, else the ini file's."""
    ini = {"seed": "1", "trials": "3", "report": "ini-dir", "shard": "1/3", "toxiproxy_url": "http://ini:1"}
    env = {"CHAOS_SEED": "2", "CHAOS_TRIALS": "4", "CHAOS_SHARD": "2/3"}
    cli: dict[str, object] = {"seed": "5"}
    settings = resolve_settings(cli, env, ini)
    assert (settings.seed, settings.seed_source) == (5, "--chaos-seed")
    assert settings.trials == 4
    assert (settings.shard_index, settings.shard_count) == (2, 3)
    assert settings.report_dir == pathlib.Path("ini-dir")
    assert settings.toxiproxy_url == "http://ini:1"
    assert resolve_settings({}, env, ini).seed_source == "$CHAOS_SEED"
    assert resolve_settings({}, {}, ini).seed_source == "ini chaos_seed"


def test_defaults_draw_a_random_seed() -> None:
    """Without any setting the seed is drawn at random and marked as such; trials follow the markers."""
    settings = resolve_settings({}, {}, {})
    assert settings.seed_source == "random"
    assert settings.trials is None
    assert (settings.shard_index, settings.shard_count) == (1, 1)


@pytest.mark.parametrize(
    ("cli", "env", "message"),
    [
        ({"seed": "x"}, {}, "--chaos-seed='x' must be an integer >= 0"),
        ({}, {"CHAOS_TRIALS": "0"}, "$CHAOS_TRIALS='0' must be an integer >= 1"),
        ({"shard": "3/2"}, {}, "--chaos-shard='3/2' must be I/N with 1 <= I <= N"),
        ({"shard": "a"}, {}, "--chaos-shard='a' must be I/N"),
        ({"toxiproxy_url": "localhost:8474"}, {}, "--toxiproxy-url='localhost:8474' must be an http(s) URL"),
    ],
)
def test_bad_values_name_their_source(cli: dict[str, object], env: dict[str, str], message: str) -> None:
    """A bad value raises SettingError naming where it came from, the value and the fix."""
    with pytest.raises(SettingError) as caught:
        resolve_settings(cli, env, {})
    assert str(caught.value).startswith(message)
    assert "fix:" in str(caught.value)
