"""Several processes appending to one rotating JSON log lose and duplicate no record."""

from __future__ import annotations

import collections
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = """
import logging, sys
from resilience_core.state.logs import JsonLogHandler, get_logger
path, worker, count, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
handler = JsonLogHandler(path, max_bytes=max_bytes, backup_count=None, compress=True)
logger = logging.getLogger("mp")
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(handler)
log = get_logger("mp", operation="model_download")
for i in range(count):
    log.info("record %s %d", worker, i, attempt=1)
handler.close()
"""


def read_all_records(log_path: Path) -> list[dict[str, object]]:
    """Every JSON line in the live file and every rotated file, plain or gzipped."""
    records = []
    for path in sorted(log_path.parent.iterdir()):
        if not path.name.startswith(log_path.name) or path.name.endswith((".lock", ".tmp")):
            continue
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as stream:
            records.extend(json.loads(line) for line in stream)
    return records


@pytest.mark.slow
def test_four_processes_fifty_thousand_records_each_exactly_once(tmp_path: Path) -> None:
    """4 processes x 50k records across >= 50 rotations: every record is present exactly once, all gzipped."""
    log_path = tmp_path / "install.log"
    workers, count, max_bytes = 4, 50_000, 300_000
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(log_path), f"w{w}", str(count), str(max_bytes)])
        for w in range(workers)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    rotated = [p for p in tmp_path.iterdir() if p.name.startswith("install.log.") and p.name != "install.log.lock"]
    assert len(rotated) >= 50
    assert all(p.name.endswith(".gz") for p in rotated), "the last writer to close compresses every rotated file"
    counts = collections.Counter(str(r["message"]) for r in read_all_records(log_path))
    expected = {f"record w{w} {i}" for w in range(workers) for i in range(count)}
    assert set(counts) == expected
    assert max(counts.values()) == 1
