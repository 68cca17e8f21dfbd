"""Free-space watching for ``disk.full``, and the supervisor it runs inside a private mount namespace.

Standalone on purpose (standard library only, no ``chaos`` import): ``disk.full`` runs this file by path as
the target's supervisor under ``unshare -m``, where the harness package may not be importable.

A disk that is full only for a moment is easy to miss: a write fills the filesystem, the next write fails and
the writer deletes its partial file a few microseconds later. So the watcher does not only poll ``statvfs``:

- as real root it uses fanotify on the mount: every write event pins the written file until the watcher has
  read the event and sampled ``statvfs``, so no moment of fullness is missed (exact);
- otherwise (a user namespace) it reads inotify events under the tree, samples after each one, and holds a
  read-only descriptor on each file created there until it sees the deletion (best effort: a file created,
  filled and deleted before the watcher opens it escapes);
- and it polls ``statvfs`` every 50 ms in any case.

Pinned files give their blocks back a few microseconds after the target deletes them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import struct
import subprocess
import sys
import threading

_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_MAX_HELD = 256  # open files held at once (see FreeSpaceWatcher)
_IN_ISDIR = 0x40000000
_IN_Q_OVERFLOW = 0x4000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
_FAN_CLOEXEC = 0x1
_FAN_NONBLOCK = 0x2
_FAN_MODIFY = 0x2
_FAN_MARK_ADD = 0x1
_FAN_MARK_MOUNT = 0x10
_AT_FDCWD = -100
_FAN_EVENT = struct.Struct("IBBHQii")  # fanotify_event_metadata: len, vers, reserved, metadata_len, mask, fd, pid
_POLL_S = 0.05  # statvfs at least this often even without events (writes outside inotify's view)


class FreeSpaceWatcher:
    """The lowest free space (bytes) seen on the filesystem holding ``root`` while started.

    ``as_root``: count root-reserved blocks as free (``f_bfree``), else what a user may use (``f_bavail``).
    """

    def __init__(self, root: str, *, as_root: bool = False) -> None:
        self.root = root
        self.as_root = as_root
        self.lowest = self.free()
        self.events = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # stop() writes here so select returns at once
        self._thread: threading.Thread | None = None
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._dirs: dict[int, str] = {}
        self._held: dict[str, int] = {}
        self._fd = self._fanotify(root)
        self.mechanism = "fanotify"
        if self._fd < 0:
            self.mechanism = "inotify"
            self._fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            for dirpath, _dirs, _files in os.walk(root) if self._fd >= 0 else ():
                self._add(dirpath)
        if self._fd < 0:
            self.mechanism = "poll"

    def _fanotify(self, root: str) -> int:
        """A fanotify group watching writes on the whole mount holding ``root``, or -1 (needs real root).

        fanotify is exact where inotify races: each event pins the written file until the event is read, so a
        file that filled the disk and was deleted at once still counts when the watcher samples.
        """
        self._libc.fanotify_mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        fd = int(self._libc.fanotify_init(_FAN_CLOEXEC | _FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE))
        if fd < 0:
            return -1
        if self._libc.fanotify_mark(fd, _FAN_MARK_ADD | _FAN_MARK_MOUNT, _FAN_MODIFY, _AT_FDCWD, os.fsencode(root)) < 0:
            os.close(fd)
            return -1
        return fd

    def free(self) -> int:
        """Free bytes now."""
        stat = os.statvfs(self.root)
        return (stat.f_bfree if self.as_root else stat.f_bavail) * stat.f_frsize

    def _add(self, path: str) -> None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _MASK)
        if wd >= 0:
            self._dirs[wd] = path

    def _sample(self) -> None:
        with contextlib.suppress(OSError):
            self.lowest = min(self.lowest, self.free())

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._fd < 0:
                self._stop.wait(_POLL_S / 50)
                self._sample()
                continue
            ready, _w, _x = select.select([self._fd, self._wake_r], [], [], _POLL_S)
            if self._wake_r in ready:
                ready = [self._fd]  # drain what is queued once more before stopping
            self._sample()
            if not ready:
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            if self.mechanism == "fanotify":
                self._fanotify_events(data)
                continue
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                self.events += 1
                if wd not in self._dirs:
                    continue
                path = os.path.join(self._dirs[wd], os.fsdecode(name))
                if mask & _IN_ISDIR:
                    if mask & (_IN_CREATE | _IN_MOVED_TO):
                        self._add(path)
                elif mask & (_IN_DELETE | _IN_MOVED_FROM):
                    self._sample()  # before letting go: the deleted file's blocks still count
                    with contextlib.suppress(KeyError, OSError):
                        os.close(self._held.pop(path))
                elif mask & (_IN_CREATE | _IN_MOVED_TO | _IN_MODIFY) and path not in self._held:
                    if len(self._held) >= _MAX_HELD:
                        continue
                    with contextlib.suppress(OSError):
                        self._held[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            self._sample()

    def _fanotify_events(self, data: bytes) -> None:
        offset = 0
        while offset + _FAN_EVENT.size <= len(data):
            length, _vers, _reserved, _meta, _mask, fd, _pid = _FAN_EVENT.unpack_from(data, offset)
            offset += max(length, _FAN_EVENT.size)
            self.events += 1
            self._sample()  # while the event's descriptor still pins the written file
            if fd >= 0:
                os.close(fd)

    def start(self) -> FreeSpaceWatcher:
        """Start watching in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="chaos-disk-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop watching; returns the lowest free space seen (including a last sample now)."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._sample()
        for held in self._held.values():
            with contextlib.suppress(OSError):
                os.close(held)
        self._held.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for end in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(end)
        return self.lowest

    @property
    def alive(self) -> bool:
        """True while the watcher thread runs."""
        return self._thread is not None and self._thread.is_alive()


