"""The Python examples in docs/proxy.md run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
