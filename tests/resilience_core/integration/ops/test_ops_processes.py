"""Across processes: the SQLite store under 4 concurrent writers and a SIGKILL mid-write; flag answers that
do not change from one interpreter to the next."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from resilience_core.monitor import MetricsStore, Monitor, Sample, ThresholdRule

ROOT = Path(__file__).resolve().parents[4]
BATCH = 50

# Writes batches of BATCH samples named after the writer, forever or `rounds` times; prints each committed batch.
WRITER = r"""
import sys, time
from resilience_core.monitor import MetricsStore, Sample
path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = MetricsStore(path, busy_timeout_s=60)
done = 0
while rounds < 0 or done < rounds:
    store.write([Sample(name, float(done * BATCH + i), ts=time.time()) for i in range(BATCH)])
    done += 1
    print(done, flush=True)
""".replace("BATCH", str(BATCH))


def _writer(db: Path, name: str, rounds: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), name, str(rounds)], stdout=subprocess.PIPE, text=True, env=env
    )


def test_four_concurrent_writers_and_a_sigkill_mid_write(tmp_path: Path) -> None:
    """Four processes write at once while a fifth is SIGKILLed mid-stream: no write is lost, none half-done,
    the file passes integrity_check, and the store keeps working (a monitor raises its alert on it)."""
    db = tmp_path / "metrics.db"
    MetricsStore(db)  # the schema, created once before the race
    victim = _writer(db, "victim", -1)
    writers = [_writer(db, f"w{i}", 40) for i in range(4)]
    assert victim.stdout is not None
    for _ in range(5):  # let it commit a few batches, then kill it while it keeps writing
        victim.stdout.readline()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(30)
    for writer in writers:
        out, _ = writer.communicate(timeout=240)
        assert writer.returncode == 0, out
        assert out.split()[-1] == "40"
    store = MetricsStore(db)
    assert store.integrity_check() == "ok"
    for i in range(4):
        values = sorted(s.value for s in store.query(f"w{i}", since=0))
        assert values == [float(v) for v in range(40 * BATCH)]
    assert store.count("victim") % BATCH == 0  # every batch whole: committed or not there
    assert store.count("victim") >= 5 * BATCH
    monitor = Monitor(
        store,
        [lambda t: [Sample("disk_usage_percent", 99.0, ts=t)]],
        [ThresholdRule("disk_usage_percent", critical=95)],
    )
    assert len(monitor.tick(now=time.time()).raised) == 1


ANSWERS = r"""
import json, sys
from resilience_core.flags import FeatureFlags
flags = FeatureFlags.from_mapping({"gradual": {"rollout_percentage": 25}})
print(json.dumps([flags.is_enabled("gradual", install_id=f"machine-{i}") for i in range(500)]))
"""


def test_one_ids_answer_is_stable_across_processes() -> None:
    """Three interpreters with different hash seeds give every id the same answer (sha256, not hash())."""
    answers = []
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", ANSWERS], capture_output=True, text=True, env=env, check=True)
        answers.append(json.loads(out.stdout))
    assert answers[0] == answers[1] == answers[2]
    assert 0.15 < sum(answers[0]) / 500 < 0.35
