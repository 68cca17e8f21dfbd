"""docs/embedding.md: every ```python runnable block runs, in order, in one namespace, in a temp directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "embedding.md"
BLOCK = re.compile(r"```python runnable\n(.*?)```", re.DOTALL)


def test_embedding_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedding guide's examples execute without error (they assert their own results)."""
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "embedding_doc"}
    for index, source in enumerate(blocks):
        code = compile(source, f"{DOC.name}[block {index}]", "exec")
        exec(code, namespace)  # running the documentation's own examples is the point


def test_the_reference_installer_heading_is_kept() -> None:
    """Another part appends the installer walkthrough under this heading; it must stay."""
    assert "\n## The reference installer\n" in DOC.read_text(encoding="utf-8")
