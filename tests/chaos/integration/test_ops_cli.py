"""The operations commands end to end: ``resilience models|deploy|config|monitor`` against a real local hub,
real files and a real server process; every usage error is one line and exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from chaos.cli import main
from chaos.targets import HubServer, HubSpec, model_repo

REPO = "acme/cli-mini"
MODEL = f"{REPO}@main"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub serving one small model."""
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=200_000),), seed=5)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub")) as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run the CLI in-process; returns (exit status, stdout parsed as JSON when it is, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def _flip_a_byte(cache: Path) -> Path:
    (weights,) = cache.rglob("snapshots/*/*.safetensors")
    blob = weights.resolve()
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    return blob


def test_the_runbook_sequence(hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ensure, status, verify (finds and marks a bitflip), mark-corrupted, ensure --force-redownload, gc, report."""
    cache = str(tmp_path / "models")
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(f'cache_dir = "models"\nsources = ["{hub.url}"]\n[[models]]\nrepo_id = "{REPO}"\n')
    code, out, _ = run(capsys, "models", "ensure", "--catalog", str(catalog), "--json")
    assert code == 0
    assert out["models"][0]["ok"] is True
    code, out, _ = run(capsys, "models", "status", "--cache-dir", cache, "--only", MODEL, "--json")
    assert out["models"][0]["state"] == "complete"

    _flip_a_byte(Path(cache))
    code, out, _ = run(capsys, "models", "verify", "--all", "--report-only", "--catalog", str(catalog), "--json")
    assert code == 1
    assert out["summary"] == {"checked": 1, "failed": 1, "marked": []}
    code, out, _ = run(capsys, "models", "status", "--catalog", str(catalog), "--failed-only", "--json")
    assert out["models"] == []  # sizes match: status does not hash, and report-only marked nothing
    code, out, _ = run(capsys, "models", "verify", "--all", "--catalog", str(catalog), "--json")
    assert code == 1
    assert out["summary"]["marked"] == [MODEL]
    code, out, _ = run(
        capsys, "models", "status", "--catalog", str(catalog), "--critical-only", "--failed-only", "--json"
    )
    assert [(m["model"], m["state"]) for m in out["models"]] == [(MODEL, "corrupted")]

    listing = tmp_path / "corrupted-models.txt"
    listing.write_text(f"# from verify\n{MODEL}\n")
    code, out, _ = run(capsys, "models", "mark-corrupted", "--cache-dir", cache, "--model-list", str(listing), "--json")
    assert out == {"marked": [MODEL]}
    code, out, _ = run(
        capsys,
        "models",
        "ensure",
        "--force-redownload",
        "--model-list",
        str(listing),
        "--catalog",
        str(catalog),
        "--json",
    )
    assert code == 0
    (row,) = out["models"]
    assert row["removed_bytes"] > 0
    assert row["downloaded_bytes"] == row["removed_bytes"]
    code, out, _ = run(capsys, "models", "verify", "--all", "--catalog", str(catalog))
    assert code == 0
    assert "OK" in out
    code, out, _ = run(capsys, "models", "status", "--catalog", str(catalog), "--json")
    assert out["models"][0]["state"] == "complete"  # ensure cleared the mark

    orphan = next(Path(cache).rglob("blobs")) / ("0" * 64 + ".deadbeef.incomplete")
    orphan.write_bytes(b"x" * 1000)
    code, out, _ = run(capsys, "models", "gc", "--aggressive", "--dry-run", "--cache-dir", cache, "--json")
    assert out["dry_run"] is True
    assert str(orphan) in out["removed"]
    assert orphan.exists()
    code, out, _ = run(capsys, "models", "gc", "--aggressive", "--cache-dir", cache, "--json")
    assert not orphan.exists()
    code, out, _ = run(capsys, "models", "gc", "--auto", "--cache-dir", cache)
    assert code == 0

    code, out, _ = run(capsys, "models", "report", "--daily", "--catalog", str(catalog), "--json")
    assert out["states"] == {"complete": 1}
    assert out["critical_failed"] == []
    code, out, _ = run(capsys, "models", "report", "--storage", "--cache-dir", cache, "--json")
    assert out["repos"][0]["repo_id"] == REPO
    assert out["repos"][0]["blob_bytes"] > 200_000


def test_deploy_validate_rollback_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """deploy writes the presets, --validate-only passes, --rollback restores the earlier bytes (hash compared)."""
    site = tmp_path / "site"
    run(capsys, "deploy", "--environment", "development", "--dir", str(site))
    before = hashlib.sha256((site / "reliability_config.json").read_bytes()).hexdigest()
    code, out, _ = run(capsys, "deploy", "--environment", "production", "--dir", str(site), "--json")
    assert code == 0
    assert out["environment"] == "production"
    assert out["problems"] == []
    code, out, _ = run(capsys, "deploy", "--validate-only", "--dir", str(site))
    assert code == 0
    assert "0 problem(s)" in out
    code, out, _ = run(capsys, "deploy", "--rollback", "--dir", str(site))
    assert code == 0
    assert "rolled back the production deploy" in out
    assert hashlib.sha256((site / "reliability_config.json").read_bytes()).hexdigest() == before
    (site / "reliability_config.json").write_text('{"retry": {"max_retries": 11}}')
    code, out, _ = run(capsys, "deploy", "--validate-only", "--dir", str(site))
    assert code == 1
    assert "FAIL config.valid" in out
    assert "retry.max_retries=11" in out


def test_config_template_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """template KIND prints, --output writes one file, 'all --dir' writes every kind."""
    code, out, _ = run(capsys, "config", "template", "monitoring")
    assert code == 0
    assert "[[alert_channels]]" in out
    run(capsys, "config", "template", "reliability", "--output", str(tmp_path / "r.toml"))
    assert "max_retries = 3" in (tmp_path / "r.toml").read_text()
    run(capsys, "config", "template", "all", "--dir", str(tmp_path / "t"))
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "catalog.toml",
        "feature_flags.toml",
        "monitoring.toml",
        "reliability_config.toml",
    ]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["models", "verify"], "needs the models"),
        (["models", "status", "--only", "../etc@main"], "is not repo_id@revision"),
        (["models", "mark-corrupted"], "needs the models"),
        (["monitor", "serve", "--host", "0.0.0.0", "--port", "0"], "--allow-remote"),
        (["monitor", "check", "--monitoring", "/nonexistent.json"], "cannot be read"),
        (["deploy", "--rollback", "--dir", "{tmp}"], "no deploy snapshot"),
        (["config", "template", "all"], "--dir"),
        (["deploy", "--environment", "prod"], "invalid choice"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input: exit 2 with one line on stderr naming what to change, never a traceback."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    _out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_monitor_check_raises_and_delivers_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three ticks with a rule the disk always breaches: one alert, raised at the second tick, logged once."""
    settings = tmp_path / "monitoring.json"
    settings.write_text(
        json.dumps(
            {
                "database": "metrics.db",
                "disk_paths": ["."],
                "alert_thresholds": [
                    {"metric_name": "disk_usage_percent", "critical_threshold": 0.0, "min_occurrences": 2}
                ],
                "alert_channels": [{"name": "log", "type": "log"}],
            }
        )
    )
    code = main(["monitor", "check", "--monitoring", str(settings), "--count", "3"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [len(line["raised"]) for line in lines] == [0, 1, 0]
    assert [len(line["delivered"]) for line in lines] == [0, 1, 0]
    code, out, _ = run(capsys, "monitor", "status", "--monitoring", str(settings), "--json")
    assert [a["rule"] for a in out["active_alerts"]] == ["disk_usage_percent"]


def test_monitor_serve_answers_health_as_a_process(tmp_path: Path) -> None:
    """`resilience monitor serve --port 0` prints its URL, answers /health with 200 and stops on SIGTERM."""
    settings = tmp_path / "monitoring.json"
    settings.write_text(json.dumps({"database": "metrics.db", "check_interval_seconds": 0.2}))
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "monitor", "serve", "--port", "0", "--monitoring", str(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("monitor serving on http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        url = line.split()[3]
        with urllib.request.urlopen(url + "/health", timeout=30) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "healthy"
        with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
            assert b"resilience_alerts_active" in response.read()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGTERM  # stopped like every resilience server (chaos.cli.serving)
