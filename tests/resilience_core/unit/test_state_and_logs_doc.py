"""docs/state-and-logs.md: every ```python runnable block runs, in order, in one namespace, in a temp directory."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "state-and-logs.md"
BLOCK = re.compile(r"```python runnable\n(.*?)```", re.DOTALL)


def test_state_and_logs_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state-and-logs guide's examples execute without error (they assert their own results)."""
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "state_and_logs_doc"}
    resilience_logger = logging.getLogger("resilience")
    handlers, level = list(resilience_logger.handlers), resilience_logger.level
    try:
        for index, source in enumerate(blocks):
            code = compile(source, f"{DOC.name}[block {index}]", "exec")
            exec(code, namespace)  # running the documentation's own examples is the point
    finally:
        resilience_logger.handlers[:] = handlers
        resilience_logger.setLevel(level)


def test_detection_table_covers_reference_corruptions() -> None:
    """The detection table lists every safetensors corruption row of reference fault-backends §4."""
    text = DOC.read_text(encoding="utf-8")
    for row in (
        "bit flip in tensor data",
        "zeroed 4 KiB range in data",
        "truncated (half, or only the last byte)",
        "trailing garbage",
        "truncated inside the header",
        "file < 8 B / empty",
        "length prefix bit flip (high byte)",
        "length prefix ±1",
        "bit flip in the JSON",
        "zeroed header bytes",
        "all-zero file of the right size",
        "HTML page or git-LFS pointer",
        "unknown dtype",
        "overlapping offsets",
        "offsets beyond the data",
        "header is a JSON array",
        "missing file",
    ):
        assert f"| {row}" in text, row
