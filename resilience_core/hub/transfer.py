"""Move one file's bytes: a resumable, verified HTTP download that survives exceptions and process kills.

The bytes go to ``<blob>.part``; ``<blob>.part.json`` records the ETag and size they belong to. A later call
(in this process or after a ``kill -9``) resumes with ``Range: bytes=N-`` only when the recorded ETag matches.
Every chunk is written unbuffered as soon as it arrives, so a reset loses no byte that crossed the wire. The
digest (sha256 for LFS files, git-sha1 otherwise) of the bytes on disk is checked before the file is renamed
into place: a blob path either does not exist or holds verified bytes, even when the partial was changed on disk
while it downloaded.

Only the standard library is used (``http.client``): it gives exact control over reads, timeouts and ranges.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from resilience_core.documents import load_json
from resilience_core.errors import ConfigError, InputError
from resilience_core.hub.errors import ChecksumMismatch, HubHTTPError, HubProtocolError, ModelNotFoundError
from resilience_core.state.atomic import atomic_write, publish_file

__all__ = [
    "PART_SUFFIX",
    "DownloadStats",
    "RemoteFile",
    "download_blob",
    "file_digest",
    "partial_paths",
]

PART_SUFFIX = ".part"
_META_SUFFIX = ".part.json"
_CHUNK_BYTES = 1 << 16
_MAX_REDIRECTS = 5
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_MAX_META_BYTES = 64 << 10
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a repository at a commit.

    ``etag`` is the blob name in the cache (the sha256 for LFS files, the git-sha1 otherwise); ``sha256`` is the
    LFS oid when the file is stored in LFS, else ``None`` and the git-sha1 is checked instead.
    """

    path: str
    size_bytes: int
    etag: str
    sha256: str | None = None

    @property
    def algorithm(self) -> str:
        """``sha256`` for LFS files, ``git-sha1`` for regular ones."""
        return "sha256" if self.sha256 else "git-sha1"

    @property
    def expected_digest(self) -> str:
        """The hex digest the downloaded bytes must have."""
        return self.sha256 or self.etag

    def new_hasher(self) -> _Hasher:
        """A hasher primed for this file's algorithm (git-sha1 hashes a ``blob <size>\\0`` prefix first)."""
        if self.sha256:
            return hashlib.sha256()
        hasher = hashlib.sha1(usedforsecurity=False)
        hasher.update(b"blob %d\0" % self.size_bytes)
        return hasher


@dataclass(frozen=True, slots=True)
class DownloadStats:
    """What one :func:`download_blob` call did: bytes received over HTTP, the offset it resumed from."""

    path: str
    received_bytes: int
    resumed_from_bytes: int
    requests: int
    elapsed_s: float


def partial_paths(blob_path: Path) -> tuple[Path, Path]:
    """The partial data file and its ETag record for ``blob_path``."""
    return blob_path.with_name(blob_path.name + PART_SUFFIX), blob_path.with_name(blob_path.name + _META_SUFFIX)


def file_digest(path: Path, remote: RemoteFile, *, limit_bytes: int | None = None) -> str:
    """Hash ``path`` (or its first ``limit_bytes``) with ``remote``'s algorithm; returns the hex digest."""
    hasher = remote.new_hasher()
    _hash_into(hasher, path, limit_bytes)
    return hasher.hexdigest()


def _hash_into(hasher: _Hasher, path: Path, limit_bytes: int | None = None) -> None:
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    remaining = limit_bytes
    with path.open("rb", buffering=0) as handle:
        while remaining is None or remaining > 0:
            want = len(buffer) if remaining is None else min(len(buffer), remaining)
            got = handle.readinto(view[:want])
            if not got:
                break
            hasher.update(view[:got])
            if remaining is not None:
                remaining -= got


def _remove_partial(blob_path: Path) -> None:
    for path in partial_paths(blob_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read_meta(meta_path: Path) -> dict[str, Any] | None:
    try:
        with meta_path.open("rb") as stream:
            data = load_json(stream.read(_MAX_META_BYTES + 1), source=str(meta_path), max_bytes=_MAX_META_BYTES)
    except (OSError, InputError):
        return None
    return data if isinstance(data, dict) else None


def _write_meta(meta_path: Path, remote: RemoteFile, url: str) -> None:
    atomic_write(meta_path, json.dumps({"format": 1, "etag": remote.etag, "size_bytes": remote.size_bytes, "url": url}))


def _resume_offset(blob_path: Path, remote: RemoteFile) -> int:
    """Bytes already on disk that belong to ``remote``; anything that does not match is discarded."""
    part_path, meta_path = partial_paths(blob_path)
    meta = _read_meta(meta_path)
    if meta is None or not part_path.exists():
        _remove_partial(blob_path)
        return 0
    size = part_path.stat().st_size
    if meta.get("etag") != remote.etag or meta.get("size_bytes") != remote.size_bytes or size > remote.size_bytes:
        _remove_partial(blob_path)
        return 0
    return size


def _normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def _open(
    url: str, headers: Mapping[str, str], timeout_s: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, str]:
    """GET ``url`` following up to five redirects; returns the connection, the response and the final URL.

    A redirect to another origin (a CDN) does not get the ``Authorization`` header: the token stays with the hub.
    """
    headers = dict(headers)
    for _ in range(_MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"source url={url!r} must be an http:// or https:// URL; fix the endpoint",
                field="url",
                value=url,
                source="argument",
                allowed="http:// or https:// URLs",
            )
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=timeout_s)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            conn.request("GET", target, headers=dict(headers))
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            location = urllib.parse.urljoin(url, response.getheader("Location", ""))
            response.read()
            conn.close()
            if _origin(location) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = location
            continue
        return conn, response, url
    raise HubHTTPError(f"more than {_MAX_REDIRECTS} redirects from {url}", status_code=310, url=url)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(parts.scheme)


