"""Where a repository's files live on disk: the huggingface_hub cache layout, or a plain ``local_dir``.

Both layouts are the ones huggingface_hub itself writes and reads, so the result of :func:`ensure_model` loads
with ``hf_hub_download(..., local_files_only=True)`` or ``snapshot_download(..., local_files_only=True)``:

- cache: ``<cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<path> -> ../../blobs/<etag>,
  refs/<revision>, trees/<commit>.json}`` and ``<cache>/.locks/models--org--name/<etag>.lock``;
- local_dir: ``<dir>/<path>`` plus ``<dir>/.cache/huggingface/{download/<path>.metadata, trees/<commit>.json}``.

Every name that came from outside (a revision, a commit, a repository path, an ETag, all from the hub) is joined
with :func:`resilience_core.safe_join` beneath the one root this layout owns (``cache_dir``, or ``local_dir``):
``..``, absolute paths, backslashes, NUL and symlinks already on disk that lead out are refused with an
:class:`~resilience_core.errors.UnsafePathError` naming the field and the value, before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from resilience_core.documents import load_json
from resilience_core.errors import InputError, UnsafePathError
from resilience_core.hub.transfer import RemoteFile
from resilience_core.paths import safe_join
from resilience_core.state.atomic import atomic_write, publish_file

__all__ = ["Layout", "check_commit", "check_etag", "default_cache_dir"]


def default_cache_dir() -> Path:
    """The cache huggingface_hub uses (``HF_HUB_CACHE`` / ``HF_HOME``), read without importing it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expandvars(os.path.expanduser(os.environ["HF_HUB_CACHE"])))
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


_COMMIT = re.compile(r"[0-9a-f]{40}")
_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MAX_TREE_BYTES = 256 << 20


def _repo_folder(repo_id: str) -> str:
    return "--".join(["models", *repo_id.split("/")])


def check_commit(commit: object, *, what: str = "commit") -> str:
    """``commit`` if it is a 40-hex sha; else UnsafePathError (it becomes a folder and a file name)."""
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise UnsafePathError(
            f"{what} {commit!r} is refused: it is not a 40-hex commit sha; fix: use a hub that sends real commit ids",
            name=str(commit),
            reason="not a commit sha",
        )
    return commit


