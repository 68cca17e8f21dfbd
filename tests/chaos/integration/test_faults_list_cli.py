"""resilience faults list over the real registry, whose backend probes ask this machine."""

from __future__ import annotations

import json

import pytest

from chaos.cli import main


def test_faults_list_shows_params_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    """faults list prints each fault with its parameters; --json gives the same as data."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    assert main(["faults", "list"]) == 0
    text = capsys.readouterr().out
    assert "dns.fail  [available]  (chaos_dns_fault)" in text
    assert "    - error: str = 'noname' (one of noname|again)" in text
    assert main(["faults", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["dns.fail"]["unavailable"] is None
    assert rows["dns.fail"]["backends"] == {}


def test_faults_list_json_gives_parameters_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    """--json: each parameter is an object (name, type, default, required, bounds, choices, unit, doc), and
    each fault carries its capabilities."""
    assert main(["faults", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    params = {param["name"]: param for param in rows["network.latency"]["params"]}
    assert params["latency_ms"] == {
        "name": "latency_ms",
        "type": "int",
        "default": 0,
        "required": False,
        "minimum": 0,
        "maximum": 86_400_000,  # the toxic's own range (chaos.proxy.toxics.MS_MAX): one schema
        "choices": None,
        "unit": "ms",
        "doc": "time in milliseconds",
    }
    assert params["stream"]["choices"] == ["downstream", "upstream"]
    assert rows["network.latency"]["capabilities"] == {
        "needs_proxy": True,
        "checks_disk": False,
        "wraps_command": False,
        "targets_process": False,
    }
    assert rows["disk.full"]["capabilities"] == {
        "needs_proxy": False,
        "checks_disk": True,
        "wraps_command": True,
        "targets_process": False,
    }
    assert rows["process.kill"]["capabilities"]["targets_process"] is True
    assert rows["network.latency"]["overrides"] == []
    for row in rows.values():
        for param in row["params"]:
            assert set(param) == {"name", "type", "default", "required", "minimum", "maximum", "choices", "unit", "doc"}
