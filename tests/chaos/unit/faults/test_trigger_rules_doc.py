"""The rule per network fault is documented once per page that promises it, the same on both, for every fault."""

from __future__ import annotations

import pathlib
import re

from chaos.faults.network import NETWORK_FAULTS

DOCS = pathlib.Path(__file__).parents[4] / "docs"


def _rules(page: str) -> dict[str, str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    table = re.search(r"^\| fault \| fires when \|.*?\n((?:\|.*\n)+)", text, re.MULTILINE)
    assert table is not None, f"{page} has no trigger table"
    rows = [line for line in table.group(1).splitlines() if not line.startswith("|---")]
    return {row.split("|")[1].strip().strip("`"): row for row in rows}


def test_fault_plugins_and_builtin_faults_state_the_same_rule_for_every_network_fault() -> None:
    """docs/fault-plugins.md and docs/builtin-faults.md carry identical rows, one per network fault."""
    builtin, plugins = _rules("builtin-faults.md"), _rules("fault-plugins.md")
    assert set(builtin) == {fault.name for fault in NETWORK_FAULTS}
    assert plugins == builtin
