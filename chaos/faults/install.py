"""``install.stale_lock`` and ``install.orphan_partial``: the leftovers a killed download leaves in an HF cache.

Both plant a file in a Hugging Face cache laid out as huggingface_hub 2.x does it (reference
huggingface-hub-downloads §3)::

    <root>/.locks/models--<org>--<name>/<etag>.lock
    <root>/models--<org>--<name>/blobs/<etag>.<8-hex>.incomplete      (style "2.x"; "1.x": <etag>.incomplete)

``root`` is the hub cache (``HF_HUB_CACHE``, i.e. ``$HF_HOME/hub``); it defaults to ``ctx.target["hf_cache"]``
or ``ctx.target["root"]``. On leaving the block the fault removes what it planted unless the target already
dealt with it, and records which (``cleaned_by``: ``"target"`` or ``"fault"``). A target that replaces the
file with its own (same path, another inode) is left alone. ``cleanup=False`` leaves the file in place: that
is residue, and ``verify_reverted`` reports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from chaos.errors import FaultArmError, FaultParamError
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl

__all__ = ["OrphanPartial", "StaleLock", "chaos_add_faults", "repo_folder"]

_POLL_S = 0.005  # how often the lock watcher looks at the file and /proc/locks
_LOCK_KINDS = ("held", "flock", "soft_dead_pid", "soft_other_host")
# The holder takes an exclusive flock and keeps it until its stdin closes (the fault's revert) or it is killed.
_HOLDER = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'a')\n"
    "fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def repo_folder(repo_id: str, repo_type: str = "model") -> str:
    """The cache folder name of a repo: ``"acme/tiny"`` -> ``"models--acme--tiny"``."""
    return f"{repo_type}s--" + repo_id.replace("/", "--")


def _inode(path: pathlib.Path) -> tuple[int, int, int] | None:
    """Identity of the file at ``path``: device, inode and ctime (inode numbers are reused at once)."""
    try:
        stat = path.lstat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_ctime_ns


def _atime(path: pathlib.Path) -> int | None:
    try:
        return path.lstat().st_atime_ns
    except OSError:
        return None


_IN_ACCESS, _IN_OPEN, _IN_ATTRIB, _IN_DELETE_SELF, _IN_MOVE_SELF = 0x1, 0x20, 0x4, 0x400, 0x800
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000


def _watch_opens(path: pathlib.Path) -> int:
    """A non-blocking inotify descriptor reporting opens/reads/changes of ``path``, or -1 where unavailable."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        return -1
    mask = _IN_ACCESS | _IN_OPEN | _IN_ATTRIB | _IN_DELETE_SELF | _IN_MOVE_SELF
    if libc.inotify_add_watch(fd, os.fsencode(path), mask) < 0:
        os.close(fd)
        return -1
    return fd


def _drain(fd: int) -> bool:
    """True when inotify events are waiting on ``fd`` (they are consumed)."""
    if fd < 0:
        return False
    try:
        return bool(os.read(fd, 4096))
    except BlockingIOError:
        return False


