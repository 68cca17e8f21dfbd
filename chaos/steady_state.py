"""Built-in steady-state checks run after every trial: nothing half-written is left under the watched roots.

A watched root is a directory the scenario's target writes to (a model cache, a site-packages). After the
trial the harness reports as residue:

- leftover temporary or partial files (``*.incomplete``, ``*.part``, ``*.partial``, ``*.tmp``, ``*.temp``);
- lock files still *held* by someone (an unheld ``*.lock`` file is normal: filelock leaves them behind);
- free disk space that did not come back: the filesystem lost more than the tree grew, beyond a tolerance
  (a fault's ballast file that was never deleted). By default (``check_disk=None``) this runs only for trials
  that armed a fault declaring the ``checks_disk`` capability (``disk.full``): free space is machine-wide, and
  parallel workers or other processes move it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pathlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_LEFTOVERS", "DISK_TOLERANCE_BYTES", "WatchedRoot", "lock_is_held"]

DEFAULT_LEFTOVERS = ("*.incomplete", "*.part", "*.partial", "*.tmp", "*.temp", "*.lock")
# Other processes share the filesystem; only a loss well beyond normal noise counts as residue.
DISK_TOLERANCE_BYTES = 64 * 1024 * 1024


def _tree_size_bytes(root: pathlib.Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def _free_bytes(root: pathlib.Path) -> int | None:
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def lock_is_held(path: pathlib.Path) -> bool:
    """Whether someone holds an flock on ``path`` (filelock's and huggingface_hub's locks are flocks)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@dataclass
class WatchedRoot:
    """A directory checked for leftovers after the trial; the baseline is taken at construction.

    ``check_disk``: True / False force the free-space check on or off; None leaves it to :meth:`check`'s caller.
    """

    path: pathlib.Path
    leftovers: tuple[str, ...] = DEFAULT_LEFTOVERS
    ignore: tuple[str, ...] = ()
    check_disk: bool | None = None
    tolerance_bytes: int = DISK_TOLERANCE_BYTES
    # the free-space probe is a seam: tests on a shared machine cannot keep other processes off the disk
    probe_free_bytes: Callable[[pathlib.Path], int | None] = field(default=_free_bytes, repr=False)
    _tree_bytes: int = field(default=0, init=False)
    _free_bytes: int | None = field(default=None, init=False)
    _existing: frozenset[str] = field(default=frozenset(), init=False)

    def __post_init__(self) -> None:
        self.path = pathlib.Path(self.path)
        self._existing = frozenset(self._matches())
        if self.check_disk is not False:
            self._tree_bytes = _tree_size_bytes(self.path) if self.path.exists() else 0
            self._free_bytes = self.probe_free_bytes(self.path)

    def _matches(self) -> list[str]:
        found: list[str] = []
        if not self.path.exists():
            return found
        for dirpath, _dirnames, filenames in os.walk(self.path):
            for name in filenames:
                relative = os.path.relpath(os.path.join(dirpath, name), self.path)
                if any(fnmatch.fnmatch(name, pattern) for pattern in self.ignore):
                    continue
                if any(fnmatch.fnmatch(name, pattern) for pattern in self.leftovers):
                    found.append(relative)
        return sorted(found)

    def check(self, *, disk: bool = False) -> list[str]:
        """Residue descriptions for this root; ``[]`` when it is clean (pre-existing leftovers are ignored).

        ``disk`` turns the free-space check on when ``check_disk`` is None.
        """
        problems = []
        for relative in self._matches():
            if relative in self._existing:
                continue
            path = self.path / relative
            if relative.endswith(".lock"):
                if lock_is_held(path):
                    problems.append(f"lock still held: {path}")
                continue
            problems.append(f"leftover file: {path}")
        wants_disk = self.check_disk if self.check_disk is not None else disk
        if wants_disk and self._free_bytes is not None:
            free_now = self.probe_free_bytes(self.path)
            if free_now is not None:
                grown = (_tree_size_bytes(self.path) if self.path.exists() else 0) - self._tree_bytes
                unaccounted = self._free_bytes - free_now - grown
                if unaccounted > self.tolerance_bytes:
                    problems.append(
                        f"disk usage not back to baseline under {self.path}: {unaccounted} bytes of free space "
                        "lost beyond what the tree grew (a ballast file left behind?)"
                    )
        return problems
