"""Snapshot and restore install state, crash-safe, at a cost that grows with file count, not bytes.

>>> import pathlib, tempfile
>>> work = pathlib.Path(tempfile.mkdtemp())
>>> (work / "app").mkdir(); _ = (work / "app" / "config.json").write_text('{"v": 1}')
>>> store = StateStore(work / "store")
>>> snap = store.snapshot([work / "app"], state={"step": "before-upgrade"}, label="pre")
>>> _ = (work / "app" / "new.tmp").write_text('{"v": 2}')
>>> _ = (work / "app" / "new.tmp").replace(work / "app" / "config.json")  # replaced, never modified in place
>>> store.restore(snap.id).state["step"]
'before-upgrade'
>>> (work / "app" / "config.json").read_text()
'{"v": 1}'

**The rule that makes sharing safe**: snapshots share file content with the live tree (reflinks where the
filesystem offers them, else hard links), so writers must *replace* files (write a temporary file, then
``os.replace``) and never modify a file in place. Restore checks each file's size, mtime_ns and inode against
the manifest and refuses (IntegrityError naming the entry) when content was changed in place; when only the
mode changed it restores a private copy and logs a warning.

**Crash safety**: a snapshot is built under ``<store>/tmp`` and becomes visible by one directory rename once its
manifest is written and synced. A restore stages each root beside it and swaps it in with one atomic
``renameat2(RENAME_EXCHANGE)`` (or, where that is missing, two renames rolled forward by :meth:`recover`), so a
SIGKILL at any instant leaves either the old tree or the restored one. Restores are atomic per root, not
across roots. State is JSON only: unpickling a file an attacker (or a bug) wrote runs arbitrary code.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience_core.errors import IntegrityError, SnapshotError
from resilience_core.state._capture import LINK_FALLBACK_ERRNOS, CaptureMixin, entry_path
from resilience_core.state._manifest import (
    SCHEMA,
    exchange,
    fsync_dirs,
    fsync_dirs_started,
    pid_alive,
    remove_tree,
    require,
    seal,
    unseal,
)
from resilience_core.state.atomic import atomic_write, fsync_path, publish_file
from resilience_core.state.integrity import hash_file

try:
    import fcntl
except ImportError:  # Windows has no flock; importing must still work there, using this module must not
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

__all__ = ["Snapshot", "StateStore"]

_ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")
_log = logging.getLogger("resilience_core.state.snapshot")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One complete snapshot: its id, label, creation time (Unix seconds), roots, size and saved state."""

    id: str
    label: str
    created: float
    roots: tuple[str, ...]
    file_count: int
    size_bytes: int
    state: Mapping[str, Any] = field(default_factory=dict)


# -- small filesystem helpers ------------------------------------------------------------------------------------


# -- the store ---------------------------------------------------------------------------------------------------


