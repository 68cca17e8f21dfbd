"""ensure_model against a hostile mirror: every bad name is one clear error, and nothing lands outside the roots.

The mirror is a small http.server that answers crafted revision and tree JSON; the client is the real
ensure_model (huggingface_hub's session for metadata, our transfer for bytes). After each case the whole
temporary tree is listed and any file outside cache_dir / local_dir fails the test.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience_core import InputError, RecoveryFailed, Runtime, UnsafePathError
from resilience_core.hub import ModelNotFoundError, ensure_model, status, verify_model
from resilience_core.recovery.clock import FakeClock

REPO = "acme/evil"
COMMIT = "c" * 40
CONTENT = b'{"model_type": "wan"}\n'
GIT_SHA1 = hashlib.sha1(b"blob %d\0" % len(CONTENT) + CONTENT).hexdigest()
SHA256 = hashlib.sha256(CONTENT).hexdigest()


class _Mirror(ThreadingHTTPServer):
    daemon_threads = True
    info: Any
    tree: Any
    tree_headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Mirror

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's name
        """Quiet."""

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        headers: dict[str, str] = {}
        if path.startswith(f"/api/models/{REPO}/revision/"):
            body = json.dumps(self.server.info).encode()
        elif path.startswith(f"/api/models/{REPO}/tree/"):
            body = self.server.tree if isinstance(self.server.tree, bytes) else json.dumps(self.server.tree).encode()
            headers = self.server.tree_headers
        elif "/resolve/" in path:
            body = CONTENT
            headers = {"ETag": f'"{SHA256 if path.endswith(".bin") else GIT_SHA1}"', "X-Repo-Commit": COMMIT}
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)


@pytest.fixture
def mirror() -> Iterator[_Mirror]:
    server = _Mirror(("127.0.0.1", 0), _Handler)
    server.info = {"id": REPO, "sha": COMMIT}
    server.tree = [_entry("config.json")]
    server.tree_headers = {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: _Mirror) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _entry(path: object, **extra: Any) -> dict[str, Any]:
    return {"type": "file", "path": path, "size": len(CONTENT), "oid": GIT_SHA1, **extra}


def _lfs(oid: object) -> dict[str, Any]:
    return {"oid": oid, "size": len(CONTENT), "pointerSize": 130}


def _roots(tmp_path: Path) -> tuple[Path, Path]:
    # Deep enough that '../../../..' from inside either root still lands under tmp_path, where the check looks.
    base = tmp_path / "a" / "b" / "c" / "d" / "e"
    return base / "cache", base / "local"


def _outside(parent: Path, *roots: Path) -> list[str]:
    return sorted(
        str(p)
        for p in parent.rglob("*")
        if (p.is_file() or p.is_symlink()) and not any(p.is_relative_to(root) for root in roots)
    )


def _ensure(server: _Mirror, cache: Path, local: Path | None) -> Any:
    runtime = Runtime(clock=FakeClock())  # retries of a mismatching download wait on a fake clock
    return ensure_model(
        REPO, "main", sources=[_url(server)], cache_dir=cache, local_dir=local, timeout_s=5, runtime=runtime
    )


def test_the_mirror_serves_a_good_repo_when_it_is_honest(mirror: _Mirror, tmp_path: Path) -> None:
    """Control: the same mirror with an honest tree installs config.json in the cache and in a local_dir."""
    cache, local = _roots(tmp_path)
    assert (_ensure(mirror, cache, None).path / "config.json").read_bytes() == CONTENT
    assert (_ensure(mirror, cache, local).path / "config.json").read_bytes() == CONTENT
    mirror.tree = [_entry("weights.bin", lfs=_lfs(SHA256))]
    assert (_ensure(mirror, tmp_path / "cache2", None).path / "weights.bin").read_bytes() == CONTENT
    assert _outside(tmp_path, cache, local, tmp_path / "cache2") == []


HOSTILE_TREES: dict[str, tuple[Callable[[Path], Any], str, str]] = {
    "dotdot": (lambda t: [_entry("../../../../escape.json")], "tree entry path", "contains '..'"),
    "dotdot-inside": (lambda t: [_entry("sub/../../x.json")], "tree entry path", "contains '..'"),
    "absolute": (lambda t: [_entry(str(t / "abs-escape.json"))], "tree entry path", "is absolute"),
    "backslash": (lambda t: [_entry("..\\..\\escape.json")], "tree entry path", "backslash"),
    "drive": (lambda t: [_entry("C:escape.json")], "tree entry path", "Windows drive"),
    "nul": (lambda t: [_entry("x\x00.json")], "tree entry path", "NUL or control"),
    "newline": (lambda t: [_entry("x\n.json")], "tree entry path", "NUL or control"),
    "empty": (lambda t: [_entry("")], "tree entry path", "is empty"),
    "not-text": (lambda t: [_entry(["a"])], "tree entry path", "must be text"),
    "lfs-oid-dotdot": (
        lambda t: [_entry("w.bin", lfs=_lfs("../../../../" + "e" * 52))],
        "LFS oid",
        "not 64 hex digits",
    ),
    "lfs-oid-short": (lambda t: [_entry("w.bin", lfs=_lfs("abc"))], "LFS oid", "not 64 hex digits"),
    "git-oid-dotdot": (lambda t: [_entry("c.json", oid="../../../../escape")], "git oid", "not 40 hex digits"),
    "size-negative": (lambda t: [_entry("c.json", size=-1)], "size", "must be an integer"),
    "size-text": (lambda t: [_entry("c.json", size="22")], "size", "must be an integer"),
    "size-huge": (lambda t: [_entry("c.json", size=10**30)], "size", "must be an integer"),
    "lfs-size": (lambda t: [{**_entry("w.bin", lfs={**_lfs(SHA256), "size": 7})}], "LFS size", "differs"),
    "duplicate": (lambda t: [_entry("c.json"), _entry("c.json")], "tree entry path", "appears twice"),
    "file-and-folder": (lambda t: [_entry("a"), _entry("a/b.json")], "tree entry path", "also the folder"),
    "not-an-object": (lambda t: [5], "tree entry", "not an object"),
    "not-a-list": (lambda t: {"path": "x"}, "tree listing", "not a JSON list"),
    "deep": (lambda t: b"[" * 50_000 + b"]" * 50_000, "nests deeper", "deeper than 64"),
}


@pytest.mark.parametrize("mode", ["cache", "local_dir"])
@pytest.mark.parametrize("case", sorted(HOSTILE_TREES))
def test_hostile_tree_entries_are_refused_before_anything_is_written(
    mirror: _Mirror, tmp_path: Path, case: str, mode: str
) -> None:
    """`..`, absolute, backslash, NUL paths, non-hex oids (`../` included), bad sizes, duplicates, non-lists and
    deep JSON each raise one InputError naming the field and the mirror; no file appears outside the roots."""
    make, field, reason = HOSTILE_TREES[case]
    mirror.tree = make(tmp_path)
    cache, local = _roots(tmp_path)
    with pytest.raises(InputError) as caught:
        _ensure(mirror, cache, local if mode == "local_dir" else None)
    message = str(caught.value)
    assert field in message
    assert reason in message
    assert "\n" not in message.replace("\\n", "")
    assert _outside(tmp_path, cache, local) == []
    assert not (cache / f"models--{REPO.replace('/', '--')}" / "snapshots").exists()


@pytest.mark.parametrize("sha", ["../../../../escape", "C" * 40, "c" * 39, None, 42])
def test_a_commit_that_is_not_a_sha_is_refused(mirror: _Mirror, tmp_path: Path, sha: object) -> None:
    """A revision answer whose sha is not 40 lowercase hex digits (`../` included) is one UnsafePathError."""
    mirror.info = {"id": REPO, "sha": sha}
    cache, local = _roots(tmp_path)
    with pytest.raises(UnsafePathError, match=r"commit id for acme/evil@main from http://127\.0\.0\.1:\d+ "):
        _ensure(mirror, cache, None)
    assert _outside(tmp_path, cache, local) == []


def test_a_next_page_on_another_origin_is_refused(mirror: _Mirror, tmp_path: Path) -> None:
    """A Link: rel=next to another host would get the token: refused, naming the link."""
    mirror.tree_headers = {"Link": '<http://127.0.0.2:1/api/models/acme/evil/tree/x?cursor=1>; rel="next"'}
    cache, _ = _roots(tmp_path)
    with pytest.raises(InputError, match=r"next-page link 'http://127\.0\.0\.2:1/"):
        _ensure(mirror, cache, None)


def test_a_tampered_tree_file_on_disk_is_not_followed_out(mirror: _Mirror, tmp_path: Path) -> None:
    """After a good install, a trees/<commit>.json edited to name ../../secret makes verify and status report the
    revision as not installed (damaged), without reading or touching the outside file."""
    cache, _ = _roots(tmp_path)
    _ensure(mirror, cache, None)
    secret = tmp_path / "a" / "secret.json"
    secret.write_bytes(CONTENT)
    tree = next(cache.rglob(f"trees/{COMMIT}.json"))
    data = json.loads(tree.read_text())
    data["files"] = {"../../../../../../secret.json": data["files"]["config.json"]}
    tree.write_text(json.dumps(data))
    verification = verify_model(REPO, "main", cache_dir=cache)
    assert (verification.installed, verification.ok) == (False, False)
    assert [s.state.value for s in status(cache, repo_id=REPO)] == ["not_installed"]
    assert secret.read_bytes() == CONTENT


def test_a_ref_file_that_holds_no_commit_is_ignored(mirror: _Mirror, tmp_path: Path) -> None:
    """refs/main edited to '../../../x' is not used as a folder name: the revision reads as not installed."""
    cache, _ = _roots(tmp_path)
    _ensure(mirror, cache, None)
    next(cache.rglob("refs/main")).write_text("../../../../x")
    assert verify_model(REPO, "main", cache_dir=cache).installed is False


def test_a_symlink_planted_in_local_dir_is_not_written_through(mirror: _Mirror, tmp_path: Path) -> None:
    """A local_dir whose sub-folder is a symlink to outside: the download is refused, the outside stays empty."""
    _, local = _roots(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    local.mkdir(parents=True)
    (local / "sub").symlink_to(outside)
    mirror.tree = [_entry("sub/config.json")]
    with pytest.raises(UnsafePathError, match="a symlink on the way leads outside the root"):
        _ensure(mirror, tmp_path / "cache", local)
    assert list(outside.iterdir()) == []


# -- fuzz ---------------------------------------------------------------------------------------------------------
# Budget: 80 examples, Hypothesis deadline 10 s each, no example database. Each example gets fresh roots under one
# parent; afterwards the whole parent is listed and any file outside the roots fails the run.

_SEGMENTS = ("config.json", "sub", "..", ".", "", "a\\b", "C:", "\x00", "\n", "x" * 300, "w.bin", "~", "%2e%2e")
fuzz_path = st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4).map("/".join) | st.sampled_from(
    ["/abs/x", "//server/share", "\\\\server\\share", "config.json"]
)
fuzz_oid = st.sampled_from([GIT_SHA1, "../" * 10 + "x" * 10, "0" * 39, GIT_SHA1.upper(), ""]) | st.text(max_size=6)
fuzz_lfs = st.none() | st.fixed_dictionaries(
    {"oid": st.sampled_from([SHA256, "../../" + "e" * 58, "z" * 64]) | st.text(max_size=6)},
    optional={"size": st.sampled_from([len(CONTENT), 0, -1])},
)
fuzz_entry = st.fixed_dictionaries(
    {"type": st.sampled_from(["file", "file", "directory", "symlink"]), "path": fuzz_path},
    optional={
        "size": st.sampled_from([len(CONTENT), -1, 0, 10**20, "22", True]),
        "oid": fuzz_oid,
        "lfs": fuzz_lfs,
    },
)


@settings(max_examples=80, deadline=timedelta(seconds=10), database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(fuzz_entry, max_size=4), st.sampled_from(["cache", "local_dir"]))
def _fuzz_trees(mirror: _Mirror, parent: Path, entries: list[dict[str, Any]], mode: str) -> None:
    mirror.tree = entries
    base = parent / uuid.uuid4().hex
    cache, local = _roots(base)
    cause: BaseException | None = None
    try:
        _ensure(mirror, cache, local if mode == "local_dir" else None)
    except (InputError, ModelNotFoundError):
        pass  # refused with a clear error: fine
    except RecoveryFailed as failed:  # the mirror's bytes did not match a made-up size or oid: fine too
        cause = failed.__cause__
    assert not isinstance(cause, InputError)  # a hostile name is never buried in RecoveryFailed
    assert _outside(base, cache, local) == []


@pytest.mark.slow
def test_fuzzed_trees_never_write_outside_the_roots(mirror: _Mirror, tmp_path: Path) -> None:
    """80 generated trees (nasty paths, oids, sizes, LFS records): a clear error or an install, never a file
    outside cache_dir/local_dir anywhere under the temporary parent."""
    _fuzz_trees(mirror, tmp_path)
    assert _outside(tmp_path, *tmp_path.glob("*/a/b/c/d/e/*")) == []