def _raise_for_status(response: http.client.HTTPResponse, url: str, remote: RemoteFile) -> None:
    status = response.status
    if status in (200, 206):
        return
    code = response.getheader("X-Error-Code", "")
    body = response.read(4096)
    del body
    if status == 404 and code in ("RepoNotFound", "RevisionNotFound"):
        field = "repo_id" if code == "RepoNotFound" else "revision"
        raise ModelNotFoundError(f"{code} for {url}; check the {field}", field=field, value=url)
    if status == 404:
        raise ModelNotFoundError(
            f"file {remote.path!r} not found at {url}; check the filename", field="filename", value=remote.path
        )
    raise HubHTTPError(f"HTTP {status} {response.reason} for GET {url}", status_code=status, url=url)


def download_blob(
    url: str,
    blob_path: Path,
    remote: RemoteFile,
    *,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> DownloadStats:
    """Download ``url`` into ``blob_path``, resuming a matching partial, verifying before it becomes visible.

    Raises the network error as it happened (``ConnectionResetError``, ``TimeoutError``...) with the partial
    kept for the next call, :class:`HubProtocolError` for a misbehaving server, :class:`HubHTTPError` or
    :class:`ModelNotFoundError` for a bad status, and :class:`ChecksumMismatch` (an ``IntegrityError``) when
    the digest is wrong (the partial is then deleted, so the next call starts clean).

    >>> download_blob(url, cache / "blobs" / etag, RemoteFile("model.safetensors", size, etag, sha256))
    ... # doctest: +SKIP
    """
    started = time.monotonic()
    blob_path.parent.mkdir(parents=True, exist_ok=True)
    part_path, meta_path = partial_paths(blob_path)
    offset = _resume_offset(blob_path, remote)
    resumed_from = offset
    received = 0
    requests = 0
    if offset < remote.size_bytes:
        request_headers = {"Accept-Encoding": "identity", "User-Agent": "resilience-core-hub/1"}
        request_headers.update(headers or {})
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        conn, response, final_url = _open(url, request_headers, timeout_s)
        requests += 1
        try:
            _raise_for_status(response, final_url, remote)
            served_etag = _normalize_etag(response.getheader("X-Linked-Etag") or response.getheader("ETag"))
            if served_etag and served_etag != remote.etag:
                _remove_partial(blob_path)
                raise HubProtocolError(
                    f"{final_url} now serves ETag {served_etag}, not {remote.etag}: the file changed on the "
                    "server; the partial download was discarded"
                )
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.getheader("Content-Range", "").strip())
                if not match or int(match.group(1)) != offset:
                    _remove_partial(blob_path)
                    raise HubProtocolError(
                        f"{final_url} answered Range bytes={offset}- with Content-Range "
                        f"{response.getheader('Content-Range')!r}; the partial download was discarded"
                    )
            elif offset:
                # The server ignored Range: start over rather than append a second copy.
                offset = 0
            if offset == 0:
                _write_meta(meta_path, remote, url)
            mode = "r+b" if offset else "wb"
            with part_path.open(mode, buffering=0) as handle:
                handle.seek(offset)
                handle.truncate()
                while True:
                    chunk = response.read1(_CHUNK_BYTES)
                    if not chunk:
                        break
                    if offset + len(chunk) > remote.size_bytes:
                        _remove_partial(blob_path)
                        raise HubProtocolError(
                            f"{final_url} sent more than the {remote.size_bytes} bytes announced for {remote.path}"
                        )
                    handle.write(chunk)
                    offset += len(chunk)
                    received += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
        finally:
            conn.close()
        if offset != remote.size_bytes:
            raise HubProtocolError(
                f"{final_url} closed the body of {remote.path} at byte {offset} of {remote.size_bytes}; "
                "the next attempt resumes from there"
            )
    if not part_path.exists():  # an empty file needs no request but still gets published
        part_path.touch()
    # The digest is taken of the bytes on disk, not of the bytes as they arrived: what becomes visible is the
    # file, and a write that went wrong (a full disk's short write, another process or a bad sector changing
    # the partial) must fail here too. It is one hashing pass either way; the read comes from the page cache.
    digest = file_digest(part_path, remote)
    if digest != remote.expected_digest:
        _remove_partial(blob_path)
        raise ChecksumMismatch(
            f"{remote.path}: {remote.algorithm} {digest} does not match the expected {remote.expected_digest}; "
            "the corrupt download was discarded and will be fetched again",
            entry=remote.path,
            filename=os.fspath(part_path),
            expected=remote.expected_digest,
            actual=digest,
        )
    publish_file(part_path, blob_path)
    with contextlib.suppress(FileNotFoundError):
        meta_path.unlink()
    return DownloadStats(
        path=remote.path,
        received_bytes=received,
        resumed_from_bytes=resumed_from,
        requests=requests,
        elapsed_s=time.monotonic() - started,
    )
