"""``disk.full``: the target runs out of disk space under ``path`` with only ``free_bytes`` left to write.

Three backends, picked by capability (``backend="auto"``) and reported in ``fault.backend``; each reaches
different code (reference fault-backends §1-2):

``overlay-namespace`` / ``tmpfs-namespace`` (subprocess targets; root, or ``unshare -rm`` as a user)
    :meth:`DiskFull.wrap_command` runs the target under ``unshare -m`` (private mount namespace) where ``path``
    is overlaid with a writable tmpfs layer of ``free_bytes`` (existing files stay visible; ``overlay``), or
    replaced by an empty tmpfs of that size (``tmpfs``). The real kernel answers: ENOSPC with
    ``filename=None``, short writes, deferred errors at ``close()``, for Python, C, Rust and any child process.
    The mount lives only in that namespace and vanishes with it; the host never sees it. Overwriting an
    existing file copies it up first, which counts its full size against ``free_bytes``.
``pyfakefs`` (in-process targets)
    The whole process sees a pyfakefs filesystem for the block; ``path`` and ``ctx.target["paths"]`` are mapped
    in from the real disk (writable, changes stay in memory) and ``path`` becomes a mount with ``free_bytes``
    left. Reaches Python file I/O only: not C/Rust I/O (safetensors ``save_file``), not subprocesses, not
    ``os.statvfs``/psutil. A full fake disk raises ``OSError(28)`` with the basename as ``filename``.
``filler`` (last resort, any target)
    A filler file under ``path`` takes all but ``free_bytes`` of the real filesystem and is removed on exit.
    Reaches everything, including every *other* process on that filesystem (parallel workers too), so it is
    refused when the filler would exceed ``max_filler_bytes``. As root it fills the root-reserved blocks too.

``triggered`` means the target ran the disk full: a write was refused (pyfakefs) or the free space was seen
at zero by a watcher process (``_diskwatch``; inside the namespace for namespace backends, beside this
process for the filler). As real root it uses fanotify and misses nothing; in a user namespace it falls back
to inotify, where a file filled and deleted within microseconds can escape it (``exact 0`` in the note).

>>> DiskFull(path="/srv/models", free_bytes=1 << 20, backend="auto").values["backend"]
'auto'
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from chaos.errors import FaultArmError, FaultParamError, UnsupportedFault
from chaos.fault import ORDER_NAMESPACE, Fault, FaultContext, FaultRegistry, Param
from chaos.faults import _diskwatch
from chaos.hookspecs import hookimpl
from resilience_core.paths import is_beneath

__all__ = ["BACKENDS", "DiskFull", "chaos_add_faults", "namespace_support"]

BACKENDS = ("auto", "overlay-namespace", "tmpfs-namespace", "pyfakefs", "filler")
_PAGE = 4096


@functools.cache
def namespace_support() -> tuple[list[str] | None, str]:
    """``(unshare prefix, reason)``: the prefix that gives a private mount namespace here, or None and why not.

    Root gets ``unshare -m``; a user gets ``unshare -rm`` (a user namespace mapping them to root) where the
    kernel allows it. Probed once per process (~10 ms) by mounting a tmpfs in a throwaway namespace.
    """
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return None, "unshare(1) or mount(8) is not installed (util-linux)"
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=4k chaos-probe $d && umount $d; rc=$?; rmdir $d; exit $rc"
    try:
        result = subprocess.run([*prefix, "sh", "-c", probe], check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{' '.join(prefix)} failed: {error}"
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        return None, f"{' '.join(prefix)} cannot mount a tmpfs here: {why[0]}"
    return prefix, ""


_OVERLAY_BY_DEVICE: dict[int, str | None] = {}


def _overlay_support(path: pathlib.Path) -> str | None:
    """None when an overlay over ``path`` mounts in a private namespace, else why not (cached per filesystem)."""
    device = path.stat().st_dev
    if device not in _OVERLAY_BY_DEVICE:
        _OVERLAY_BY_DEVICE[device] = _probe_overlay(str(path))
    return _OVERLAY_BY_DEVICE[device]


def _probe_overlay(path: str) -> str | None:
    prefix, why = namespace_support()
    if prefix is None:
        return why
    scratch = tempfile.mkdtemp(prefix="chaos-disk-probe-")
    script = (
        'mount -t tmpfs -o size=64k chaos-disk-full "$1" && mkdir "$1/u" "$1/w" && '
        'mount -t overlay chaos-disk-full -o "lowerdir=$2,upperdir=$1/u,workdir=$1/w" "$2"'
    )
    try:
        result = subprocess.run(
            [*prefix, "sh", "-c", script, "probe", scratch, path],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"overlay probe failed: {error}"
    finally:
        os.rmdir(scratch)
    if result.returncode != 0:
        return f"overlayfs over {path} does not mount here: {result.stderr.strip() or result.returncode}"
    return None


def _free_bytes(path: pathlib.Path, *, as_root: bool) -> int:
    stat = os.statvfs(path)
    return (stat.f_bfree if as_root else stat.f_bavail) * stat.f_frsize


def _our_mounts(marker: str) -> list[str]:
    """Mount points in this namespace whose source or mount point carries ``marker`` (mountinfo's octal
    escapes, ``\\040`` for a space, decoded)."""
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as info:
        return [_unescape(line.split()[4]) for line in info if marker in line]
    return []


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


class DiskFull(Fault):
    """Leave the target only ``free_bytes`` to write under ``path`` (backends: see the module doc)."""

    name = "disk.full"
    checks_disk = True
    wraps_command = True
    command_order = ORDER_NAMESPACE
    summary = "Run the disk full under a path: tmpfs/overlay in a mount namespace, pyfakefs, or a filler file."
    params = (
        Param("path", str, "", "directory the target writes to; empty: ctx.target['root'] or first of ['paths']"),
        Param(
            "free_bytes",
            int,
            0,
            "bytes the target may still write there (namespace: whole 4 KiB pages, >= 1)",
            minimum=0,
        ),
        Param("backend", str, "auto", "which mechanism; auto picks by target kind and capability", choices=BACKENDS),
        Param("inodes", int, 0, "namespace backends: cap the number of files too (0: no cap)", minimum=0),
        Param("max_filler_bytes", int, 8 << 30, "filler: refuse to write a bigger filler than this", minimum=0),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._dir: pathlib.Path | None = None  # namespace: host-side scratch + status; filler: the filler file
        self._filler: pathlib.Path | None = None
        self._path: pathlib.Path | None = None
        self._patcher: Any = None
        self._real_stat: Any = None
        self._watcher: subprocess.Popen[str] | None = None
        self._runs: list[dict[str, int]] = []
        self.refused_writes = 0

    @classmethod
    def availability(cls) -> str | None:
        """None: the filler backend works on any writable filesystem (the others are probed at inject)."""
        return None

    @classmethod
    def backends(cls) -> dict[str, str | None]:
        """Each backend and why it cannot run here (None: it can)."""
        namespace = None if namespace_support()[0] is not None else namespace_support()[1]
        return {
            "overlay-namespace": namespace,
            "tmpfs-namespace": namespace,
            "pyfakefs": "pyfakefs is not installed" if _pyfakefs_missing() else None,
            "filler": None,
        }

    # -- choosing -------------------------------------------------------------------------------------------

    def _target_path(self, ctx: FaultContext) -> pathlib.Path:
        path = self.values["path"] or ctx.target.get("root") or next(iter(ctx.target.get("paths") or ()), "")
        if not path:
            message = "disk.full.path='' and the scenario gave no target root/paths; fix: pass path='/dir/written'"
            raise FaultParamError(message, fault=self.name, field="path", value="")
        resolved = pathlib.Path(path).resolve()
        if not resolved.is_dir():
            message = f"disk.full.path={str(path)!r} is not an existing directory; fix: create it before injecting"
            raise FaultArmError(message, fault=self.name)
        self.values["path"] = str(resolved)
        return resolved

    def _choose(self, ctx: FaultContext, path: pathlib.Path) -> str:
        wanted = self.values["backend"]
        if wanted != "auto":
            if wanted.endswith("-namespace") and namespace_support()[0] is None:
                raise UnsupportedFault(f"disk.full backend {wanted}: {namespace_support()[1]}")
            if wanted == "pyfakefs" and _pyfakefs_missing():
                raise UnsupportedFault("disk.full backend pyfakefs: pyfakefs is not installed (pip install pyfakefs)")
            return str(wanted)
        if ctx.target.get("kind") == "subprocess" and namespace_support()[0] is not None:
            if not any(path.iterdir()):
                return "tmpfs-namespace"
            why = _overlay_support(path)
            if why is None:
                return "overlay-namespace"
            ctx.note("disk.full.overlay_unavailable", reason=why)  # a bare tmpfs would hide the existing files
        if ctx.target.get("kind") != "subprocess" and not _pyfakefs_missing():
            return "pyfakefs"
        return "filler"

    # -- inject ---------------------------------------------------------------------------------------------

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Arm the chosen backend; namespace backends take effect through :meth:`wrap_command`."""
        path = self._target_path(ctx)
        self._path = path
        self.backend = self._choose(ctx, path)
        ctx.note("disk.full.armed", backend=self.backend, path=str(path), free_bytes=self.values["free_bytes"])
        arm = {
            "pyfakefs": self._arm_pyfakefs,
            "filler": self._arm_filler,
        }.get(self.backend, self._arm_namespace)
        with arm(ctx, path):
            yield

    @contextlib.contextmanager
    def _arm_namespace(self, ctx: FaultContext, path: pathlib.Path) -> Iterator[None]:
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        self._dir = pathlib.Path(tempfile.mkdtemp(prefix="chaos-disk-full-", dir=ctx.workdir))
        (self._dir / "mnt").mkdir()
        try:
            yield
        finally:
            self._runs = self._read_runs()
            lowest = [run["min_free"] for run in self._runs if "min_free" in run]
            self.triggered = bool(lowest) and min(lowest) < _PAGE
            ctx.note("disk.full.namespace", runs=self._runs)
            shutil.rmtree(self._dir, ignore_errors=True)

    def fired_now(self) -> bool:
        """Namespace backends: whether a wrapped run has seen its disk full so far (read from the status file)."""
        if self.triggered or self._dir is None or not self.backend.endswith("-namespace"):
            return self.triggered
        lowest = [run["min_free"] for run in self._read_runs() if "min_free" in run]
        return bool(lowest) and min(lowest) < _PAGE

    def _read_runs(self) -> list[dict[str, int]]:
        """One dict per wrapped run from the status file (``pid``, ``armed``, ``min_free``, ``rc``, ...)."""
        runs: list[dict[str, int]] = []
        if self._dir is None:
            return runs
        with contextlib.suppress(OSError), open(self._dir / "status") as status:
            for line in status:
                key, _, value = line.partition(" ")
                with contextlib.suppress(ValueError):
                    if key == "pid":
                        runs.append({})
                    if runs:
                        runs[-1][key] = int(value)
        return runs

    def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Run ``argv`` in a private mount namespace where ``path`` has only ``free_bytes`` left.

        Only for the namespace backends, and only inside the ``inject`` block; other backends return the command
        unchanged (they act on this process or the real disk). The wrapper exits with the target's status.
        """
        if not self.backend.endswith("-namespace") or self._dir is None or self._path is None:
            return argv, env
        prefix, _why = namespace_support()
        assert prefix is not None  # checked when the backend was chosen
        size = max(_PAGE, -(-self.values["free_bytes"] // _PAGE) * _PAGE)
        mode = "tmpfs" if self.backend == "tmpfs-namespace" else "overlay"
        supervisor = [
            sys.executable,
            "-I",
            _diskwatch.__file__,
            mode,
            str(self._path),
            str(size),
            str(self.values["inodes"]),
        ]
        wrapped = [*prefix, *supervisor, str(self._dir / "mnt"), str(self._dir / "status"), "--", *argv]
        return wrapped, env

    @contextlib.contextmanager
    def _arm_pyfakefs(self, ctx: FaultContext, path: pathlib.Path) -> Iterator[None]:
        from pyfakefs.fake_filesystem_unittest import Patcher

        self._real_stat = os.stat
        extra = [pathlib.Path(p).resolve() for p in ctx.target.get("paths") or () if pathlib.Path(p).exists()]
        # Decide dir-or-file on the real disk, before the patcher hides it.
        mapped = {real: real.is_dir() for real in {path, *extra}}
        with Patcher() as patcher:
            self._patcher = patcher
            fs = patcher.fs
            assert fs is not None  # Patcher.__enter__ sets it
            for real, is_dir in mapped.items():
                if is_dir:
                    fs.add_real_directory(str(real), read_only=False)
                else:
                    fs.add_real_file(str(real), read_only=False)
            fs.add_mount_point(str(path), can_exist=True)
            used = fs.get_disk_usage(str(path))[1]  # (total, used, free)
            fs.set_disk_usage(used + self.values["free_bytes"], str(path))
            change_disk_usage = fs.change_disk_usage

            def counting(usage_change: int, file_path: Any, st_dev: int) -> None:
                try:
                    change_disk_usage(usage_change, file_path, st_dev)
                except OSError:
                    self.refused_writes += 1
                    self.triggered = True
                    raise

            fs.change_disk_usage = counting  # type: ignore[method-assign]  # count refusals: that is "triggered"
            try:
                yield
            finally:
                self._patcher = None
        ctx.note("disk.full.pyfakefs", refused_writes=self.refused_writes)

    @contextlib.contextmanager
    def _arm_filler(self, ctx: FaultContext, path: pathlib.Path) -> Iterator[None]:
        as_root = os.geteuid() == 0
        baseline = _free_bytes(path, as_root=as_root)
        filler_bytes = baseline - -(-self.values["free_bytes"] // _PAGE) * _PAGE
        if filler_bytes > self.values["max_filler_bytes"]:
            raise UnsupportedFault(
                f"disk.full filler: {path} has {baseline} bytes free; leaving {self.values['free_bytes']} needs a "
                f"{filler_bytes}-byte filler > max_filler_bytes={self.values['max_filler_bytes']}; use a namespace "
                "backend or a smaller filesystem for path"
            )
        self._filler = path / f".chaos-disk-full-{ctx.rng.randbytes(4).hex()}.filler"
        try:
            if filler_bytes > 0:
                _allocate(self._filler, filler_bytes)
            self._watcher = subprocess.Popen(
                [sys.executable, "-I", _diskwatch.__file__, "watch", str(path), "1" if as_root else "0"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._watcher.stdout is not None  # PIPE was requested
            if self._watcher.stdout.readline().strip() != "ready":
                raise UnsupportedFault(f"disk.full filler: the free-space watcher did not start for {path}")
            yield
        finally:
            lowest = self._stop_watcher()
            with contextlib.suppress(FileNotFoundError):
                self._filler.unlink()
            self.triggered = lowest is not None and lowest < _PAGE
            ctx.note("disk.full.filler", filler_bytes=max(0, filler_bytes), baseline_free=baseline, min_free=lowest)

    def _stop_watcher(self) -> int | None:
        """Stop the watcher process; the lowest free space it saw (None if it never ran)."""
        watcher = self._watcher
        if watcher is None:
            return None
        try:
            out, _err = watcher.communicate(input="", timeout=10.0)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
            return None
        fields = out.split()
        return int(fields[0]) if len(fields) == 3 and fields[0].isdigit() else None

    # -- verify ---------------------------------------------------------------------------------------------

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: a mount of ours left in this namespace, a namespace still running, the filler, pyfakefs."""
        # Only mounts at or under this fault's own path and scratch dir are its residue: a concurrent trial's
        # disk.full (another xdist worker, another thread) mounts elsewhere and is that fault's to report.
        own = [pathlib.Path(root) for root in (self.values["path"], self._dir) if root]
        residue = [
            f"disk.full: mount left at {point}"
            for point in _our_mounts("chaos-disk-full")
            if any(is_beneath(root, point) for root in own)
        ]
        if self._dir is not None and self._dir.exists():
            residue.append(f"disk.full: scratch dir {self._dir} was not removed")
        residue.extend(
            f"disk.full: wrapped command pid {run['pid']} (and its mount namespace) is still running"
            for run in self._runs
            if "rc" not in run and _alive(run.get("pid", 0))
        )
        if self._filler is not None and self._filler.exists():
            residue.append(f"disk.full: filler file {self._filler} was not removed")
        if self._watcher is not None and self._watcher.poll() is None:
            residue.append(f"disk.full: the free-space watcher (pid {self._watcher.pid}) is still running")
        if self._real_stat is not None and os.stat is not self._real_stat:
            residue.append("disk.full: pyfakefs is still patched into os")
        return residue


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has let go of its namespace: not alive)."""
    import psutil

    try:
        return pid > 0 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pyfakefs_missing() -> bool:
    try:
        import pyfakefs  # noqa: F401  # probing availability only
    except ImportError:
        return True
    return False


def _allocate(path: pathlib.Path, size_bytes: int) -> None:
    """Reserve ``size_bytes`` for ``path``: fallocate where the filesystem has it, written zeros otherwise."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size_bytes)
        except OSError as error:
            if error.errno not in {errno.EOPNOTSUPP, errno.EINVAL}:
                raise
            chunk = bytes(1 << 20)
            left = size_bytes
            while left > 0:
                left -= os.write(fd, chunk[: min(left, len(chunk))])
    except BaseException:
        os.close(fd)
        path.unlink()
        raise
    os.close(fd)


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``disk.full``."""
    registry.register(DiskFull)
