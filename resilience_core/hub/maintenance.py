"""``models gc`` and ``models status``: clean what interrupted downloads leave behind, and report state.

Leftovers an interrupted download leaves in a huggingface_hub cache (reference §3, §5):

- ``blobs/<etag>.<uuid8>.incomplete``: huggingface_hub 2.x temp files, never reused once their process died;
- ``blobs/<etag>.incomplete``: the shared temp file of huggingface_hub <= 1.17;
- ``blobs/<etag>.part`` + ``.part.json``: ours; kept by default because the next ensure resumes from them;
- ``.locks/**/*.lock``: 0-byte lock files nobody holds;
- blobs no snapshot points to any more.

A file guarded by a lock somebody holds right now is never touched: gc takes each blob's lock with a zero
timeout and skips it when that fails.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from resilience_core.hub.layout import Layout, default_cache_dir
from resilience_core.hub.transfer import PART_SUFFIX

__all__ = ["GcReport", "ModelState", "ModelStatus", "gc", "iter_repos", "status", "unless_locked"]

_INCOMPLETE = ".incomplete"
_META = ".part.json"


class ModelState(enum.StrEnum):
    """Where a revision stands on disk (the runbook's ``COMPLETE`` state and the ones before it)."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    NOT_INSTALLED = "not_installed"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """One repository revision as :func:`status` sees it (sizes only, no hashing)."""

    repo_id: str
    revision: str
    commit: str | None
    state: ModelState
    files_present: int
    files_total: int
    bytes_present: int
    bytes_total: int
    partial_bytes: int


@dataclass(frozen=True, slots=True)
class GcReport:
    """What :func:`gc` removed (or would remove with ``dry_run``) and the bytes that frees."""

    removed: tuple[Path, ...]
    freed_bytes: int
    skipped_locked: tuple[Path, ...]
    dry_run: bool


def iter_repos(cache_dir: Path) -> Iterator[str]:
    """Every model repository id found in a huggingface_hub cache."""
    if not cache_dir.is_dir():
        return
    for entry in sorted(cache_dir.iterdir()):
        if entry.is_dir() and entry.name.startswith("models--"):
            yield "/".join(entry.name.split("--")[1:])


def _etag_of(name: str) -> str:
    for suffix in (_META, PART_SUFFIX, _INCOMPLETE):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split(".")[0]


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def unless_locked(lock_path: Path) -> Iterator[bool]:
    """Yield True while holding ``lock_path`` (without waiting), False when somebody else holds it."""
    from filelock import FileLock, Timeout

    if not lock_path.parent.is_dir():
        yield True
        return
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _referenced_blobs(layout: Layout) -> set[str]:
    snapshots = layout.storage / "snapshots"
    names: set[str] = set()
    if snapshots.is_dir():
        for root, _dirs, files in os.walk(snapshots):
            for name in files:
                link = Path(root, name)
                if link.is_symlink():
                    names.add(Path(os.readlink(link)).name)
    return names


def gc(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    repo_id: str | None = None,
    keep_partials: bool = True,
    unreferenced_blobs: bool = False,
    older_than_s: float = 0.0,
    lock_older_than_s: float | None = None,
    dry_run: bool = False,
) -> GcReport:
    """Remove orphaned temp files, unheld lock files, and (optionally) unreferenced blobs.

    ``keep_partials`` keeps our own resumable ``.part`` files (the next ensure resumes from them);
    huggingface_hub's ``.incomplete`` files are always removed, since nothing can resume them.
    ``older_than_s`` spares files modified more recently than that; ``lock_older_than_s`` (default: the same)
    does so for lock files, which a process that opened one before the unlink could still be locking.

    >>> report = gc(cache, repo_id="acme/wan-mini", dry_run=True)  # doctest: +SKIP
    >>> report.freed_bytes  # doctest: +SKIP
    10485760
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    repos = [repo_id] if repo_id else list(iter_repos(cache))
    now = time.time()
    removed: list[Path] = []
    skipped: list[Path] = []
    freed = 0

    def old_enough(path: Path, min_age_s: float = older_than_s) -> bool:
        try:
            return now - path.lstat().st_mtime >= min_age_s
        except FileNotFoundError:
            return False

    lock_age_s = older_than_s if lock_older_than_s is None else lock_older_than_s

    def drop(path: Path) -> None:
        nonlocal freed
        size = _size(path)
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
        freed += size

    for repo in repos:
        layout = Layout(cache, repo)
        referenced = _referenced_blobs(layout) if unreferenced_blobs else set()
        if layout.blobs_dir.is_dir():
            for path in sorted(layout.blobs_dir.iterdir()):
                name = path.name
                is_temp = name.endswith(_INCOMPLETE) or (not keep_partials and name.endswith((PART_SUFFIX, _META)))
                is_orphan_meta = name.endswith(_META) and not path.with_name(name[: -len(".json")]).exists()
                is_unreferenced = unreferenced_blobs and "." not in name and name not in referenced and path.is_file()
                if not (is_temp or is_orphan_meta or is_unreferenced) or not old_enough(path):
                    continue
                with unless_locked(layout.locks_dir / f"{_etag_of(name)}.lock") as free:
                    if free:
                        drop(path)
                    else:
                        skipped.append(path)
        if layout.locks_dir.is_dir():
            for lock_path in sorted(layout.locks_dir.glob("*.lock")):
                if not old_enough(lock_path, lock_age_s):
                    continue
                with unless_locked(lock_path) as free:
                    if not free:
                        skipped.append(lock_path)
                        continue
                    # A process that opened this file before the unlink could still lock the old inode: gc is
                    # meant for idle caches, and older_than_s spares locks that were just used.
                    drop(lock_path)
    return GcReport(tuple(removed), freed, tuple(skipped), dry_run)


def status(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
) -> list[ModelStatus]:
    """Report every ensured revision (or one repository / revision) from the files on disk, sizes only.

    >>> [s.state for s in status(cache, repo_id="acme/wan-mini")]  # doctest: +SKIP
    [<ModelState.COMPLETE: 'complete'>]
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out: list[ModelStatus] = []
    for repo in [repo_id] if repo_id else list(iter_repos(cache)):
        layout = Layout(cache, repo)
        refs_dir = layout.storage / "refs"
        revisions = [revision] if revision else sorted(p.name for p in refs_dir.glob("*")) if refs_dir.is_dir() else []
        if not revisions:
            out.append(ModelStatus(repo, revision or "main", None, ModelState.NOT_INSTALLED, 0, 0, 0, 0, 0))
        out.extend(_status_of(layout, rev) for rev in revisions)
    return out


def _status_of(layout: Layout, revision: str) -> ModelStatus:
    from resilience_core.hub.metadata import is_commit

    commit = revision if is_commit(revision) else layout.read_ref(revision)
    files = layout.read_tree(commit) if commit else None
    if commit is None or files is None:
        return ModelStatus(layout.repo_id, revision, commit, ModelState.NOT_INSTALLED, 0, 0, 0, 0, 0)
    present = present_bytes = partial = 0
    for remote in files.values():
        path = layout.visible(commit, remote.path)
        if path.is_file() and path.stat().st_size == remote.size_bytes:
            present += 1
            present_bytes += remote.size_bytes
        else:
            partial += _size(layout.blob(remote).with_name(remote.etag + PART_SUFFIX))
    total_bytes = sum(f.size_bytes for f in files.values())
    state = ModelState.COMPLETE if present == len(files) else ModelState.PARTIAL
    return ModelStatus(
        layout.repo_id, revision, commit, state, present, len(files), present_bytes, total_bytes, partial
    )
