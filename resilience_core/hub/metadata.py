"""Ask a hub what a revision contains, through huggingface_hub's HTTP session, always with a timeout.

``GET /api/models/{repo}/revision/{rev}`` resolves the revision to a commit; the ``/tree`` listing gives each
file's size, git blob id and LFS sha256. Both calls carry an explicit timeout (huggingface_hub's
``list_repo_tree`` and ``snapshot_download`` send theirs with none) and neither retries on its own: the runtime
owns the retries (see docs/embedding.md, "Who retries"). huggingface_hub is imported here, lazily, and never by
``import resilience_core``.

A hub is an outside input. Its answers are read with a size and depth limit, and everything in them that will
name something on disk is checked before it is used: the commit (40 hex digits), every tree entry's path
(:func:`resilience_core.check_name`: no ``..``, no absolute path, no backslash, no NUL), git oids (40 hex),
LFS oids (64 hex), sizes (non-negative integers); the next-page link must stay on the same origin (it gets the
token). The first bad value raises one :class:`~resilience_core.errors.InputError` (an
:class:`~resilience_core.errors.UnsafePathError` for names) naming the field, the value and the hub.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from resilience_core.documents import load_json
from resilience_core.errors import ConfigError, InputError, UnsafePathError
from resilience_core.hub.errors import ModelNotFoundError
from resilience_core.hub.layout import check_commit
from resilience_core.hub.transfer import RemoteFile
from resilience_core.paths import check_name

__all__ = ["RepoPlan", "hub_token", "resolve_repo", "validate_repo_id", "validate_revision"]

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_TREE_PAGES = 1000
_MAX_FILES = 1_000_000
_MAX_FILE_BYTES = 1 << 50
_MAX_DOCUMENT_BYTES = 64 << 20
_MAX_REVISION_CHARS = 256
_SHOWN_CHARS = 80


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
    """Return ``revision`` if usable as a branch, tag or commit; else raise one clear :class:`ConfigError`.

    A revision becomes ``refs/<revision>`` on disk, so it must be a safe relative name
    (:func:`resilience_core.check_name`) without spaces and no segment may start with ``.``.
    """
    problem = ""
    if not isinstance(revision, str) or not revision or len(revision) > _MAX_REVISION_CHARS:
        problem = f"it must be text of 1..{_MAX_REVISION_CHARS} characters"
    else:
        try:
            check_name(revision, what="revision")
        except UnsafePathError as error:
            problem = error.reason
        else:
            if " " in revision or any(part.startswith(".") for part in revision.split("/")):
                problem = "it contains a space or a segment starting with '.'"
    if problem:
        raise ConfigError(
            f"revision={_shown(revision)} is not a branch, tag or commit ({problem}); "
            "fix: use e.g. 'main', 'v1.0' or a 40-hex sha",
            field="revision",
            value=revision,
            source="argument",
            allowed="a branch, tag or commit",
        )
    assert isinstance(revision, str)
    return revision


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:60]}...({len(text)} chars)"


def hub_token(token: str | bool | None) -> str | None:
    """The token to send: ``False`` none, a string itself, ``None``/``True`` huggingface_hub's own lookup
    (``HF_TOKEN``, then the token ``hf auth login`` stored); ``True`` without any token is a ConfigError."""
    if token is False:
        return None
    if isinstance(token, str):
        return token
    from huggingface_hub import get_token

    found = get_token()
    if token is True and not found:
        raise ConfigError(
            "token=True but no Hugging Face token is set; fix: export HF_TOKEN, run `hf auth login`, or pass token=",
            field="token",
            value=True,
            source="argument",
            allowed="a token string, True with a stored token, None or False",
        )
    return found


def is_commit(revision: str) -> bool:
    """True when ``revision`` is a full 40-hex commit sha."""
    return bool(_COMMIT.fullmatch(revision))


def resolve_repo(
    repo_id: str, revision: str, *, endpoint: str, timeout_s: float, token: str | bool | None = None
) -> RepoPlan:
    """Resolve ``revision`` of ``repo_id`` on ``endpoint`` into a :class:`RepoPlan`.

    Unknown repositories and revisions raise :class:`ModelNotFoundError` (naming the field); network errors
    propagate as the HTTP client raised them, for the runtime to categorize; a hostile or broken answer raises
    :class:`~resilience_core.errors.InputError` naming what was wrong.
    """
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    # The defining modules: huggingface_hub.utils re-exports these without an explicit __all__ for mypy.
    from huggingface_hub.utils._headers import build_hf_headers

    endpoint = endpoint.rstrip("/")
    headers = build_hf_headers(token=hub_token(token) or False)  # None would mean "look it up" again
    try:
        info_url = f"{endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
        info = _get_document(info_url, None, headers, timeout_s)
        sha = info.get("sha") if isinstance(info, dict) else None
        commit = check_commit(sha, what=f"commit id for {repo_id}@{revision} from {endpoint}")
        url: str | None = f"{endpoint}/api/models/{repo_id}/tree/{quote(commit, safe='')}"
        params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
        files: dict[str, RemoteFile] = {}
        blob_ids: dict[str, str] = {}
        for _ in range(_MAX_TREE_PAGES):
            if url is None:
                break
            items, next_url = _get_page(url, params, headers, timeout_s)
            for item in items:
                parsed = _tree_entry(item, endpoint)
                if parsed is None:
                    continue
                remote, blob_id = parsed
                if remote.path in files or len(files) >= _MAX_FILES:
                    raise _bad_answer(endpoint, "tree entry path", remote.path, "appears twice or exceeds the limit")
                files[remote.path] = remote
                blob_ids[remote.path] = blob_id
            url = _same_origin(next_url, endpoint) if next_url else None
            params = None
    except GatedRepoError as error:
        raise ModelNotFoundError(
            f"repo_id={repo_id!r} on {endpoint} needs an access token (gated or private); "
            "fix: export HF_TOKEN or run `hf auth login` (ensure_model sends it by default), or pass token=",
            field="repo_id",
            value=repo_id,
        ) from error
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
    _check_no_file_is_a_folder(files, endpoint)
    return RepoPlan(
        repo_id=repo_id,
        revision=revision,
        commit=commit,
        endpoint=endpoint,
        files=tuple(sorted(files.values(), key=lambda f: f.path)),
        blob_ids=blob_ids,
    )


def _get_document(url: str, params: dict[str, str] | None, headers: dict[str, str], timeout_s: float) -> Any:
    return _get(url, params, headers, timeout_s)[0]


def _get_page(
    url: str, params: dict[str, str] | None, headers: dict[str, str], timeout_s: float
) -> tuple[list[Any], str | None]:
    document, next_url = _get(url, params, headers, timeout_s)
    if not isinstance(document, list):
        raise InputError(
            f"{url} answered a tree listing that is not a JSON list; fix: check that the endpoint is a hub",
            source=url,
            reason="not a list",
        )
    return document, next_url


def _get(url: str, params: dict[str, str] | None, headers: dict[str, str], timeout_s: float) -> tuple[Any, str | None]:
    """GET ``url``; the JSON body (at most 64 MiB, 64 levels deep) and the ``rel="next"`` link, if any."""
    from huggingface_hub.utils._http import get_session, hf_raise_for_status

    with get_session().stream("GET", url, params=params, headers=headers, timeout=timeout_s) as response:
        if response.status_code >= 400:
            response.read()
        hf_raise_for_status(response)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise InputError(
                    f"{url} answered more than {_MAX_DOCUMENT_BYTES} bytes of metadata; fix: check the endpoint",
                    source=url,
                    reason="too large",
                )
        next_url = response.links.get("next", {}).get("url")
    return load_json(bytes(body), source=url, max_bytes=_MAX_DOCUMENT_BYTES), next_url


def _bad_answer(endpoint: str, what: str, value: object, problem: str) -> InputError:
    return InputError(
        f"{what} {_shown(value)} from {endpoint} is refused: {problem}; "
        "fix: use a hub or mirror you trust (this one sent a broken or hostile answer)",
        source=endpoint,
        reason=problem,
    )


def _tree_entry(item: object, endpoint: str) -> tuple[RemoteFile, str] | None:
    """One ``type: file`` entry as (RemoteFile, git blob id), every field checked; None for other entry types."""
    if not isinstance(item, dict):
        raise _bad_answer(endpoint, "tree entry", item, "it is not an object")
    if item.get("type") != "file":
        return None
    path = check_name(item.get("path"), what=f"tree entry path from {endpoint}")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_FILE_BYTES:
        limit = f"it must be an integer in 0..{_MAX_FILE_BYTES}"
        raise _bad_answer(endpoint, f"tree entry {path!r} size", size, limit)
    blob_id = item.get("oid")
    if not isinstance(blob_id, str) or not _COMMIT.fullmatch(blob_id):
        raise UnsafePathError(
            f"git oid {_shown(blob_id)} of tree entry {path!r} from {endpoint} is refused: it is not 40 hex digits; "
            "fix: use a hub or mirror you trust",
            name=str(blob_id),
            reason="not a git oid",
        )
    sha256: str | None = None
    lfs = item.get("lfs")
    if lfs is not None:
        oid = lfs.get("oid") if isinstance(lfs, dict) else None
        if not isinstance(oid, str) or not _SHA256.fullmatch(oid):
            raise UnsafePathError(
                f"LFS oid {_shown(oid)} of tree entry {path!r} from {endpoint} is refused: it is not 64 hex digits "
                "(a sha256); fix: use a hub or mirror you trust",
                name=str(oid),
                reason="not a sha256",
            )
        if isinstance(lfs, dict) and "size" in lfs and lfs["size"] != size:
            raise _bad_answer(endpoint, f"tree entry {path!r} LFS size", lfs["size"], f"it differs from size={size}")
        sha256 = oid
    return RemoteFile(path=path, size_bytes=size, etag=sha256 or blob_id, sha256=sha256), blob_id


def _check_no_file_is_a_folder(files: dict[str, RemoteFile], endpoint: str) -> None:
    for path in files:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in files:
                raise _bad_answer(endpoint, "tree entry path", parent, f"it is a file and also the folder of {path!r}")
            parent = parent.rpartition("/")[0]


def _same_origin(url: str, endpoint: str) -> str:
    """``url`` if it has ``endpoint``'s scheme, host and port (the next page gets the token too)."""

    def origin(value: str) -> tuple[str, str, int | None]:
        parts = urllib.parse.urlsplit(value)
        return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)

    try:
        same = origin(url) == origin(endpoint)
    except ValueError:
        same = False
    if not same:
        raise _bad_answer(endpoint, "next-page link", url, "it leaves the hub's origin (it would receive the token)")
    return url
