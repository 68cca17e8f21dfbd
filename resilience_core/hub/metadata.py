"""Ask a hub what a revision contains, through huggingface_hub, always with a timeout.

``HfApi.model_info`` resolves the revision to a commit; the ``/tree`` listing (fetched on huggingface_hub's own
session and parsed into its ``RepoFile``) gives each file's size, git blob id and LFS sha256. Both calls carry
an explicit timeout: huggingface_hub's ``list_repo_tree`` and ``snapshot_download`` send theirs with none.
huggingface_hub is imported here, lazily, and never by ``import resilience_core``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from resilience_core.errors import ConfigError
from resilience_core.hub.errors import HubProtocolError, ModelNotFoundError
from resilience_core.hub.transfer import RemoteFile

__all__ = ["RepoPlan", "resolve_repo", "validate_repo_id", "validate_revision"]

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_MAX_TREE_PAGES = 1000


@dataclass(frozen=True, slots=True)
class RepoPlan:
    """A revision resolved on one source: its commit and every file in it."""

    repo_id: str
    revision: str
    commit: str
    endpoint: str
    files: tuple[RemoteFile, ...]
    blob_ids: dict[str, str] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Sum of every file's size."""
        return sum(f.size_bytes for f in self.files)


def validate_repo_id(repo_id: object) -> str:
    """Return ``repo_id`` if it looks like ``org/name``; else raise one clear ``ValueError``."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise ConfigError(
            f"repo_id={repo_id!r} is not a repository id; use 'org/name' (letters, digits, '.', '_', '-')",
            field="repo_id",
            value=repo_id,
            source="argument",
            allowed="org/name",
        )
    return repo_id


def validate_revision(revision: object) -> str:
    """Return ``revision`` if usable as a branch, tag or commit; else raise one clear :class:`ConfigError`."""
    if (
        not isinstance(revision, str)
        or not revision
        or revision.startswith(("/", "."))
        or ".." in revision
        or any(c in revision for c in "\0\\ ")
    ):
        raise ConfigError(
            f"revision={revision!r} is not a branch, tag or commit; use e.g. 'main' or a 40-hex sha",
            field="revision",
            value=revision,
            source="argument",
            allowed="a branch, tag or commit",
        )
    return revision


def is_commit(revision: str) -> bool:
    """True when ``revision`` is a full 40-hex commit sha."""
    return bool(_COMMIT.fullmatch(revision))


def resolve_repo(
    repo_id: str, revision: str, *, endpoint: str, timeout_s: float, token: str | bool | None = False
) -> RepoPlan:
    """Resolve ``revision`` of ``repo_id`` on ``endpoint`` into a :class:`RepoPlan`.

    Unknown repositories and revisions raise :class:`ModelNotFoundError` (naming the field); network errors
    propagate as the HTTP client raised them, for the runtime to categorize.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    # The defining modules: huggingface_hub.utils re-exports these without an explicit __all__ for mypy.
    from huggingface_hub.utils._headers import build_hf_headers
    from huggingface_hub.utils._http import get_session, hf_raise_for_status

    endpoint = endpoint.rstrip("/")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        info = api.model_info(repo_id, revision=revision, timeout=timeout_s, token=token)
        commit = info.sha
        if not commit or not is_commit(commit):
            raise HubProtocolError(
                f"{endpoint} returned no commit sha for {repo_id}@{revision}; is it a Hugging Face hub?"
            )
        url: str | None = f"{endpoint}/api/models/{repo_id}/tree/{quote(commit, safe='')}"
        params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
        headers = build_hf_headers(token=token)
        files: list[RemoteFile] = []
        blob_ids: dict[str, str] = {}
        for _ in range(_MAX_TREE_PAGES):
            if url is None:
                break
            response = get_session().get(url, params=params, headers=headers, timeout=timeout_s)
            hf_raise_for_status(response)
            for item in response.json():
                if item.get("type") != "file":
                    continue
                entry = RepoFile(**item)  # type: ignore[no-untyped-call]  # huggingface_hub leaves __init__ untyped
                sha256 = entry.lfs.sha256 if entry.lfs is not None else None
                files.append(
                    RemoteFile(path=entry.path, size_bytes=int(entry.size), etag=sha256 or entry.blob_id, sha256=sha256)
                )
                blob_ids[entry.path] = entry.blob_id
            url = response.links.get("next", {}).get("url")
            params = None
    except RepositoryNotFoundError as error:
        raise ModelNotFoundError(
            f"repo_id={repo_id!r} does not exist on {endpoint} (or is private); check the name",
            field="repo_id",
            value=repo_id,
        ) from error
    except RevisionNotFoundError as error:
        raise ModelNotFoundError(
            f"revision={revision!r} does not exist in {repo_id} on {endpoint}; use a branch, tag or commit that does",
            field="revision",
            value=revision,
        ) from error
    return RepoPlan(
        repo_id=repo_id,
        revision=revision,
        commit=commit,
        endpoint=endpoint,
        files=tuple(sorted(files, key=lambda f: f.path)),
        blob_ids=blob_ids,
    )