def _mount(mode: str, target: str, size: str, inodes: str, scratch: str) -> None:
    opts = f"size={size}" + (f",nr_inodes={inodes}" if inodes != "0" else "")
    if mode == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "chaos-disk-full", target], check=True)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "chaos-disk-full", scratch], check=True)
    os.mkdir(scratch + "/upper")
    os.mkdir(scratch + "/work")
    layers = f"lowerdir={target},upperdir={scratch}/upper,workdir={scratch}/work"
    subprocess.run(["mount", "-t", "overlay", "chaos-disk-full", "-o", layers, target], check=True)


def supervise(argv: list[str]) -> int:
    """``MODE TARGET SIZE INODES SCRATCH STATUS -- COMMAND...``: mount, run COMMAND, report, exit with its status.

    Runs as uid 0 inside a private mount namespace. Each run appends to the status file: ``pid <pid>``, then
    ``armed <free bytes>`` once mounted (or ``mount_failed 1``, exit 125), and when the command ends
    ``min_free <bytes>``, ``events <n>``, ``exact <1 with fanotify, 0 otherwise>`` and ``rc <status>``.
    """
    mode, target, size, inodes, scratch, status = argv[:6]
    command = argv[7:]
    with open(status, "a") as out:
        out.write(f"pid {os.getpid()}\n")
    try:
        _mount(mode, target, size, inodes, scratch)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"chaos disk.full: cannot mount the {mode} layer over {target}: {error}", file=sys.stderr)
        with open(status, "a") as out:
            out.write("mount_failed 1\nrc 125\n")
        return 125
    watcher = FreeSpaceWatcher(target, as_root=True)
    with open(status, "a") as out:
        out.write(f"armed {watcher.lowest}\n")
    libc = ctypes.CDLL(None, use_errno=True)
    # PR_SET_PDEATHSIG (1): if this supervisor is SIGKILLed, the target dies with it, as a killed install would.
    child = subprocess.Popen(command, preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))  # noqa: PLW1509  # prctl only
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: child.send_signal(number))
    watcher.start()
    rc = child.wait()
    lowest = watcher.stop()
    with open(status, "a") as out:
        exact = int(watcher.mechanism == "fanotify")
        out.write(f"min_free {lowest}\nevents {watcher.events}\nexact {exact}\nrc {rc}\n")
    if rc < 0:
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc


def watch(argv: list[str]) -> int:
    """``watch ROOT AS_ROOT``: print ``ready``, watch until stdin closes, then ``<lowest free> <events> <mechanism>``.

    A separate process, so that the watcher reacts while the target (in the harness process) holds the GIL.
    """
    watcher = FreeSpaceWatcher(argv[0], as_root=argv[1] == "1").start()
    print("ready", flush=True)
    sys.stdin.read()
    lowest = watcher.stop()
    print(lowest, watcher.events, watcher.mechanism, flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["watch"]:
        sys.exit(watch(sys.argv[2:]))
    sys.exit(supervise(sys.argv[1:]))