class _PlantedFile(Fault):
    """Shared plumbing: resolve the cache root, plant one file, age it, clean it up, report residue."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.path: pathlib.Path | None = None
        self.cleaned_by = ""
        self._identity: tuple[int, int, int] | None = None

    def _root(self, ctx: FaultContext) -> pathlib.Path:
        root = self.values["root"] or ctx.target.get("hf_cache") or ctx.target.get("root")
        if not root:
            message = (
                f"{self.name}.root='' and the scenario gave no target hf_cache/root; "
                "fix: pass root='/path/to/hf_home/hub'"
            )
            raise FaultParamError(message, fault=self.name, field="root", value="")
        self.values["root"] = str(root)
        return pathlib.Path(root)

    def _repo(self) -> str:
        repo_id = self.values["repo_id"]
        if repo_id.count("/") != 1 or repo_id.startswith("/") or repo_id.endswith("/"):
            message = f"{self.name}.repo_id={repo_id!r} must look like 'org/name'; fix: pass repo_id='acme/tiny-model'"
            raise FaultParamError(message, fault=self.name, field="repo_id", value=repo_id)
        return repo_folder(repo_id)

    def _etag(self, ctx: FaultContext) -> str:
        return self.values["etag"] or ctx.rng.randbytes(32).hex()

    def _plant(self, path: pathlib.Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            message = f"{self.name}: {path} already exists; fix: give another etag or start from a clean cache"
            raise FaultArmError(message, fault=self.name)
        path.write_bytes(data)
        aged = time.time() - self.values["age_s"]
        os.utime(path, (aged, aged))
        self.path = path
        self._identity = _inode(path)

    def _cleanup(self, ctx: FaultContext) -> None:
        if self.path is None:
            return
        now = _inode(self.path)
        if now is None:
            self.cleaned_by = "target"
        elif now != self._identity:
            self.cleaned_by = "target"  # replaced by the target's own file: that one is not ours to remove
        elif self.values["cleanup"]:
            self.path.unlink()
            self.cleaned_by = "fault"
        ctx.note(f"{self.name}.revert", path=str(self.path), cleaned_by=self.cleaned_by or "nobody")

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: the planted file (same inode) is still there."""
        if self.path is not None and self._identity is not None and _inode(self.path) == self._identity:
            return [
                f"{self.name}: planted file {self.path} is still there (neither the target nor the fault removed it)"
            ]
        return []


_COMMON = (
    Param("root", str, "", "hub cache dir (HF_HUB_CACHE); empty: ctx.target['hf_cache'] or ['root']"),
    Param("repo_id", str, "acme/tiny-model", "repo whose cache entry gets the file, 'org/name'"),
    Param("etag", str, "", "blob name (sha256 for LFS files); empty: a seeded 64-hex value"),
    Param("age_s", float, 3600.0, "how old the file looks (mtime set this far back)", minimum=0.0),
    Param("cleanup", bool, True, "remove the file on exit if the target left it (False: leaky, for tests)"),
)


