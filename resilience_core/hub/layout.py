"""Where a repository's files live on disk: the huggingface_hub cache layout, or a plain ``local_dir``.

Both layouts are the ones huggingface_hub itself writes and reads, so the result of :func:`ensure_model` loads
with ``hf_hub_download(..., local_files_only=True)`` or ``snapshot_download(..., local_files_only=True)``:

- cache: ``<cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<path> -> ../../blobs/<etag>,
  refs/<revision>, trees/<commit>.json}`` and ``<cache>/.locks/models--org--name/<etag>.lock``;
- local_dir: ``<dir>/<path>`` plus ``<dir>/.cache/huggingface/{download/<path>.metadata, trees/<commit>.json}``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from resilience_core.hub.transfer import RemoteFile
from resilience_core.state.atomic import atomic_write, publish_file

__all__ = ["Layout", "default_cache_dir"]


def default_cache_dir() -> Path:
    """The cache huggingface_hub uses (``HF_HUB_CACHE`` / ``HF_HOME``), read without importing it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expandvars(os.path.expanduser(os.environ["HF_HUB_CACHE"])))
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def _repo_folder(repo_id: str) -> str:
    return "--".join(["models", *repo_id.split("/")])


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths for one repository in a cache (``local_dir=None``) or in a local directory."""

    cache_dir: Path
    repo_id: str
    local_dir: Path | None = None

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
        return self.blobs_dir / remote.etag

    def lock(self, remote: RemoteFile) -> Path:
        """The lock guarding ``remote``'s blob."""
        if self.local_dir is not None:
            return self.locks_dir / f"{remote.path}.lock"
        return self.locks_dir / f"{remote.etag}.lock"

    def ref(self, revision: str) -> Path:
        """The file holding the commit a branch or tag resolved to."""
        return self.storage / "refs" / revision

    def tree(self, commit: str) -> Path:
        """The cached tree listing of ``commit`` (huggingface_hub's format_version 1)."""
        return self.storage / "trees" / f"{commit}.json"

    def visible(self, commit: str, path: str) -> Path:
        """Where a user (or huggingface_hub) finds ``path`` of ``commit``."""
        if self.local_dir is not None:
            return self.local_dir / path
        return self.storage / "snapshots" / commit / path

    def snapshot_dir(self, commit: str) -> Path:
        """The folder to hand to a loader."""
        if self.local_dir is not None:
            return self.local_dir
        return self.storage / "snapshots" / commit

    def read_ref(self, revision: str) -> str | None:
        """The commit ``revision`` resolved to last time, or None."""
        try:
            return self.ref(revision).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def write_ref(self, revision: str, commit: str) -> None:
        """Remember that ``revision`` resolved to ``commit`` (skipped when the revision is the commit)."""
        if revision != commit:
            atomic_write(self.ref(revision), commit)

    def read_tree(self, commit: str) -> dict[str, RemoteFile] | None:
        """The recorded file list of ``commit``, or None when absent or unreadable."""
        try:
            data = json.loads(self.tree(commit).read_text(encoding="utf-8"))
            files = data["files"]
            return {
                path: RemoteFile(
                    path=path,
                    size_bytes=int(info["size"]),
                    etag=str(info.get("lfs_sha256") or info["blob_id"]),
                    sha256=info.get("lfs_sha256"),
                )
                for path, info in files.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

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
            meta = self.storage / "download" / f"{remote.path}.metadata"
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
