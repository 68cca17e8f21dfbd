"""``models verify``: check every installed file of a revision against the hashes the hub published.

The expected values come from the tree listing :func:`ensure_model` records next to the files
(``trees/<commit>.json``, huggingface_hub's own format): sha256 for LFS files, git-sha1 for the rest. It needs
no network. huggingface_hub itself never hashes what it downloads (reference §4), so this is the check that
catches same-size corruption served once or written to disk afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from resilience_core.hub.errors import ChecksumMismatch
from resilience_core.hub.layout import Layout, default_cache_dir
from resilience_core.hub.metadata import is_commit, validate_repo_id, validate_revision
from resilience_core.hub.transfer import RemoteFile, file_digest
from resilience_core.state.integrity import Mismatch, VerifyReport

__all__ = ["ChecksumMismatch", "ModelVerification", "check_file", "verify_model"]


@dataclass(frozen=True, slots=True)
class ModelVerification:
    """What :func:`verify_model` found for one revision.

    ``installed`` is False when the revision was never ensured here (then ``report`` is empty and ``ok`` False).
    """

    repo_id: str
    revision: str
    commit: str | None
    path: Path | None
    installed: bool
    checked_files: int
    checked_bytes: int
    report: VerifyReport

    @property
    def ok(self) -> bool:
        """True when the revision is installed and every file matches."""
        return self.installed and self.report.ok


def check_file(path: Path, remote: RemoteFile, *, quick: bool = False) -> None:
    """Raise :class:`ChecksumMismatch` unless ``path`` holds exactly ``remote``'s bytes.

    ``quick`` compares the size only (microseconds); otherwise the full digest is computed.
    """
    size = path.stat().st_size
    if size != remote.size_bytes:
        raise ChecksumMismatch(
            f"{remote.path}: {size} bytes on disk, expected {remote.size_bytes}; run ensure_model to repair it",
            entry=remote.path,
            filename=os.fspath(path),
            expected=str(remote.size_bytes),
            actual=str(size),
        )
    if quick:
        return
    digest = file_digest(path, remote)
    if digest != remote.expected_digest:
        raise ChecksumMismatch(
            f"{remote.path}: {remote.algorithm} {digest} on disk, expected {remote.expected_digest}; "
            "run ensure_model to repair it",
            entry=remote.path,
            filename=os.fspath(path),
            expected=remote.expected_digest,
            actual=digest,
        )


def verify_model(
    repo_id: str,
    revision: str = "main",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    quick: bool = False,
) -> ModelVerification:
    """Hash every file of ``repo_id@revision`` as installed by :func:`ensure_model`; never touches the network.

    >>> result = verify_model("acme/wan-mini", "main", cache_dir=cache)  # doctest: +SKIP
    >>> result.ok, [m.path for m in result.report.mismatched]  # doctest: +SKIP
    (False, ['model.safetensors'])
    """
    validate_repo_id(repo_id)
    validate_revision(revision)
    layout = Layout(
        Path(cache_dir) if cache_dir is not None else default_cache_dir(),
        repo_id,
        Path(local_dir) if local_dir is not None else None,
    )
    commit = revision if is_commit(revision) else layout.read_ref(revision)
    files = layout.read_tree(commit) if commit else None
    if commit is None or files is None:
        return ModelVerification(repo_id, revision, commit, None, False, 0, 0, VerifyReport())
    mismatched: list[Mismatch] = []
    missing: list[str] = []
    checked_bytes = 0
    for remote in sorted(files.values(), key=lambda f: f.path):
        path = layout.visible(commit, remote.path)
        if not path.is_file():
            missing.append(remote.path)
            continue
        try:
            check_file(path, remote, quick=quick)
        except ChecksumMismatch as error:
            reason = "size" if error.expected == str(remote.size_bytes) else remote.algorithm
            mismatched.append(Mismatch(remote.path, f"{reason}: expected {error.expected}, found {error.actual}"))
        checked_bytes += remote.size_bytes
    return ModelVerification(
        repo_id,
        revision,
        commit,
        layout.snapshot_dir(commit),
        True,
        len(files),
        checked_bytes,
        VerifyReport(mismatched=tuple(mismatched), missing=tuple(missing)),
    )