class StaleLock(_PlantedFile):
    """A lock file left by a killed or hung download (see the module doc for the layout)."""

    name = "install.stale_lock"
    summary = "Leave a blob lock in the HF cache: held by a hung peer, a stale flock file or a SoftFileLock record."
    params = (
        *_COMMON,
        Param(
            "kind",
            str,
            "held",
            "held: a live peer holds the flock; flock: a 0-byte file as kill -9 leaves it; "
            "soft_dead_pid / soft_other_host: a SoftFileLock record of a dead local pid / another host",
            choices=_LOCK_KINDS,
        ),
        Param("lock_path", str, "", "explicit lock file (absolute or under root) instead of the repo/etag one"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.backend = self.values["kind"]
        self._holder: subprocess.Popen[str] | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._notify_fd = -1

    def _lock_path(self, ctx: FaultContext) -> pathlib.Path:
        root = self._root(ctx)
        lock_path: str = self.values["lock_path"]
        if lock_path:
            return root / lock_path
        return root / ".locks" / self._repo() / f"{self._etag(ctx)}.lock"

    def _content(self) -> bytes:
        kind = self.values["kind"]
        if kind == "soft_dead_pid":
            # A pid that surely ran and exited: a child we start and reap ourselves.
            dead = subprocess.Popen([sys.executable, "-c", ""])
            dead.wait()
            return f"{dead.pid}\n{socket.gethostname()}\n".encode()
        if kind == "soft_other_host":
            return f"{os.getpid()}\nchaos-other-host.invalid\n".encode()
        return b""

    def _contended(self, identity: tuple[int, int, int]) -> bool:
        """True when /proc/locks shows a lock or a waiter on our inode from a process other than our holder."""
        holder = self._holder.pid if self._holder is not None else -1
        inode_tag = f":{identity[1]}"
        # Lines look like "1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF"; a waiter has "->" after "1:".
        with contextlib.suppress(OSError), open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                for index, value in enumerate(fields[1:], start=1):
                    if value.endswith(inode_tag) and value.count(":") == 2:
                        pid = fields[index - 1]
                        if pid.isdigit() and int(pid) != holder:
                            return True
        return False

    def _watch(self, ctx: FaultContext, read_at: int | None, notify_fd: int) -> None:
        identity = self._identity
        path = self.path
        while identity is not None and path is not None and not self._stop.is_set():
            # Opened by anyone (inotify: filelock polls with LOCK_NB, which leaves no trace in /proc/locks),
            # replaced or removed, flocked or waited on (/proc/locks), or read (atime; the file is aged, so
            # relatime updates it on the first read) -- the last two cover machines without inotify.
            how = (
                "opened"
                if _drain(notify_fd)
                else "replaced or removed"
                if _inode(path) != identity
                else "locked or waited on"
                if self._contended(identity)
                else "read"
                if _atime(path) != read_at
                else ""
            )
            if how:
                self.triggered = True
                ctx.note("install.stale_lock.touched", path=str(path), how=how)
                return
            self._stop.wait(_POLL_S)

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Plant the lock (and start its holder for ``kind="held"``); leaving the block releases and removes it."""
        path = self._lock_path(ctx)
        self._plant(path, self._content())
        ctx.note("install.stale_lock", path=str(path), kind=self.values["kind"], age_s=self.values["age_s"])
        try:
            if self.values["kind"] == "held":
                self._holder = subprocess.Popen(
                    [sys.executable, "-c", _HOLDER, str(path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert self._holder.stdout is not None  # PIPE was requested just above
                if self._holder.stdout.readline().strip() != "locked":
                    raise FaultArmError(f"install.stale_lock: the lock holder could not lock {path}", fault=self.name)
            self._stop.clear()
            # Both taken before the block runs: the target may open the lock at once.
            self._notify_fd = _watch_opens(path)
            args = (ctx, _atime(path), self._notify_fd)
            self._watcher = threading.Thread(target=self._watch, args=args, name="chaos-stale-lock", daemon=True)
            self._watcher.start()
            yield
        finally:
            self._stop.set()
            if self._watcher is not None:
                self._watcher.join(timeout=5.0)
            if self._notify_fd >= 0:
                os.close(self._notify_fd)
                self._notify_fd = -1
            if self._holder is not None:
                self._stop_holder()
            self._cleanup(ctx)

    def _stop_holder(self) -> None:
        holder = self._holder
        assert holder is not None  # only called when a holder was started
        with contextlib.suppress(OSError):
            if holder.stdin is not None:
                holder.stdin.close()
        try:
            holder.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: the planted lock file, a live holder process or a running watcher."""
        residue = super().verify_reverted(ctx)
        if self._holder is not None and self._holder.poll() is None:
            residue.append(f"install.stale_lock: lock holder pid {self._holder.pid} is still running")
        if self._watcher is not None and self._watcher.is_alive():
            residue.append("install.stale_lock: the watcher thread is still running")
        return residue


class OrphanPartial(_PlantedFile):
    """An ``.incomplete`` blob as ``kill -9`` mid-download leaves it (see the module doc for the layout)."""

    name = "install.orphan_partial"
    summary = "Leave an orphan <etag>.<uuid>.incomplete blob (seeded bytes, aged) in the HF cache."
    params = (
        *_COMMON,
        Param("size_bytes", int, 1 << 20, "size of the partial file", minimum=0, maximum=1 << 30),
        Param("style", str, "2.x", "2.x: <etag>.<8-hex>.incomplete; 1.x: <etag>.incomplete", choices=("2.x", "1.x")),
    )

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Plant the partial blob; leaving the block removes it unless the target did."""
        etag = self._etag(ctx)
        suffix = f".{ctx.rng.randbytes(4).hex()}.incomplete" if self.values["style"] == "2.x" else ".incomplete"
        path = self._root(ctx) / self._repo() / "blobs" / f"{etag}{suffix}"
        self.backend = f"hf-cache-{self.values['style']}"
        self._plant(path, ctx.rng.randbytes(self.values["size_bytes"]))
        # Planting is the fault: from here on the cache carries an orphan the target must tolerate or collect.
        self.triggered = True
        ctx.note("install.orphan_partial", path=str(path), size_bytes=self.values["size_bytes"])
        try:
            yield
        finally:
            self._cleanup(ctx)


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``install.stale_lock`` and ``install.orphan_partial``."""
    registry.register(StaleLock)
    registry.register(OrphanPartial)
