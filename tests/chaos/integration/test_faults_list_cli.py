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
