"""`resilience proxy serve` input checks: loopback only by default, one clear line and exit 2 on a bad config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.cli.proxy import load_config
from chaos.errors import ProxyError


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "Traceback" not in err
    return err


def test_non_loopback_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--host 0.0.0.0 without --allow-remote exits 2 with one line naming the flag and the fix."""
    assert main(["proxy", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    line = _error_line(capsys)
    assert "--host '0.0.0.0' is not loopback" in line
    assert "--allow-remote" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('{"name": "a"}', "top level is dict"),
        ('[{"name": "a"}]', "proxy 1 upstream=None"),
        ('[{"name": "a", "upstream": "x:1"}, 5]', "proxy 2 is not an object"),
        ('[{"name": "a", "upstream": "x:1", "enabled": "yes"}]', "enabled a boolean"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """A malformed --config file exits 2 with one line naming the file and the problem."""
    config = tmp_path / "populate.json"
    config.write_text(content)
    assert main(["proxy", "serve", "--port", "0", "--config", str(config)]) == 2
    line = _error_line(capsys)
    assert line.startswith("resilience proxy serve: error: --config")
    assert expected in line


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --config path that does not exist exits 2 and says so."""
    assert main(["proxy", "serve", "--port", "0", "--config", str(tmp_path / "absent.json")]) == 2
    assert "cannot be read" in _error_line(capsys)


def test_load_config_accepts_populate_format(tmp_path: Path) -> None:
    """A valid populate array loads as given."""
    entries = [{"name": "hub", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0", "enabled": False}]
    config = tmp_path / "ok.json"
    config.write_text(json.dumps(entries))
    assert load_config(config) == entries


def test_load_config_error_is_a_proxy_error(tmp_path: Path) -> None:
    """load_config raises ProxyError (a ChaosError), which the CLI turns into exit 2."""
    config = tmp_path / "bad.json"
    config.write_text("[1]")
    with pytest.raises(ProxyError, match="proxy 1 is not an object"):
        load_config(config)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--allow", "pypi.org:443"], "--allow 'pypi.org:443' needs --forward"),
        (["--forward", "0.0.0.0:3128"], "--forward '0.0.0.0' is not loopback"),
        (["--forward", ":3128"], "--forward '0.0.0.0' is not loopback"),
        (["--forward", "3128"], "--forward '3128': address 3128: missing port in address"),
        (["--forward", "127.0.0.1:0", "--allow", "pypi.org"], "--allow: allow pattern 'pypi.org' is refused"),
    ],
)
def test_bad_forward_flags_are_one_line_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--forward and --allow are checked before anything listens: one line naming the flag and the fix."""
    assert main(["proxy", "serve", "--port", "0", *argv]) == 2
    line = _error_line(capsys)
    assert expected in line
    assert "fix:" in line or "use host:port" in line