class StateStore(CaptureMixin):
    """Snapshots of directories and files under ``root``, with the state (JSON) that goes with them.

    ``snapshot(paths, state, label)`` records the trees; ``restore(id)`` puts them back atomically per root;
    ``list()`` and ``prune(keep=, max_age_s=)`` manage them; ``recover()`` (run on construction) finishes or
    undoes whatever a killed process left half done. Any object with ``restore(snapshot_id)`` works as the
    runtime's rollback target; this is the built-in one.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durable: bool = True,
        background_cleanup: bool = True,
        now: Callable[[], float] = time.time,
    ):
        if fcntl is None:
            raise SnapshotError("StateStore needs a POSIX system (flock, hard links, renameat2); this one has no fcntl")
        self.root = Path(root).absolute()
        self.durable = durable
        self.background_cleanup = background_cleanup
        self._now = now
        self._reflink_ok: bool | None = None
        # id -> (sha256 of the manifest file, parsed manifest) for manifests this object wrote or validated:
        # identical bytes need no second parse and validation (a rollback right after a snapshot is common).
        self._validated: dict[str, tuple[str, dict[str, Any]]] = {}
        self._cleaners: builtins.list[threading.Thread] = []
        for sub in ("snapshots", "tmp", "pending"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.recover()

    # -- locking ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[bool]:
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- snapshot --------------------------------------------------------------------------------------------

    def snapshot(
        self,
        paths: Iterable[str | os.PathLike[str]],
        state: Mapping[str, Any] | None = None,
        label: str = "",
        *,
        hash_files: bool = False,
    ) -> Snapshot:
        """Record ``paths`` (directories or files; a missing path is recorded as absent) and ``state``.

        ``hash_files=True`` also stores each file's sha256 (cost then grows with bytes) so restore can prove
        content, not just metadata.
        """
        roots = self._check_roots(paths)
        state_dict = self._check_state(state)
        if not isinstance(label, str) or len(label) > 200:
            raise SnapshotError(f"label={label!r} must be a string of at most 200 characters")
        created = self._now()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created))
        snapshot_id = f"{stamp}{int(created % 1 * 1e6):06d}Z-{secrets.token_hex(4)}"
        partial = self.root / "tmp" / f"{snapshot_id}.{os.getpid()}.partial"
        with self._locked(fcntl.LOCK_SH):
            try:
                partial.mkdir()
                (partial / "data").mkdir()
                made_dirs = [str(partial), str(partial / "data")]
                records = [
                    self._capture(i, root, str(partial / "data"), made_dirs, hash_files) for i, root in enumerate(roots)
                ]
                body = {
                    "schema": SCHEMA,
                    "id": snapshot_id,
                    "label": label,
                    "created": created,
                    "state": state_dict,
                    "roots": records,
                }
                manifest = body
                # The data directories are complete: their fsyncs (one group commit) overlap sealing the manifest.
                data_synced = fsync_dirs_started(made_dirs[1:]) if self.durable else None
                sealed = seal(body)
                (partial / "manifest.json").write_bytes(sealed)
                if data_synced is not None:
                    # The manifest and the directory naming it, then everything, before publishing.
                    fsync_dirs([str(partial), str(partial / "manifest.json")])
                    data_synced()
                os.rename(partial, self.root / "snapshots" / snapshot_id)
                if self.durable:
                    fsync_path(self.root / "snapshots")
            except BaseException:
                remove_tree(str(partial))
                raise
        self._validated[snapshot_id] = (hashlib.sha256(sealed).hexdigest(), manifest)
        return self._as_snapshot(manifest)

    def _check_roots(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        roots = [os.path.abspath(os.fspath(p)) for p in paths]
        if not roots:
            raise SnapshotError("paths is empty; pass the directories or files to snapshot")
        store = str(self.root)
        for i, root in enumerate(roots):
            for other in roots[i + 1 :]:
                if root == other or other.startswith(root + os.sep) or root.startswith(other + os.sep):
                    raise SnapshotError(f"paths {root!r} and {other!r} overlap; pass each tree once")
            if store == root or store.startswith(root + os.sep) or root.startswith(store + os.sep):
                raise SnapshotError(f"path {root!r} overlaps the store {store!r}; keep the store outside the trees")
            if os.path.islink(root):
                raise SnapshotError(f"path {root!r} is a symlink; pass the directory it points to")
        return roots

    @staticmethod
    def _check_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
        state_dict = dict(state or {})
        for key, value in state_dict.items():
            try:
                json.dumps({key: value}, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise SnapshotError(
                    f"state[{key!r}]={value!r:.80} is not JSON ({error}); state holds JSON values only (never pickle)"
                ) from None
        return state_dict

    # -- reading ---------------------------------------------------------------------------------------------

    def _snapshot_dir(self, snapshot_id: str) -> Path:
        if not isinstance(snapshot_id, str) or not _ID_PATTERN.match(snapshot_id):
            raise SnapshotError(f"snapshot_id={snapshot_id!r} is not a snapshot id; list() shows the valid ones")
        path = self.root / "snapshots" / snapshot_id
        if not path.is_dir():
            raise SnapshotError(f"snapshot {snapshot_id!r} does not exist in {self.root}; list() shows the valid ones")
        return path

    def _load(self, snapshot_id: str) -> dict[str, Any]:
        path = self._snapshot_dir(snapshot_id) / "manifest.json"
        where = f"{snapshot_id}/manifest.json"
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise IntegrityError(f"{where}: unreadable ({error})", entry=where) from None
        digest = hashlib.sha256(raw).hexdigest()
        known = self._validated.get(snapshot_id)
        if known is not None and known[0] == digest:
            return known[1]
        manifest = unseal(raw, where)
        require(manifest.get("id") == snapshot_id, f"{where}: id {manifest.get('id')!r} != {snapshot_id!r}", where)
        self._validated[snapshot_id] = (digest, manifest)
        return manifest

    @staticmethod
    def _as_snapshot(manifest: Mapping[str, Any]) -> Snapshot:
        file_count = size_bytes = 0
        for root in manifest["roots"]:
            if root["kind"] == "file":
                file_count += 1
                size_bytes += root["file"]["size"]
            for entry in root.get("entries", ()):
                if entry["type"] == "file":
                    file_count += 1
                    size_bytes += entry["size"]
        return Snapshot(
            id=manifest["id"],
            label=manifest["label"],
            created=manifest["created"],
            roots=tuple(r["path"] for r in manifest["roots"]),
            file_count=file_count,
            size_bytes=size_bytes,
            state=manifest["state"],
        )

    def get(self, snapshot_id: str) -> Snapshot:
        """The snapshot with this id (its manifest fully validated)."""
        return self._as_snapshot(self._load(snapshot_id))

    def list(self) -> builtins.list[Snapshot]:
        """Every complete, valid snapshot, oldest first (damaged ones are skipped with a warning)."""
        found = []
        for name in os.listdir(self.root / "snapshots"):
            if not _ID_PATTERN.match(name):
                continue
            try:
                found.append(self.get(name))
            except (IntegrityError, SnapshotError) as error:
                _log.warning("skipping damaged snapshot %s: %s", name, error)
        return sorted(found, key=lambda s: (s.created, s.id))

    def prune(self, keep: int | None = None, max_age_s: float | None = None) -> builtins.list[str]:
        """Delete snapshots beyond the newest ``keep`` or older than ``max_age_s``; return the deleted ids."""
        if keep is not None and (not isinstance(keep, int) or keep < 0):
            raise SnapshotError(f"keep={keep!r} must be an int >= 0 (or None for no count limit)")
        if max_age_s is not None and not max_age_s >= 0:
            raise SnapshotError(f"max_age_s={max_age_s!r} must be >= 0 (or None for no age limit)")
        snapshots = self.list()
        now = self._now()
        doomed = []
        for position, snap in enumerate(reversed(snapshots)):
            too_many = keep is not None and position >= keep
            too_old = max_age_s is not None and now - snap.created > max_age_s
            if too_many or too_old:
                doomed.append(snap.id)
        with self._locked(fcntl.LOCK_EX):
            for snapshot_id in doomed:
                self._validated.pop(snapshot_id, None)
                graveyard = self.root / "tmp" / f"{snapshot_id}.deleting"
                os.rename(self.root / "snapshots" / snapshot_id, graveyard)
                remove_tree(str(graveyard))
        return doomed

    # -- restore ---------------------------------------------------------------------------------------------

    def restore(self, snapshot_id: str, *, copy: bool = False, verify_hashes: bool = True) -> Snapshot:
        """Put every root of the snapshot back, each atomically, and return the snapshot (with its state).

        Checks everything before touching anything: a file changed in place since the snapshot raises
        IntegrityError naming it. ``copy=True`` restores private copies instead of shared links (the
        restored tree then never shares content with the store). ``verify_hashes`` checks recorded sha256s.
        """
        manifest = self._load(snapshot_id)
        data = self._snapshot_dir(snapshot_id) / "data"
        plans = [self._plan_root(i, root, data, verify_hashes) for i, root in enumerate(manifest["roots"])]
        garbage: builtins.list[tuple[tuple[str, str], Path]] = []
        with self._locked(fcntl.LOCK_EX):
            for index, (root, plan) in enumerate(zip(manifest["roots"], plans, strict=True)):
                garbage.append(self._restore_root(root, plan, f"{data}/{index}", copy))
        if self.background_cleanup:
            # The swap was the commit point; removing the replaced tree is housekeeping. A non-daemon thread,
            # so interpreter exit waits for it; a kill leaves a journal that recover() finishes.
            cleaner = threading.Thread(target=self._clean, args=(garbage,), name="resilience-snapshot-cleanup")
            self._cleaners = [t for t in self._cleaners if t.is_alive()] + [cleaner]
            cleaner.start()
        else:
            self._clean(garbage)
        return self._as_snapshot(manifest)

    @staticmethod
    def _clean(garbage: Iterable[tuple[tuple[str, str], Path]]) -> None:
        for paths, journal in garbage:
            for path in paths:
                remove_tree(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(journal)

    def wait(self) -> None:
        """Wait until trees replaced by earlier restores are deleted (restore returns before that)."""
        for cleaner in self._cleaners:
            cleaner.join()
        self._cleaners = []

    def _plan_root(self, index: int, root: Mapping[str, Any], data: Path, verify: bool) -> set[str]:
        """Check each stored file against its record; return the data paths that need a private copy."""
        root_data = f"{data}/{index}"
        checks = [(root_data, root["file"], root["path"])] if root["kind"] == "file" else []
        checks += [(f"{root_data}/{e['path']}", e, e["path"]) for e in root.get("entries", []) if e["type"] == "file"]
        plan: set[str] = set()  # usually empty: only files whose mode changed
        for path, record, name in checks:
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                raise IntegrityError(f"snapshot file for {name!r} is missing from the store", entry=name) from None
            # Compared field by field (no tuples): this runs once per file on every restore.
            if info.st_size != record["size"] or info.st_mtime_ns != record["mtime_ns"] or info.st_ino != record["ino"]:
                now = (info.st_size, info.st_mtime_ns, info.st_ino)
                then = (record["size"], record["mtime_ns"], record["ino"])
                raise IntegrityError(
                    f"{name!r} was modified in place after the snapshot (size, mtime_ns, inode {now} != {then}); "
                    "its saved content is lost. Writers must replace files (temp file + os.replace), never "
                    "modify them in place; take a new snapshot",
                    entry=name,
                )
            if verify and record.get("sha256") and hash_file(path) != record["sha256"]:
                raise IntegrityError(f"{name!r}: sha256 differs from the manifest (bad checksum)", entry=name)
            if stat.S_IMODE(info.st_mode) != record["mode"]:
                _log.warning("%s: mode changed after the snapshot; restoring a private copy with the saved mode", name)
                plan.add(path)
        return plan

    def _place_file(self, source: str, target: str, record: Mapping[str, Any], copy: bool) -> None:
        if not copy:
            try:
                os.link(source, target, follow_symlinks=False)
                return
            except OSError as error:
                if error.errno not in LINK_FALLBACK_ERRNOS:
                    raise
                _log.warning("%s: cannot hard-link from the store (%s); restoring a copy", target, error.strerror)
        shutil.copy2(source, target, follow_symlinks=False)
        os.chmod(target, record["mode"])

    def _restore_root(
        self, root: Mapping[str, Any], plan: set[str], root_data: str, copy: bool
    ) -> tuple[tuple[str, str], Path]:
        """Stage and swap one root; return (paths to delete, journal) for the cleanup."""
        target = root["path"]
        parent, name = os.path.split(target)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        staging = os.path.join(parent, f".{name}.restore-{token}")
        old = os.path.join(parent, f".{name}.old-{token}")
        journal = self.root / "pending" / f"restore-{token}.json"
        record = {"pid": os.getpid(), "target": target, "staging": staging, "old": old, "phase": "staging"}
        # Not fsynced: after a kill the page cache keeps it; after a power loss, losing it only leaves garbage
        # beside the target. The two-rename fallback, where it matters, rewrites it durably before renaming.
        journal.write_bytes(json.dumps(record).encode())
        try:
            if root["kind"] != "absent":
                os.makedirs(parent, exist_ok=True)
                self._stage(root, plan, root_data, staging, copy)
            self._swap(root["kind"], target, staging, journal, record)
            if self.durable:
                fsync_path(parent)
        except BaseException:
            self._clean([((staging, old), journal)])
            raise
        return (staging, old), journal

    def _stage(self, root: Mapping[str, Any], plan: set[str], root_data: str, staging: str, copy: bool) -> None:
        if root["kind"] == "file":
            self._place_file(root_data, staging, root["file"], copy or root_data in plan)
            return
        os.mkdir(staging, 0o700)
        dirs = [(staging, root["mode"])]
        base = root_data + "/"
        for entry in sorted(root["entries"], key=entry_path):
            rel = entry["path"]
            path = f"{staging}/{rel}"
            kind = entry["type"]
            if kind == "file" and not copy:
                source = base + rel
                if not plan or source not in plan:  # the common case, inlined: one linkat, no method call
                    try:
                        os.link(source, path, follow_symlinks=False)
                        continue
                    except OSError:
                        pass  # a missing parent or a filesystem refusing links: the general path handles both
            elif kind == "dir":
                try:
                    os.mkdir(path, 0o700)  # parents come first in sorted order; makedirs would stat them again
                except OSError:
                    os.makedirs(path, 0o700, exist_ok=True)  # whatever mkdir refused, makedirs decides as before
                dirs.append((path, entry["mode"]))
                continue
            for tries_left in (1, 0):
                try:
                    if kind == "symlink":
                        os.symlink(entry["target"], path)
                    else:
                        source = base + entry["path"]
                        self._place_file(source, path, entry, copy or source in plan)
                    break
                except FileNotFoundError:
                    if not tries_left:
                        raise
                    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)  # no dir entry listed its parent
        if self.durable:
            fsync_dirs([path for path, _ in dirs])
        for path, mode in reversed(dirs):
            os.chmod(path, mode)

    def _swap(self, kind: str, target: str, staging: str, journal: Path, record: dict[str, Any]) -> None:
        old = record["old"]
        if kind == "absent":
            if os.path.lexists(target):
                os.rename(target, old)
            return
        if not os.path.lexists(target):
            os.rename(staging, target)
            return
        if kind == "file" and not os.path.isdir(target):
            publish_file(staging, target)
            return
        if exchange(staging, target):
            return  # staging now holds the old tree; the caller removes it
        # No RENAME_EXCHANGE here: two renames, journaled so recover() can roll forward after a kill.
        record["phase"] = "swapping"
        atomic_write(journal, json.dumps(record))
        os.rename(target, old)
        os.rename(staging, target)

    # -- crash recovery --------------------------------------------------------------------------------------

    def recover(self) -> builtins.list[str]:
        """Finish or undo what killed processes left: restores mid-swap, partial snapshots, half deletions.

        Runs on construction; safe to call any time (entries of live processes are left alone). Returns what
        it did, one line per action.
        """
        actions: list[str] = []
        with self._locked(fcntl.LOCK_EX | fcntl.LOCK_NB) as acquired:
            if not acquired:
                return actions  # a live process is restoring or pruning right now
            for journal in sorted((self.root / "pending").glob("restore-*.json")):
                try:
                    record = json.loads(journal.read_bytes())
                    pid, target, staging, old = record["pid"], record["target"], record["staging"], record["old"]
                except (OSError, ValueError, KeyError, TypeError):
                    journal.unlink(missing_ok=True)
                    continue
                if pid_alive(int(pid)):
                    continue
                if record.get("phase") == "swapping" and not os.path.lexists(target):
                    source = staging if os.path.lexists(staging) else old
                    os.rename(source, target)
                    actions.append(f"rolled {target} forward from {source}")
                for leftover in (staging, old):
                    if os.path.lexists(leftover):
                        remove_tree(leftover)
                        actions.append(f"removed {leftover}")
                journal.unlink(missing_ok=True)
            for item in (self.root / "tmp").iterdir():
                parts = item.name.split(".")
                stale = item.name.endswith(".deleting") or (
                    item.name.endswith(".partial") and len(parts) == 3 and not pid_alive(int(parts[1]))
                )
                if stale:
                    remove_tree(str(item))
                    actions.append(f"removed {item}")
        return actions
