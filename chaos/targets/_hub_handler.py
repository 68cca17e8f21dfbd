"""The request handler of the local hub: the Hugging Face Hub routes huggingface_hub uses to download.

Routes (``{t}`` is ``models`` or ``datasets``; repo ids have one or two segments; ``{rev}`` may be URL-quoted):

- ``GET /api/{t}/{repo}[/revision/{rev}][?blobs=true]``: repo info with ``sha`` and ``siblings`` (with
  ``blobs=true``, as ``model_info(files_metadata=True)`` asks, each sibling has ``size``, ``blobId`` and ``lfs``)
- ``GET /api/{t}/{repo}/tree/{rev}[/{path}]?recursive=&cursor=``: tree listing, ``Link: rel="next"`` paging
- ``POST /api/{t}/{repo}/paths-info/{rev}``, ``GET /api/{t}/{repo}/refs``
- ``HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path}``: the file, or a 302 to the CDN port for LFS files
- on the CDN server: ``HEAD|GET /cdn/{t}/{repo}/{commit}/{path}``
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from chaos.targets._http import (
    RangeNotSatisfiable,
    TargetHTTPServer,
    header_safe,
    host_header_ok,
    open_regular_file,
    parse_range,
    send_bytes,
    send_file_range,
    send_json_error,
)
from chaos.targets.hub_state import RequestRecord
from resilience_core.documents import load_json
from resilience_core.errors import InputError

if TYPE_CHECKING:
    from chaos.targets.hub_state import HubState
    from chaos.targets.repos import GeneratedFile, GeneratedRepo

__all__ = ["HubHTTPServer", "HubRequestHandler"]

_API_VERBS = ("revision", "tree", "paths-info", "refs")
_MAX_BODY_BYTES = 1 << 20
_MAX_PATHS = 10_000
_log = logging.getLogger("chaos.targets")


class _BadRequest(Exception):
    """The request itself is malformed (answered 400)."""


_LAST_MODIFIED = "2026-01-01T00:00:00.000Z"


class HubHTTPServer(TargetHTTPServer):
    """A hub or CDN listener bound to the shared state of one :class:`~chaos.targets.hub.HubServer`."""

    def __init__(self, address: tuple[str, int], state: HubState, role: str) -> None:
        super().__init__(address, HubRequestHandler)
        self.bound_host = address[0]
        self.state = state
        self.role = role


class HubRequestHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "resilience-chaos-hub/1"
    disable_nagle_algorithm = True
    timeout = 120.0
    server: HubHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        with contextlib.suppress(OSError):  # the peer reset the connection; nothing left to flush
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's parameter name
        """Silence the stdlib's per-request stderr line; requests are kept in HubServer.requests."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        """Every header value goes out escaped (see :func:`header_safe`): echoed request parts cannot inject."""
        super().send_header(keyword, header_safe(str(value)))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors from the stdlib (400, 414, 431, 505; 501 becomes 405) answer JSON, not HTML."""
        send_json_error(self, code, message, explain)

    # -- dispatch ---------------------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._status = 0
        self._sent = 0
        started_s = time.monotonic()
        self.server.state.begin()
        try:
            self._route(method)
        except OSError:
            self.close_connection = True  # the client went away mid-reply
        except Exception:  # noqa: BLE001  # a malformed request must get an answer, not a dropped connection
            _log.exception("hub failed on %s %s", method, self.path)
            self.close_connection = True
            if not self._status:
                self._error(method, 500, None, "internal error in the local hub")
        finally:
            self.server.state.record(
                RequestRecord(
                    self.server.role,
                    method,
                    self.path,
                    self.headers.get("Range"),
                    self._status,
                    self._sent,
                    started_s,
                    "Authorization" in self.headers,
                )
            )

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        segments = [unquote(s) for s in url.path.strip("/").split("/")]
        try:
            body = self._read_body() if method == "POST" else b""
        except _BadRequest as error:
            self._error(method, 400, None, str(error))
            return
        if self.server.role == "hub" and not self._authorized():
            self._error(
                method, 401, "GatedRepo", "Access to this repo is restricted; send Authorization: Bearer <token>"
            )
            return
        failure = self.server.state.take_failure(method, url.path)
        if failure is not None:
            extra = {} if failure.retry_after_s is None else {"Retry-After": f"{failure.retry_after_s:g}"}
            self._json(method, failure.status, {"error": f"planned failure {failure.status}"}, extra)
            return
        if self.server.role == "cdn":
            self._cdn(method, segments)
        elif segments[0] == "api" and len(segments) >= 3 and segments[1] in ("models", "datasets"):
            self._api(method, segments[1][:-1], segments[2:], parse_qs(url.query), body)
        elif method in ("GET", "HEAD"):
            if segments[0] == "datasets":
                self._resolve(method, "dataset", segments[1:])
            else:
                self._resolve(method, "model", segments)
        else:
            self._error(method, 404, None, f"no route for {method} {url.path}")

    def _authorized(self) -> bool:
        """True unless the hub requires a token and the request does not carry it (the CDN never asks)."""
        required = self.server.state.required_token
        if required is None:
            return True
        sent = self.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode("utf-8", "replace"), f"Bearer {required}".encode())

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding") is not None:
            # Only Content-Length bodies are read (huggingface_hub sends nothing else); a chunked body cannot be
            # skipped without parsing it, so the connection ends here.
            self.close_connection = True
            raise _BadRequest("Transfer-Encoding is not supported here; send the body with a Content-Length")
        raw = (self.headers.get("Content-Length") or "0").strip()
        length = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else -1
        if not 0 <= length <= _MAX_BODY_BYTES or len(self.headers.get_all("Content-Length") or ()) > 1:
            self.close_connection = True  # the body cannot be skipped reliably, so the connection cannot be reused
            raise _BadRequest(f"Content-Length must be one integer in 0..{_MAX_BODY_BYTES}")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise _BadRequest(f"the body ended after {len(body)} of {length} bytes")
        return body

    def _split_repo(self, repo_type: str, segments: list[str], verbs: tuple[str, ...]) -> tuple[str, int] | None:
        """(repo_id, index of the verb segment): prefers a repo the spec knows, for one- and two-part ids."""
        candidates = [n for n in (1, 2) if len(segments) > n and segments[n] in verbs]
        for n in candidates:
            if self.server.state.generated.commits("/".join(segments[:n]), repo_type):
                return "/".join(segments[:n]), n
        if candidates:
            return "/".join(segments[: candidates[-1]]), candidates[-1]
        return None

    # -- API ----------------------------------------------------------------------------------------------------

    def _api(self, method: str, repo_type: str, rest: list[str], query: dict[str, list[str]], body: bytes) -> None:
        split = self._split_repo(repo_type, rest, _API_VERBS)
        if split is None:
            repo_id, verb, args = "/".join(rest[:2]), "revision", ["main"]
        else:
            repo_id, n = split
            verb, args = rest[n], rest[n + 1 :]
        if not self.server.state.generated.commits(repo_id, repo_type):
            self._error(method, 404, "RepoNotFound", "Repository not found")
            return
        if verb == "refs":
            self._refs(method, repo_id, repo_type)
            return
        revision = args[0] if args else "main"
        repo = self.server.state.generated.resolve(repo_id, revision, repo_type)
        if repo is None:
            self._error(method, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        if verb == "revision" and method in ("GET", "HEAD"):
            blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
            self._json(method, 200, _repo_info(repo, blobs=blobs))
        elif verb == "tree" and method in ("GET", "HEAD"):
            self._tree(method, repo, "/".join(args[1:]), query)
        elif verb == "paths-info" and method == "POST":
            self._paths_info(repo, body)
        else:
            self._error(method, 404, None, f"no route for {method} {verb}")

    def _refs(self, method: str, repo_id: str, repo_type: str) -> None:
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": repo.commit}
            for repo in self.server.state.generated.commits(repo_id, repo_type)
            for name in repo.revisions
        ]
        self._json(method, 200, {"branches": branches, "converts": [], "tags": []})

    def _tree(self, method: str, repo: GeneratedRepo, path: str, query: dict[str, list[str]]) -> None:
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        if path and path not in repo.files and path not in repo.directories:
            self._error(method, 404, "EntryNotFound", f"{path} does not exist on {repo.commit}", repo.commit)
            return
        if path in repo.files:
            entries = [_file_entry(repo.files[path])]
        else:
            prefix = f"{path}/" if path else ""
            names = [p for p in (*repo.directories, *repo.files) if p.startswith(prefix)]
            if not recursive:
                names = [p for p in names if "/" not in p[len(prefix) :]]
            entries = [_file_entry(repo.files[p]) if p in repo.files else _dir_entry(repo, p) for p in sorted(names)]
        try:
            cursor = int(query.get("cursor", ["0"])[0])
        except ValueError:
            self._error(method, 400, None, "cursor must be an integer")
            return
        page_size = self.server.state.tree_page_size
        page = entries[cursor : cursor + page_size]
        headers = {}
        if cursor + page_size < len(entries):
            host = self.headers.get("Host")
            if not host or not host_header_ok(host):  # the Link is built from it: a malformed Host is not echoed
                host = f"{self.server.bound_host}:{self.server.server_port}"
            base = urlsplit(self.path).path
            flag = "true" if recursive else "false"
            next_url = f"http://{host}{base}?recursive={flag}&expand=false&cursor={cursor + page_size}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(method, 200, page, headers)

    def _paths_info(self, repo: GeneratedRepo, body: bytes) -> None:
        paths = _paths_of(body, self.headers.get("Content-Type", ""))
        if paths is None:
            self._error(
                "POST", 400, None, "paths-info body must be form data or a JSON object with 'paths': a list of strings"
            )
            return
        entries = [
            _file_entry(repo.files[p]) if p in repo.files else _dir_entry(repo, p)
            for p in paths
            if p in repo.files or p in repo.directories
        ]
        self._json("POST", 200, entries)

    # -- files ----------------------------------------------------------------------------------------------------

    def _resolve(self, method: str, repo_type: str, segments: list[str]) -> None:
        split = self._split_repo(repo_type, segments, ("resolve",))
        if split is None or len(segments) < split[1] + 3:
            self._error(method, 404, "RepoNotFound" if split else None, "expected /{repo}/resolve/{rev}/{path}")
            return
        repo_id, n = split
        revision, path = segments[n + 1], "/".join(segments[n + 2 :])
        generated = self.server.state.generated
        if not generated.commits(repo_id, repo_type):
            self._error(method, 404, "RepoNotFound", "Repository not found")
            return
        repo = generated.resolve(repo_id, revision, repo_type)
        if repo is None:
            self._error(method, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        file = repo.files.get(path)
        if file is None:
            self._error(method, 404, "EntryNotFound", "Entry not found", repo.commit)
            return
        state = self.server.state
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{file.etag}"'}
        if file.lfs:
            headers |= {"X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(file.size_bytes)}
            if state.cdn_base_url is not None:
                tail = "/".join(quote(p, safe="") for p in (*repo_id.split("/"), repo.commit, *path.split("/")))
                headers["Location"] = f"{state.cdn_base_url}/cdn/{repo_type}s/{tail}"
                self._reply(method, 302, b"", headers)
                return
        self._send_file(method, file, headers)

    def _cdn(self, method: str, segments: list[str]) -> None:
        if method not in ("GET", "HEAD") or len(segments) < 5 or segments[0] != "cdn":
            self._error(method, 404, None, "expected /cdn/{type}s/{repo}/{commit}/{path}")
            return
        repo_type = segments[1][:-1]
        commit_at = next((i for i in (3, 4) if i < len(segments) and len(segments[i]) == 40), None)
        repo = None
        if commit_at is not None:
            repo = self.server.state.generated.resolve("/".join(segments[2:commit_at]), segments[commit_at], repo_type)
        file = repo.files.get("/".join(segments[commit_at + 1 :])) if repo and commit_at else None
        if file is None:
            self._error(method, 404, None, "no such object on the CDN")
            return
        self._send_file(method, file, {"ETag": f'"{file.etag}"'})

    def _send_file(self, method: str, file: GeneratedFile, headers: dict[str, str]) -> None:
        size = file.size_bytes
        try:
            byte_range = parse_range(self.headers.get("Range"), size)
        except RangeNotSatisfiable:
            self._reply(method, 416, b"", headers | {"Content-Range": f"bytes */{size}"})
            return
        start, length = byte_range if byte_range is not None else (0, size)
        status = 206 if byte_range is not None else 200
        headers = headers | {"Accept-Ranges": "bytes", "Content-Type": _content_type(file.path)}
        if byte_range is not None:
            headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        try:
            stream = open_regular_file(file.local_path)
        except OSError as error:
            # The root changed under the running hub (a file removed, or swapped for a symlink): serve nothing.
            _log.warning("hub cannot serve %s: %s", file.local_path, error)
            self._error(method, 500, None, f"{file.path} is missing from the hub's root; restart the hub")
            return
        with stream:
            self._head(status, length, headers)
            if method == "HEAD" or length == 0:
                return
            state = self.server.state

            def on_sent(n: int) -> None:
                self._sent += n
                state.count(file, n)

            flip_at = state.take_corruption(file)
            if flip_at is None and state.throttle_bytes_per_s is not None:
                self._send_paced(stream, start, length, on_sent)
            elif flip_at is None:
                send_file_range(self.connection, stream, start, length, on_sent=on_sent, timeout_s=self.timeout)
            else:
                stream.seek(start)
                data = bytearray(stream.read(length))
                data[min(max(flip_at - start, 0), length - 1)] ^= 0xFF
                send_bytes(self.connection, bytes(data), on_sent)

    def _send_paced(self, stream: BinaryIO, start: int, length: int, on_sent: Callable[[int], None]) -> None:
        """Send in slices, sleeping so the body goes out at about the hub's throttle rate."""
        began = time.monotonic()
        done = 0
        while done < length:
            rate = self.server.state.throttle_bytes_per_s or 1 << 40  # re-read: the rate may change mid-body
            piece = min(length - done, max(1024, rate // 20))
            send_file_range(self.connection, stream, start + done, piece, on_sent=on_sent, timeout_s=self.timeout)
            done += piece
            ahead_s = done / rate - (time.monotonic() - began)
            if ahead_s > 0:
                time.sleep(ahead_s)

    # -- responses ------------------------------------------------------------------------------------------------

    def _head(self, status: int, length: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)  # escaped there: values echo URL parts (revision names)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _reply(self, method: str, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._head(status, len(body), headers)
        if method != "HEAD" and body:
            self.wfile.write(body)
            self._sent += len(body)

    def _json(self, method: str, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self._reply(method, status, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, method: str, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code is not None:
            headers["X-Error-Code"] = code
        if commit is not None:
            headers["X-Repo-Commit"] = commit
        self._json(method, status, {"error": message}, headers)


def _paths_of(body: bytes, content_type: str) -> list[str] | None:
    """The ``paths`` a paths-info body asks for (JSON object or form data), or None when it is malformed."""
    if content_type.split(";", maxsplit=1)[0].strip().lower() == "application/json":
        try:
            data = load_json(body or b"{}", source="paths-info body", max_bytes=_MAX_BODY_BYTES, max_depth=4)
        except InputError:
            return None
        paths = data.get("paths", []) if isinstance(data, dict) else None
        if isinstance(paths, str):
            paths = [paths]
    else:
        try:
            text = body.decode("utf-8", "strict")
            paths = parse_qs(text, errors="strict", max_num_fields=_MAX_PATHS).get("paths", [])
        except (UnicodeDecodeError, ValueError):
            return None
    if not isinstance(paths, list) or len(paths) > _MAX_PATHS or not all(isinstance(p, str) for p in paths):
        return None
    return paths


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".txt")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _file_entry(file: GeneratedFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": file.oid, "size": file.size_bytes, "path": file.path}
    if file.lfs:
        entry["lfs"] = {"oid": file.sha256, "size": file.size_bytes, "pointerSize": len(file.lfs_pointer)}
    return entry


def _dir_entry(repo: GeneratedRepo, path: str) -> dict[str, Any]:
    return {"type": "directory", "oid": repo.directory_oid(path), "size": 0, "path": path}


def _sibling(file: GeneratedFile, *, blobs: bool) -> dict[str, Any]:
    """A ``siblings`` entry; with ``blobs`` (``model_info(files_metadata=True)``) it carries size and lfs too."""
    sibling: dict[str, Any] = {"rfilename": file.path}
    if blobs:
        sibling |= {"blobId": file.oid, "size": file.size_bytes}
        if file.lfs:
            sibling["lfs"] = {"sha256": file.sha256, "size": file.size_bytes, "pointerSize": len(file.lfs_pointer)}
    return sibling


def _repo_info(repo: GeneratedRepo, *, blobs: bool = False) -> dict[str, Any]:
    owner = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
    info: dict[str, Any] = {
        "_id": repo.commit[:24],
        "id": repo.repo_id,
        "author": owner,
        "sha": repo.commit,
        "lastModified": _LAST_MODIFIED,
        "createdAt": _LAST_MODIFIED,
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": [_sibling(file, blobs=blobs) for file in repo.files.values()],
        "usedStorage": sum(f.size_bytes for f in repo.files.values()),
    }
    if repo.repo_type == "model":
        info["modelId"] = repo.repo_id
    return info
