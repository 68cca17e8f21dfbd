"""The ``files`` check of a scenario: plain files (curl, wget, a custom script) hold the hub's bytes.

``verify.hf_cache`` reads what huggingface_hub writes (a cache, or a ``--local-dir`` with its metadata); a plain
downloader writes neither, so ``verify.files`` checks only that every file of the served commit is under
``path`` at its repo path with the hub's size and digest (sha256 for LFS files, git-sha1 for the rest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resilience_core.errors import InputError
from resilience_core.paths import safe_join

__all__ = ["plain_files_problems"]


def plain_files_problems(root: Path, hub: Any, repo_id: str, revision: str, *, required: bool) -> list[str]:
    """Problems of the plain download of ``repo_id@revision`` under ``root``; ``[]``: verified.

    ``required=False`` (after a failed run) checks only the files that are there: a missing file is what a
    clean failure leaves, a file with other bytes is half-written.
    """
    from resilience_core.hub.transfer import RemoteFile
    from resilience_core.hub.verify import ChecksumMismatch, check_file

    label = f"{repo_id}@{revision}"
    repo = hub.generated.repo(repo_id, revision)
    problems: list[str] = []
    for path, served in sorted(repo.files.items()):
        try:
            where = safe_join(root, path, what="served file")
        except InputError as error:
            problems.append(f"{label}: {error}")
            continue
        if not where.exists():
            if required:
                problems.append(f"{label}: {path} is missing")
            continue
        remote = RemoteFile(
            path=path, size_bytes=served.size_bytes, etag=served.etag, sha256=served.sha256 if served.lfs else None
        )
        try:
            check_file(where, remote)
        except ChecksumMismatch as error:
            problems.append(f"{label}: {error}")
        except OSError as error:
            problems.append(f"{label}: {path} unreadable: {error.strerror or error}")
    return problems
