"""disk.full against the real kernel: ENOSPC in a private mount namespace, pyfakefs in-process, a real filler."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from chaos.errors import UnsupportedFault
from chaos.fault import FaultContext
from chaos.faults.disk import DiskFull, namespace_support

pytestmark = pytest.mark.integration

_NS_PREFIX, _NS_REASON = namespace_support()
needs_namespace = pytest.mark.skipif(_NS_PREFIX is None, reason=f"no private mount namespace here: {_NS_REASON}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs for the filler test needs root")

# The victim writes 300 kB into the directory and reports what the kernel said, and whether old files are visible.
VICTIM = """
import os, sys
root = sys.argv[1]
print("sees-existing", os.path.exists(os.path.join(root, "existing.txt")))
try:
    with open(os.path.join(root, "new.bin"), "wb") as f:
        f.write(b"x" * 300_000)
except OSError as e:
    print("errno", e.errno, "filename", e.filename)
    os.unlink(os.path.join(root, "new.bin"))
else:
    print("wrote all")
"""


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ctx(tmp_path: pathlib.Path, kind: str) -> FaultContext:
    return FaultContext.for_seed(11, tmp_path, target={"kind": kind})


def _models(tmp_path: pathlib.Path, *, existing: bool = True) -> pathlib.Path:
    models = tmp_path / "models"
    models.mkdir()
    if existing:
        (models / "existing.txt").write_text("weights already installed")
    return models


def _run(fault: DiskFull, models: pathlib.Path) -> subprocess.CompletedProcess[str]:
    argv, env = fault.wrap_command([sys.executable, "-c", VICTIM, str(models)], dict(os.environ))
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


@needs_namespace
def test_overlay_namespace_gives_real_enospc_and_keeps_existing_files(tmp_path: pathlib.Path) -> None:
    """The child gets the kernel's ENOSPC (filename None) while old files stay visible; the host sees nothing."""
    models = _models(tmp_path)
    fault = DiskFull(path=str(models), free_bytes=100_000)
    ctx = _ctx(tmp_path, "subprocess")
    with fault.inject(ctx):
        result = _run(fault, models)
    assert fault.backend == "overlay-namespace"
    assert "sees-existing True" in result.stdout
    assert "errno 28 filename None" in result.stdout, result.stderr
    assert fault.triggered
    assert sorted(p.name for p in models.iterdir()) == ["existing.txt"]
    assert fault.verify_reverted(ctx) == []
    (note,) = [e for e in ctx.events if e["event"] == "disk.full.namespace"]
    (status,) = note["runs"]
    assert status["rc"] == 0
    assert status["armed"] == 102_400  # free_bytes rounded up to 4 KiB pages
    assert status["min_free"] == 0
    assert status["exact"] == (1 if os.geteuid() == 0 else 0)  # fanotify as real root, inotify in a userns


@needs_namespace
def test_tmpfs_namespace_caps_inodes_too(tmp_path: pathlib.Path) -> None:
    """inodes=N on an empty dir: the child's (N)th create fails with ENOSPC although bytes are left."""
    models = _models(tmp_path, existing=False)
    fault = DiskFull(path=str(models), free_bytes=1 << 20, inodes=4)
    ctx = _ctx(tmp_path, "subprocess")
    creator = (
        "import os, sys\n"
        "for i in range(10):\n"
        "    try: open(os.path.join(sys.argv[1], str(i)), 'w').close()\n"
        "    except OSError as e: print('stopped at', i, e.errno); break\n"
    )
    with fault.inject(ctx):
        argv, env = fault.wrap_command([sys.executable, "-c", creator, str(models)], {})
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert fault.backend == "tmpfs-namespace"
    assert "stopped at" in result.stdout
    assert result.stdout.strip().endswith(" 28")
    assert list(models.iterdir()) == []
    assert fault.verify_reverted(ctx) == []


@needs_namespace
def test_wrapper_passes_the_exit_status_and_a_small_write_does_not_trigger(tmp_path: pathlib.Path) -> None:
    """A target that stays within free_bytes exits normally and the fault reports it did not fire."""
    models = _models(tmp_path)
    fault = DiskFull(path=str(models), free_bytes=1 << 20)
    ctx = _ctx(tmp_path, "subprocess")
    with fault.inject(ctx):
        argv, env = fault.wrap_command([sys.executable, "-c", "import sys; sys.exit(7)"], {})
        assert subprocess.run(argv, env=env, check=False, timeout=60).returncode == 7
    assert not fault.triggered
    assert fault.verify_reverted(ctx) == []


@needs_namespace
def test_killing_the_wrapper_kills_the_target_and_leaves_nothing(tmp_path: pathlib.Path) -> None:
    """SIGKILL of the wrapper (what process.kill does) takes the target down too; the namespace is gone."""
    models = _models(tmp_path)
    fault = DiskFull(path=str(models), free_bytes=1 << 20)
    ctx = _ctx(tmp_path, "subprocess")
    sleeper = "import os, sys, time; print(os.getpid(), flush=True); time.sleep(30)"
    with fault.inject(ctx):
        argv, env = fault.wrap_command([sys.executable, "-c", sleeper], {})
        wrapper = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        assert wrapper.stdout is not None
        target = psutil.Process(int(wrapper.stdout.readline()))
        wrapper.kill()
        assert wrapper.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while _running(target) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not _running(target)  # PR_SET_PDEATHSIG: the target dies with its supervisor
        wrapper.stdout.close()
    assert fault.verify_reverted(ctx) == []


