"""SIGKILL at random instants while writing, rotating and gzipping JSON logs never tears or loses a record."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from resilience_core.state.logs import JsonLogHandler, get_logger

KILLS = 120
MAX_BYTES = 8192  # about 40 records per file
# A kill comes once the writer acknowledged a drawn number of records (>= one file's worth, so the runs rotate
# more than KILLS times whatever the machine's speed), then after a drawn sub-delay that lands it at any instant
# of a write, a rotation or a gzip.
MIN_RECORDS, MAX_RECORDS = 45, 160
MAX_EXTRA_DELAY_S = 0.004
ROTATED = re.compile(r"app\.jsonl\.\d{8}T\d{6}\.\d{9}-\d+(\.gz)?$")


def writer(path: Path, run: int, ack_fd: int) -> None:
    """The child: log records (run, n) forever; after each one is written, acknowledge n on ``ack_fd``."""
    handler = JsonLogHandler(path, max_bytes=MAX_BYTES, backup_count=None, compress=True)
    base = logging.getLogger(f"crash.{run}")
    base.handlers[:] = [handler]
    base.setLevel(logging.INFO)
    base.propagate = False
    log = get_logger(f"crash.{run}", run=run)
    n = 0
    while True:
        log.info("record", n=n, pad="x" * 100)
        handler.flush()
        os.write(ack_fd, n.to_bytes(4, "little"))
        n += 1


def run_and_kill(path: Path, run: int, rng: random.Random) -> set[int]:
    """Fork a writer, SIGKILL it after a drawn number of records plus a drawn delay; return the record numbers it
    acknowledged."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_fd)
            writer(path, run, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    acked = bytearray()
    wanted = 4 * rng.randint(MIN_RECORDS, MAX_RECORDS)
    while len(acked) < wanted and (chunk := os.read(read_fd, wanted - len(acked))):
        acked += chunk
    time.sleep(rng.uniform(0, MAX_EXTRA_DELAY_S))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the writer ended before it was killed"
    while chunk := os.read(read_fd, 1 << 16):
        acked += chunk
    os.close(read_fd)
    return {int.from_bytes(acked[i : i + 4], "little") for i in range(0, len(acked) - len(acked) % 4, 4)}


def read_lines(path: Path) -> list[str]:
    """Every line of a live or rotated log file; each must end with a newline (no torn last line)."""
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a torn line"
    return data.decode().splitlines()


@pytest.mark.slow
def test_sigkill_while_logging_rotating_and_compressing_loses_and_tears_nothing(tmp_path: Path) -> None:
    """120 SIGKILLs mid-write/rotate/gzip: whole JSON lines, none twice, acknowledged ones kept, no temp left."""
    path = tmp_path / "logs" / "app.jsonl"
    rng = random.Random(20261122)
    acked: dict[int, set[int]] = {}
    for run in range(KILLS):
        acked[run] = run_and_kill(path, run, rng)
    # One clean start and close: it finishes the gzips and repairs a gzip the kill interrupted after its rename.
    JsonLogHandler(path, max_bytes=MAX_BYTES, backup_count=None, compress=True).close()
    names = sorted(p.name for p in path.parent.iterdir())
    rotated = [name for name in names if ROTATED.match(name)]
    assert all(name.endswith(".gz") for name in rotated), "every rotated file is compressed after a clean close"
    assert len(rotated) > KILLS, "the writers rotated many times"
    # No temp file of a gzip a kill interrupted is left: the next compressor of that file removes it.
    assert [n for n in names if n not in rotated] == ["app.jsonl", "app.jsonl.lock"]
    seen: dict[int, list[int]] = {run: [] for run in range(KILLS)}
    for name in ["app.jsonl", *rotated]:
        for line in read_lines(path.parent / name):
            record = json.loads(line)
            assert isinstance(record, dict)
            assert record["message"] == "record"
            seen[record["context"]["run"]].append(record["context"]["n"])
    for run in range(KILLS):
        found = sorted(seen[run])
        assert len(found) == len(set(found)), f"run {run}: a record appears twice"
        assert found == list(range(len(found))), f"run {run}: a record is missing before the last one written"
        assert acked[run] <= set(found), f"run {run}: an acknowledged record was lost"
    assert sum(len(s) for s in acked.values()) > KILLS * 10, "the writers wrote many records between kills"
