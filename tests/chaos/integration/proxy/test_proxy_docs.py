"""docs/proxy.md: its Python examples run as written, in order, and its attribute tables match the toxic fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chaos.proxy.kinds import KINDS

DOC = Path(__file__).resolve().parents[4] / "docs" / "proxy.md"


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/proxy.md executes without error."""
    toxiproxy_api = pytest.importorskip("toxiproxy.api", reason="toxiproxy-python is in the dev extra")
    monkeypatch.setattr(toxiproxy_api.APIConsumer, "host", toxiproxy_api.APIConsumer.host)
    monkeypatch.setattr(toxiproxy_api.APIConsumer, "port", toxiproxy_api.APIConsumer.port)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_proxy"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{DOC.name}#python-{number}", "exec"), namespace)  # the doc's own code


def _table_rows(section: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row] for row in rows]


def test_docs_attribute_tables_match_the_toxic_fields() -> None:
    """Each toxic's table lists exactly its fields, with the unit, default and range the API enforces."""
    text = DOC.read_text(encoding="utf-8")
    toxics = text[text.index("## Toxics") : text.index("### When a toxic fires")]
    for kind in KINDS.values():
        section = re.search(rf"^### {kind.type_name}\b.*?(?=^### |\Z)", toxics, flags=re.S | re.M)
        assert section is not None, f"no section for toxic {kind.type_name}"
        expected = [
            [
                f"`{f.name}`",
                f.unit or ("number" if f.kind is float else ""),
                str(f.default),
                f"{f.minimum}..{f.maximum}",
                f.doc,
            ]
            for f in kind.fields
        ]
        assert _table_rows(section.group(0)) == expected, kind.type_name


def test_docs_firing_rules_cover_every_toxic() -> None:
    """The "When a toxic fires" table has one row per registered toxic type."""
    text = DOC.read_text(encoding="utf-8")
    rules = text[text.index("### When a toxic fires") : text.index("### Custom toxics")]
    assert [row[0].strip("`") for row in _table_rows(rules)] == list(KINDS)
