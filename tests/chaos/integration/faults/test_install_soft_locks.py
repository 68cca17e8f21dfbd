"""install.stale_lock soft-lock kinds against real filelock and a real dead pid."""

from __future__ import annotations

import os
import pathlib
import socket

import pytest

from chaos.fault import FaultContext
from chaos.faults.install import StaleLock


def _ctx(tmp_path: pathlib.Path) -> FaultContext:
    return FaultContext.for_seed(3, tmp_path, target={"hf_cache": str(tmp_path / "hub")})


def test_soft_lock_records_look_like_filelock(tmp_path: pathlib.Path) -> None:
    """soft_* kinds write filelock's SoftFileLock record: '<pid>\\n<host>\\n' of a dead pid or another host."""
    dead = StaleLock(kind="soft_dead_pid", lock_path="x/dead.lock")
    other = StaleLock(kind="soft_other_host", lock_path="x/other.lock")
    ctx = _ctx(tmp_path)
    with dead.inject(ctx), other.inject(ctx):
        assert dead.path is not None
        assert other.path is not None
        pid, host = dead.path.read_text().splitlines()
        assert host == socket.gethostname()
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
        assert other.path.read_text().splitlines()[1] == "chaos-other-host.invalid"


def test_a_soft_lock_from_another_host_blocks_softfilelock(tmp_path: pathlib.Path) -> None:
    """filelock cannot break another host's record: a SoftFileLock user times out, and the fault saw it try."""
    from filelock import SoftFileLock, Timeout

    fault = StaleLock(kind="soft_other_host", lock_path="m.lock")
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        assert fault.path is not None
        with pytest.raises(Timeout):
            SoftFileLock(str(fault.path), timeout=0.05).acquire()
    assert fault.triggered
    (touched,) = [e for e in ctx.events if e["event"] == "install.stale_lock.touched"]
    assert touched["how"] in {"opened", "read"}  # filelock opens the record to read it: whichever is seen first
    assert fault.verify_reverted(ctx) == []