def check_etag(etag: object, *, what: str = "ETag") -> str:
    """``etag`` if it is a git sha1 or an LFS sha256 (hex); else UnsafePathError (it becomes a blob file name)."""
    if not isinstance(etag, str) or not _ETAG.fullmatch(etag):
        raise UnsafePathError(
            f"{what} {etag!r} is refused: a blob name must be 40 or 64 hex digits; "
            "fix: use a hub that sends real git/LFS ids",
            name=str(etag),
            reason="not a hex digest",
        )
    return etag


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths for one repository in a cache (``local_dir=None``) or in a local directory."""

    cache_dir: Path
    repo_id: str
    local_dir: Path | None = None

    @property
    def root(self) -> Path:
        """The one folder everything of this layout lives beneath (``local_dir``, else ``cache_dir``)."""
        return self.local_dir if self.local_dir is not None else self.cache_dir

    def _join(self, base: Path, name: str, what: str) -> Path:
        """``base / name`` checked beneath :attr:`root` (``name`` came from outside)."""
        relative = os.path.relpath(base, self.root)
        joined = name if relative == "." else f"{Path(relative).as_posix()}/{name}"
        return safe_join(self.root, joined, what=what)

    @property
    def storage(self) -> Path:
        """``models--org--name`` in the cache, or the hidden ``.cache/huggingface`` folder of a local_dir."""
        if self.local_dir is not None:
            return self.local_dir / ".cache" / "huggingface"
        return self.cache_dir / _repo_folder(self.repo_id)

    @property
    def blobs_dir(self) -> Path:
        """Where verified blobs (and their ``.part`` files) live."""
        if self.local_dir is not None:
            return self.storage / "download" / "blobs"
        return self.storage / "blobs"

    @property
    def locks_dir(self) -> Path:
        """Per-blob lock files, shared with huggingface_hub so both exclude each other."""
        if self.local_dir is not None:
            return self.storage / "download"
        return self.cache_dir / ".locks" / _repo_folder(self.repo_id)

    def blob(self, remote: RemoteFile) -> Path:
        """The verified bytes of ``remote`` (named by its ETag, as huggingface_hub names them)."""
        return self._join(self.blobs_dir, check_etag(remote.etag, what=f"ETag of {remote.path!r}"), "blob name")

    def lock(self, remote: RemoteFile) -> Path:
        """The lock guarding ``remote``'s blob."""
        if self.local_dir is not None:
            return self._join(self.locks_dir, f"{remote.path}.lock", "lock file of a repository path")
        return self._join(self.locks_dir, f"{check_etag(remote.etag)}.lock", "lock file")

    def ref(self, revision: str) -> Path:
        """The file holding the commit a branch or tag resolved to."""
        return self._join(self.storage / "refs", revision, "revision")

    def tree(self, commit: str) -> Path:
        """The cached tree listing of ``commit`` (huggingface_hub's format_version 1)."""
        return self._join(self.storage / "trees", f"{check_commit(commit)}.json", "tree listing")

    def visible(self, commit: str, path: str) -> Path:
        """Where a user (or huggingface_hub) finds ``path`` of ``commit``."""
        if self.local_dir is not None:
            return self._join(self.local_dir, path, "repository path")
        return self._join(self.storage / "snapshots" / check_commit(commit), path, "repository path")

    def snapshot_dir(self, commit: str) -> Path:
        """The folder to hand to a loader."""
        if self.local_dir is not None:
            return self.local_dir
        return self._join(self.storage / "snapshots", check_commit(commit), "commit")

    def read_ref(self, revision: str) -> str | None:
        """The commit ``revision`` resolved to last time, or None (also when the file holds no commit sha)."""
        try:
            commit = self.ref(revision).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError, InputError):
            return None
        return commit if _COMMIT.fullmatch(commit) else None

    def write_ref(self, revision: str, commit: str) -> None:
        """Remember that ``revision`` resolved to ``commit`` (skipped when the revision is the commit)."""
        if revision != commit:
            atomic_write(self.ref(revision), commit)

    def read_tree(self, commit: str) -> dict[str, RemoteFile] | None:
        """The recorded file list of ``commit``, or None when absent, unreadable or damaged.

        A tree file is an outside input too (anyone who can write the cache can edit it): it is parsed with a
        size and depth limit, and an entry whose path, size or ids are not what ensure_model writes makes the
        whole listing count as damaged.
        """
        try:
            with open(self.tree(commit), "rb") as stream:
                raw = stream.read(_MAX_TREE_BYTES + 1)
            data = load_json(raw, source=os.fspath(self.tree(commit)), max_bytes=_MAX_TREE_BYTES, max_depth=8)
            files = data["files"]
            out: dict[str, RemoteFile] = {}
            for path, info in files.items():
                size = info["size"]
                sha256 = info.get("lfs_sha256")
                if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                    return None
                if sha256 is not None:
                    check_etag(sha256)
                etag = check_etag(sha256 or info["blob_id"])
                self.visible(commit, path)  # the path must stay beneath the root
                out[path] = RemoteFile(path=path, size_bytes=size, etag=etag, sha256=sha256)
        except (OSError, InputError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return out

    def write_tree(self, commit: str, files: Iterable[RemoteFile], blob_ids: Mapping[str, str]) -> None:
        """Record ``commit``'s file list in huggingface_hub's tree cache format."""
        entries: dict[str, dict[str, object]] = {}
        for remote in sorted(files, key=lambda f: f.path):
            entry: dict[str, object] = {"size": remote.size_bytes, "blob_id": blob_ids.get(remote.path, remote.etag)}
            if remote.sha256:
                entry["lfs_sha256"] = remote.sha256
                entry["lfs_size"] = remote.size_bytes
            entries[remote.path] = entry
        atomic_write(self.tree(commit), json.dumps({"format_version": 1, "files": entries}, indent=1))

    def publish(self, commit: str, remote: RemoteFile) -> Path:
        """Make a verified blob visible at its repository path (relative symlink, or a move for a local_dir)."""
        target = self.visible(commit, remote.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self.blob(remote)
        if self.local_dir is not None:
            publish_file(blob, target)
            meta = self._join(self.storage / "download", f"{remote.path}.metadata", "repository path")
            atomic_write(meta, f"{commit}\n{remote.etag}\n{time.time()}\n")
            return target
        link = os.path.relpath(blob, target.parent)
        tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.link")
        os.symlink(link, tmp)
        publish_file(tmp, target)
        return target

    def present(self, commit: str, remote: RemoteFile) -> Path | None:
        """The file holding ``remote``'s bytes if one exists (not verified), else None."""
        if self.local_dir is not None:
            target = self.visible(commit, remote.path)
            return target if target.is_file() else None
        blob = self.blob(remote)
        return blob if blob.is_file() else None