@needs_namespace
def test_a_wrapped_command_still_running_is_residue(tmp_path: pathlib.Path) -> None:
    """Leaving the block while the wrapped target still runs (and holds its namespace) is reported."""
    models = _models(tmp_path)
    fault = DiskFull(path=str(models), free_bytes=1 << 20)
    ctx = _ctx(tmp_path, "subprocess")
    with fault.inject(ctx):
        argv, env = fault.wrap_command([sys.executable, "-c", "print('up', flush=True); input()"], {})
        wrapper = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert wrapper.stdout is not None
        assert wrapper.stdout.readline().strip() == "up"
    try:
        assert fault.verify_reverted(ctx) == [
            f"disk.full: wrapped command pid {wrapper.pid} (and its mount namespace) is still running"
        ]
    finally:
        wrapper.communicate(input="\n", timeout=10)
    assert fault.verify_reverted(ctx) == []


def test_wrap_command_outside_the_block_changes_nothing(tmp_path: pathlib.Path) -> None:
    """Before inject (or for in-process backends) the command and env come back unchanged."""
    fault = DiskFull(path=str(tmp_path))
    assert fault.wrap_command(["true"], {"A": "1"}) == (["true"], {"A": "1"})


def test_pyfakefs_gives_enospc_in_process_and_touches_no_real_file(tmp_path: pathlib.Path) -> None:
    """In-process: Python writes fail with ENOSPC on the fake fs, real files stay readable, the disk untouched."""
    pytest.importorskip("pyfakefs", reason="pyfakefs is not installed")
    models = _models(tmp_path)
    fault = DiskFull(path=str(models), free_bytes=100_000)
    ctx = _ctx(tmp_path, "inprocess")
    with fault.inject(ctx):
        assert (models / "existing.txt").read_text() == "weights already installed"
        with pytest.raises(OSError, match="No space left on device") as raised:
            (models / "new.bin").write_bytes(b"x" * 300_000)
        assert raised.value.errno == 28
    assert fault.backend == "pyfakefs"
    assert fault.triggered
    assert fault.refused_writes >= 1
    assert not (models / "new.bin").exists()
    assert fault.verify_reverted(ctx) == []


@contextlib.contextmanager
def _small_tmpfs(where: pathlib.Path, size: str = "8m") -> Iterator[pathlib.Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "chaos-test-small", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@needs_root
def test_filler_leaves_exactly_free_bytes_on_a_real_filesystem(tmp_path: pathlib.Path) -> None:
    """The filler backend takes all but free_bytes of a real (small) filesystem and removes itself on exit."""
    with _small_tmpfs(tmp_path / "small") as small:
        fault = DiskFull(path=str(small), free_bytes=100_000, backend="filler")
        ctx = _ctx(tmp_path, "inprocess")
        with fault.inject(ctx):
            assert os.statvfs(small).f_bfree * os.statvfs(small).f_frsize == 102_400
            with pytest.raises(OSError, match="No space left on device"):
                (small / "new.bin").write_bytes(b"x" * 300_000)
            (small / "new.bin").unlink()
        assert fault.triggered
        assert list(small.iterdir()) == []
        assert fault.verify_reverted(ctx) == []


def test_filler_refuses_to_fill_a_big_disk(tmp_path: pathlib.Path) -> None:
    """On a big filesystem the filler would hurt every process there: refused, naming the limit."""
    fault = DiskFull(path=str(tmp_path), free_bytes=0, backend="filler", max_filler_bytes=1 << 20)
    with pytest.raises(UnsupportedFault, match="max_filler_bytes"), fault.inject(_ctx(tmp_path, "inprocess")):
        pass
    assert list(tmp_path.iterdir()) == []


@needs_root
def test_a_mount_left_behind_is_residue(tmp_path: pathlib.Path) -> None:
    """verify_reverted reads /proc/self/mountinfo: a chaos-disk-full mount left under the fault's path is
    reported, by that fault only."""
    fault = DiskFull(path=str(tmp_path))
    leak = tmp_path / "leak"
    leak.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "chaos-disk-full", str(leak)], check=True)
    try:
        assert fault.verify_reverted(_ctx(tmp_path, "inprocess")) == [f"disk.full: mount left at {leak}"]
        # a disk.full elsewhere (a concurrent trial on another worker) does not report this mount as its own
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        assert DiskFull(path=str(elsewhere)).verify_reverted(_ctx(tmp_path, "inprocess")) == []
    finally:
        subprocess.run(["umount", str(leak)], check=True)
    assert fault.verify_reverted(_ctx(tmp_path, "inprocess")) == []


@needs_root
def test_a_leaky_filler_is_residue(tmp_path: pathlib.Path) -> None:
    """A variant that forgets to delete its filler is caught by verify_reverted."""

    class LeakyDiskFull(DiskFull):
        @contextlib.contextmanager
        def _arm_filler(self, ctx: FaultContext, path: pathlib.Path) -> Iterator[None]:
            with super()._arm_filler(ctx, path):
                yield
            assert self._filler is not None
            self._filler.write_bytes(b"left over")  # re-created after the real revert: the leak

    with _small_tmpfs(tmp_path / "small") as small:
        fault = LeakyDiskFull(path=str(small), free_bytes=4096, backend="filler")
        ctx = _ctx(tmp_path, "inprocess")
        with fault.inject(ctx):
            pass
        residue = fault.verify_reverted(ctx)
        assert len(residue) == 1
        assert "filler file" in residue[0]
        assert fault._filler is not None
        fault._filler.unlink()
