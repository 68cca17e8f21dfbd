"""Deploy, validate, roll back, and the commented templates: every one loads as written."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path

import pytest

from resilience_core.config import ReliabilityConfig, load_config
from resilience_core.deploy import CONFIG_FILE, FLAGS_FILE, deploy, preset_config, rollback, validate
from resilience_core.errors import ConfigError, SnapshotError
from resilience_core.flags import FeatureFlags
from resilience_core.hub.catalog import Catalog
from resilience_core.monitor.settings import MonitorSettings
from resilience_core.templates import TEMPLATE_KINDS, template


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_deploy_then_rollback_restores_byte_identical_config(tmp_path: Path) -> None:
    """The issue's bar: a deploy followed by a rollback gives back the exact bytes (hash compared)."""
    (tmp_path / CONFIG_FILE).write_text('{"retry": {"max_retries": 7}}  \n')  # hand-written, odd spacing kept
    (tmp_path / FLAGS_FILE).write_text('{"flags": {"beta": {"state": "testing"}}}')
    before = (_sha(tmp_path / CONFIG_FILE), _sha(tmp_path / FLAGS_FILE))
    deploy("production", tmp_path)
    assert _sha(tmp_path / CONFIG_FILE) != before[0]
    assert load_config(tmp_path / CONFIG_FILE).features.reliability_level == "maximum"
    undone = rollback(tmp_path)
    assert (_sha(tmp_path / CONFIG_FILE), _sha(tmp_path / FLAGS_FILE)) == before
    assert undone.environment == "production"


def test_each_rollback_goes_one_deploy_back(tmp_path: Path) -> None:
    """dev, then prod: the first rollback gives dev's bytes, the second the empty directory, the third refuses."""
    deploy("development", tmp_path)
    dev = _sha(tmp_path / CONFIG_FILE)
    deploy("production", tmp_path)
    rollback(tmp_path)
    assert _sha(tmp_path / CONFIG_FILE) == dev
    rollback(tmp_path)
    assert not (tmp_path / CONFIG_FILE).exists()
    assert not (tmp_path / FLAGS_FILE).exists()
    with pytest.raises(SnapshotError, match="fix: deploy first"):
        rollback(tmp_path)


@pytest.mark.parametrize("environment", ["development", "testing", "production"])
def test_presets_are_valid_and_differ(environment: str) -> None:
    """Each environment's preset passes the config loader and sets its environment."""
    data = preset_config(environment)
    assert ReliabilityConfig.from_mapping(data, env={}).deployment.environment == environment


def test_development_flags_enable_everything(tmp_path: Path) -> None:
    """Development deploys every flag at 100%; production keeps the seed's percentages."""
    deploy("development", tmp_path)
    dev = FeatureFlags.load(tmp_path / FLAGS_FILE)
    assert {f.rollout_percentage for f in dev.flags.values()} == {100.0}
    deploy("production", tmp_path)
    assert FeatureFlags.load(tmp_path / FLAGS_FILE).flags["dependency_recovery"].rollout_percentage == 75


def test_unknown_environment_is_a_config_error(tmp_path: Path) -> None:
    """A typo in the environment names the allowed ones."""
    with pytest.raises(ConfigError, match="development, testing, production"):
        deploy("prod", tmp_path)


def test_validate_names_a_fix_for_each_problem(tmp_path: Path) -> None:
    """Broken config, world-writable flags: each check fails with its own fix; a clean deploy passes."""
    deploy("testing", tmp_path)
    assert [f.name for f in validate(tmp_path) if not f.ok] == []
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"retry": {"max_retries": 99}}))
    os.chmod(tmp_path / FLAGS_FILE, 0o666)
    problems = {f.name: f for f in validate(tmp_path, probes=False) if not f.ok}
    assert set(problems) == {"config.valid", "flags.permissions"}
    assert "retry.max_retries=99" in problems["config.valid"].detail
    assert problems["flags.permissions"].fix == f"chmod o-w {tmp_path / FLAGS_FILE}"
    assert all(f.fix for f in problems.values())


def test_validate_reports_a_bad_flag_file(tmp_path: Path) -> None:
    """A flag file with a bad value fails flags.valid with the flag's name."""
    deploy("testing", tmp_path)
    (tmp_path / FLAGS_FILE).write_text(json.dumps({"flags": {"beta": {"state": "maybe"}}}))
    (finding,) = [f for f in validate(tmp_path, probes=False) if not f.ok]
    assert finding.name == "flags.valid"
    assert "'beta'" in finding.detail


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_template_loads_as_written(tmp_path: Path, kind: str) -> None:
    """Each commented template is valid TOML that its own loader accepts, with comments in it."""
    text = template(kind)
    assert text.count("\n#") >= 2
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    tomllib.loads(text)
    if kind == "reliability":
        assert load_config(path, env={}) == ReliabilityConfig()
    elif kind == "monitoring":
        settings = MonitorSettings.load(path)
        assert [r.metric for r in settings.rules] == ["disk_usage_percent", "error_rate"]
    elif kind == "flags":
        assert FeatureFlags.load(path).flags == FeatureFlags().flags
    else:
        assert Catalog.load(path).models[0].label == "org/model-name@main"


def test_unknown_template_kind() -> None:
    """An unknown kind names the known ones."""
    with pytest.raises(ConfigError, match="reliability, monitoring, flags, catalog"):
        template("grafana")
