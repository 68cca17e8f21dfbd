"""Snapshot and restore install state, crash-safe, at a cost that grows with file count, not bytes.

>>> import pathlib, tempfile
>>> work = pathlib.Path(tempfile.mkdtemp())
>>> (work / "app").mkdir(); _ = (work / "app" / "config.json").write_text('{"v": 1}')
>>> store = StateStore(work / "store", roots=[work / "app"])
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
manifest is written and it is synced. A restore stages every root beside its target, checking each stored file,
then swaps each in with one atomic ``renameat2(RENAME_EXCHANGE)`` (or, where that is missing, two renames rolled
forward by :meth:`recover`), so a SIGKILL at any instant leaves either the old tree or the restored one. Restores
are atomic per root, not across roots. State is JSON only: unpickling a file an attacker (or a bug) wrote runs
arbitrary code.

**Trust**: manifests and restore journals are sealed with HMAC-SHA256 under a per-store key (``<store>/key``,
mode 0600) and fully validated before use; ``roots=`` pins the trees a store may ever write. See the threat model
in docs/state-and-logs.md.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience_core.documents import load_json
from resilience_core.errors import InputError, IntegrityError, SnapshotError
from resilience_core.state._capture import CaptureMixin
from resilience_core.state._fs import exchange, fsync_all, remove_tree, sync_trees
from resilience_core.state._manifest import SCHEMA, RootPolicy, is_snapshot_id, require, totals, validate_manifest
from resilience_core.state._recovery import JOURNAL_SCHEMA, RecoverMixin, Swap, sibling_names
from resilience_core.state._restore import RestoreMixin, StageJob
from resilience_core.state._seal import MAX_SEALED_BYTES, load_key, mac_of, parse, read_sealed, seal, verify
from resilience_core.state.atomic import atomic_write, fsync_path, publish_file

try:
    import fcntl
except ImportError:  # Windows has no flock; importing must still work there, using this module must not
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

__all__ = ["Snapshot", "StateStore"]

_log = logging.getLogger("resilience_core.state.snapshot")
_STATE_DEPTH = 60  # the manifest nests state two levels down; load_json allows 64


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


class StateStore(CaptureMixin, RestoreMixin, RecoverMixin):
    """Snapshots of directories and files, with the state (JSON) that goes with them, kept under ``root``.

    ``snapshot(paths, state, label)`` records the trees; ``restore(id)`` puts them back atomically per root;
    ``list()`` and ``prune(keep=, max_age_s=)`` manage them; ``recover()`` (run on construction) finishes or
    undoes whatever a killed process left half done. ``roots``, when given, are the only trees (with what lies
    beneath them) this store will snapshot or restore: a manifest naming any other path is refused. Any object
    with ``restore(snapshot_id)`` works as the runtime's rollback target; this is the built-in one.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        durable: bool = True,
        background_cleanup: bool = True,
        now: Callable[[], float] = time.time,
    ):
        if fcntl is None:
            raise SnapshotError("StateStore needs a POSIX system (flock, hard links, renameat2); this one has no fcntl")
        self.root = Path(root).absolute()
        self.roots = None if roots is None else tuple(os.path.abspath(os.fspath(p)) for p in roots)
        if self.roots == ():
            raise SnapshotError("roots=[] allows no tree at all; pass the trees this store snapshots (or None)")
        self._policy = RootPolicy(str(self.root), self.roots)
        for allowed in self.roots or ():
            # A root holding the store is a fine allow-list (each snapshot path is still kept off the store); a
            # root inside the store, or the store itself, is not.
            holds_store = str(self.root).startswith(allowed.rstrip("/") + "/")
            if (problem := RootPolicy(str(self.root)).problem(allowed)) and not holds_store:
                raise SnapshotError(f"roots entry {allowed!r} {problem}; fix the roots given to StateStore")
        self.durable = durable
        self.background_cleanup = background_cleanup
        self._now = now
        self._reflink_ok: bool | None = None
        # id -> (MAC of the manifest file, validated manifest) for manifests this object wrote or validated:
        # identical bytes need no second parse and validation (a rollback right after a snapshot is common).
        self._validated: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._cleaners: builtins.list[threading.Thread] = []
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("snapshots", "tmp", "pending"):
            (self.root / sub).mkdir(exist_ok=True)
        self._key = load_key(self.root)
        self.recover()

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[bool]:
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
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
            raise SnapshotError(f"label={label!r:.300} must be a string of at most 200 characters")
        created = self._now()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created))
        snapshot_id = f"{stamp}{int(created % 1 * 1e6):06d}Z-{secrets.token_hex(4)}"
        partial = self.root / "tmp" / f"{snapshot_id}.{os.getpid()}.partial"
        with self._locked(fcntl.LOCK_SH):
            try:
                data = partial / "data"
                partial.mkdir()
                data.mkdir()
                made = [str(partial), str(data)]
                records = [self._capture(i, root, str(data), made, hash_files) for i, root in enumerate(roots)]
                body = {
                    "schema": SCHEMA,
                    "id": snapshot_id,
                    "label": label,
                    "created": created,
                    "state": state_dict,
                    "roots": records,
                }
                sealed = seal(body, self._key)
                if len(sealed) > MAX_SEALED_BYTES:
                    raise SnapshotError(
                        f"the manifest would be {len(sealed)} bytes, over the {MAX_SEALED_BYTES} limit; "
                        "snapshot fewer files per snapshot"
                    )
                (partial / "manifest.json").write_bytes(sealed)
                if self.durable:
                    # Every directory made, and the manifest, in one group: all durable before the publish rename.
                    fsync_all([*made, str(partial / "manifest.json")])
                publish_file(partial, self.root / "snapshots" / snapshot_id, durable=False)
                if self.durable:
                    fsync_path(self.root / "snapshots")
            except BaseException:
                remove_tree(str(partial))
                raise
        self._validated[snapshot_id] = (mac_of(sealed), body)
        return self._as_snapshot(body)

    def _check_roots(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        roots = [os.path.abspath(os.fspath(p)) for p in paths]
        if not roots:
            raise SnapshotError("paths is empty; pass the directories or files to snapshot")
        for i, root in enumerate(roots):
            for other in roots[i + 1 :]:
                if root == other or other.startswith(root + os.sep) or root.startswith(other + os.sep):
                    raise SnapshotError(f"paths {root!r} and {other!r} overlap; pass each tree once")
            if problem := self._policy.problem(root):
                raise SnapshotError(
                    f"path {root!r} {problem}; keep the store outside the trees, and the trees in roots"
                )
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
        try:
            # Round-tripped, so the state returned now equals the one read back later (keys become strings).
            checked: dict[str, Any] = load_json(json.dumps(state_dict), source="state", max_depth=_STATE_DEPTH)
        except InputError as error:
            raise SnapshotError(f"{error}; keep the saved state shallower") from None
        return checked

    # -- reading ---------------------------------------------------------------------------------------------

    def _snapshot_dir(self, snapshot_id: str) -> Path:
        if not is_snapshot_id(snapshot_id):
            raise SnapshotError(f"snapshot_id={snapshot_id!r:.80} is not a snapshot id; list() shows the valid ones")
        path = self.root / "snapshots" / snapshot_id
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise SnapshotError(
                f"snapshot {snapshot_id!r} does not exist in {self.root}; list() shows the valid ones"
            ) from None
        require(
            stat.S_ISDIR(info.st_mode), f"{snapshot_id}: not a directory (a symlink or file was put there)", snapshot_id
        )
        return path

    def _load(self, snapshot_id: str) -> dict[str, Any]:
        path = self._snapshot_dir(snapshot_id) / "manifest.json"
        where = f"{snapshot_id}/manifest.json"
        mac, body = verify(read_sealed(path, where), self._key, where)
        known = self._validated.get(snapshot_id)
        if known is not None and known[0] == mac:
            return known[1]
        manifest = validate_manifest(parse(body, where), where, snapshot_id, self._policy)
        self._validated[snapshot_id] = (mac, manifest)
        return manifest

    @staticmethod
    def _as_snapshot(manifest: Mapping[str, Any]) -> Snapshot:
        file_count, size_bytes = totals(manifest)
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
        """The snapshot with this id (its seal checked, its manifest fully validated)."""
        return self._as_snapshot(self._load(snapshot_id))

    def list(self) -> builtins.list[Snapshot]:
        """Every complete, valid snapshot, oldest first (damaged ones are skipped with a warning)."""
        found = []
        for name in os.listdir(self.root / "snapshots"):
            if not is_snapshot_id(name):
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
                publish_file(self.root / "snapshots" / snapshot_id, graveyard, durable=False)  # out of sight first
                remove_tree(str(graveyard))
        return doomed

    # -- restore ---------------------------------------------------------------------------------------------

    def restore(self, snapshot_id: str, *, copy: bool = False, verify_hashes: bool = True) -> Snapshot:
        """Put every root of the snapshot back, each atomically, and return the snapshot (with its state).

        Checks everything before touching anything: every root is staged (and every stored file checked)
        before the first swap, so a file changed in place since the snapshot raises IntegrityError naming it
        and leaves every tree as it was. ``copy=True`` restores private copies instead of shared links (the
        restored tree then never shares content with the store). ``verify_hashes`` checks recorded sha256s.
        """
        manifest = self._load(snapshot_id)
        data = self._snapshot_dir(snapshot_id) / "data"
        require(data.is_dir() and not data.is_symlink(), f"{snapshot_id}: its data directory is missing", snapshot_id)
        swaps: builtins.list[Swap] = []
        with self._locked(fcntl.LOCK_EX):
            try:
                staged: builtins.list[tuple[str, builtins.list[str]]] = []
                for index, root in enumerate(manifest["roots"]):
                    swaps.append(self._begin(root))
                    if root["kind"] != "absent":
                        job = StageJob(f"{data}/{index}", swaps[-1].staging, copy, verify_hashes, [])
                        self._stage(root, job)
                        staged.append((os.path.dirname(root["path"]), job.synced))
                if self.durable:
                    sync_trees(staged)  # the staged trees, complete on disk before any swap can be
                for swap in swaps:
                    self._swap(swap)  # the commit point of this root
                    swap.swapped = True
                if self.durable:
                    fsync_all(sorted({os.path.dirname(s.target) for s in swaps}))
            except BaseException:
                self._abandon(swaps)
                raise
        if self.background_cleanup:
            # The swaps were the commit points; removing the replaced trees is housekeeping. A non-daemon thread,
            # so interpreter exit waits for it; a kill leaves journals that recover() finishes.
            cleaner = threading.Thread(target=self._clean, args=(swaps,), name="resilience-snapshot-cleanup")
            self._cleaners = [t for t in self._cleaners if t.is_alive()] + [cleaner]
            cleaner.start()
        else:
            self._clean(swaps)
        return self._as_snapshot(manifest)

    def _begin(self, root: Mapping[str, Any]) -> Swap:
        """Choose the staging and old names beside the target and journal them (recover() removes leftovers)."""
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        staging, old = sibling_names(root["path"], token)
        record = {"schema": JOURNAL_SCHEMA, "pid": os.getpid(), "target": root["path"], "token": token}
        record["phase"] = "staging"
        journal = self.root / "pending" / f"restore-{token}.json"
        # Not fsynced: after a kill the page cache keeps it; after a power loss, losing it only leaves garbage
        # beside the target. The two-rename fallback, where it matters, rewrites it durably before renaming.
        journal.write_bytes(seal(record, self._key))
        return Swap(root["kind"], root["path"], staging, old, journal, record)

    def _abandon(self, swaps: builtins.list[Swap]) -> None:
        """After a failure mid-restore: finish a half-done two-rename swap (as recover() would), then clean up."""
        for swap in swaps:
            if swap.record["phase"] == "swapping" and not os.path.lexists(swap.target):
                source = swap.staging if os.path.lexists(swap.staging) else swap.old
                publish_file(source, swap.target, durable=self.durable)
        self._clean(swaps)

    @staticmethod
    def _clean(swaps: Iterable[Swap]) -> None:
        for swap in swaps:
            for path in (swap.staging, swap.old):
                remove_tree(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(swap.journal)

    def wait(self) -> None:
        """Wait until trees replaced by earlier restores are deleted (restore returns before that)."""
        for cleaner in self._cleaners:
            cleaner.join()
        self._cleaners = []

    def _swap(self, swap: Swap) -> None:
        target, staging, old = swap.target, swap.staging, swap.old
        if swap.kind == "absent":
            if os.path.lexists(target):
                publish_file(target, old, durable=False)  # moved aside; the cleanup deletes it
            return
        if not os.path.lexists(target) or (swap.kind == "file" and not os.path.isdir(target)):
            publish_file(staging, target, durable=False)
            return
        if exchange(staging, target):
            return  # staging now holds the old tree; the cleanup removes it
        # No RENAME_EXCHANGE here: two renames, journaled so recover() can roll forward after a kill.
        swap.record["phase"] = "swapping"
        atomic_write(swap.journal, seal(swap.record, self._key))
        publish_file(target, old, durable=False)
        publish_file(staging, target, durable=False)
