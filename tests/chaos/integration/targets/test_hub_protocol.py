"""The local hub over real loopback HTTP: headers, ranges, error codes, tree paging, CDN, keep-alive, load."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chaos.errors import TargetError
from chaos.targets import FileSpec, HubServer, HubSpec, RepoSpec, model_repo

pytestmark = pytest.mark.integration

REPO = "acme/wan"
SHARD = "diffusion_pytorch_model-00001-of-00002.safetensors"


@pytest.fixture(scope="module")
def spec() -> HubSpec:
    return HubSpec(
        repos=(
            model_repo(REPO, shards=2, shard_size_bytes=300_000, revisions=("main", "refs/pr/1")),
            RepoSpec("solo", (FileSpec("data.bin", size_bytes=1000),), repo_type="dataset"),
        ),
        seed=11,
    )


@pytest.fixture(scope="module")
def hub(spec: HubSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(spec, root=tmp_path_factory.mktemp("hub"), tree_page_size=4) as server:
        yield server


def _conn(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def _request(
    url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = _conn(url)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_head_carries_commit_etag_and_size(hub: HubServer) -> None:
    """HEAD on resolve gives X-Repo-Commit, sha256 ETag/X-Linked-Etag and sizes for LFS, git sha1 for small files."""
    shard = hub.file(REPO, SHARD)
    status, headers, body = _request(hub.url, "HEAD", f"/{REPO}/resolve/main/{SHARD}")
    assert (status, body) == (200, b"")
    assert headers["X-Repo-Commit"] == hub.commit(REPO)
    assert headers["ETag"] == headers["X-Linked-Etag"] == f'"{shard.sha256}"'
    assert headers["X-Linked-Size"] == headers["Content-Length"] == str(shard.size_bytes)
    assert headers["Accept-Ranges"] == "bytes"
    config = hub.file(REPO, "config.json")
    status, headers, _ = _request(hub.url, "HEAD", f"/{REPO}/resolve/main/config.json")
    assert headers["ETag"] == f'"{config.git_sha1}"'
    assert "X-Linked-Etag" not in headers


def test_get_returns_exact_bytes_and_counts_them(hub: HubServer) -> None:
    """GET streams the generated file byte for byte and the served-bytes counter sees it."""
    hub.reset_counters()
    status, _, body = _request(hub.url, "GET", f"/{REPO}/resolve/{hub.commit(REPO)}/{SHARD}")
    assert status == 200
    assert body == hub.file(REPO, SHARD).read_bytes()
    assert hub.served_bytes(REPO, SHARD) == len(body)
    assert hub.requests[-1].sent_bytes == len(body)


def test_quoted_revisions_and_datasets_resolve(hub: HubServer) -> None:
    """A URL-quoted branch like refs%2Fpr%2F1 and a one-part dataset repo id resolve."""
    status, headers, _ = _request(hub.url, "HEAD", f"/{REPO}/resolve/refs%2Fpr%2F1/config.json")
    assert (status, headers["X-Repo-Commit"]) == (200, hub.commit(REPO))
    status, _, body = _request(hub.url, "GET", "/datasets/solo/resolve/main/data.bin")
    assert (status, body) == (200, hub.file("solo", "data.bin", repo_type="dataset").read_bytes())


@pytest.mark.parametrize(
    ("range_header", "start", "end"), [("bytes=1000-", 1000, None), ("bytes=5-9", 5, 10), ("bytes=-100", -100, None)]
)
def test_range_requests_get_206(hub: HubServer, range_header: str, start: int, end: int | None) -> None:
    """Range gives 206 with the right slice and Content-Range."""
    data = hub.file(REPO, SHARD).read_bytes()
    status, headers, body = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}", {"Range": range_header})
    assert status == 206
    assert body == data[start:end]
    first = start % len(data)
    assert headers["Content-Range"] == f"bytes {first}-{first + len(body) - 1}/{len(data)}"


def test_range_past_the_end_gets_416(hub: HubServer) -> None:
    """A Range starting at the file size is answered 416 with Content-Range: bytes */size."""
    size = hub.file(REPO, SHARD).size_bytes
    status, headers, _ = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}", {"Range": f"bytes={size}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{size}")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/acme/nope/resolve/main/{SHARD}", "RepoNotFound"),
        (f"/{REPO}/resolve/nope/{SHARD}", "RevisionNotFound"),
        (f"/{REPO}/resolve/main/nope.bin", "EntryNotFound"),
        ("/api/models/acme/nope/revision/main", "RepoNotFound"),
        (f"/api/models/{REPO}/revision/nope", "RevisionNotFound"),
        (f"/api/models/{REPO}/tree/main/nope", "EntryNotFound"),
    ],
)
@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_missing_things_get_404_with_hub_error_codes(hub: HubServer, path: str, code: str, method: str) -> None:
    """Unknown repo, revision or file is a 404 with the X-Error-Code huggingface_hub maps to its errors."""
    status, headers, _ = _request(hub.url, method, path)
    assert (status, headers["X-Error-Code"]) == (404, code)
    if code == "EntryNotFound":
        assert headers["X-Repo-Commit"] == hub.commit(REPO)


def test_revision_info_has_sha_and_siblings(hub: HubServer) -> None:
    """The repo info API names the commit and lists every file as a sibling."""
    status, _, body = _request(hub.url, "GET", f"/api/models/{REPO}/revision/main")
    info = json.loads(body)
    assert status == 200
    assert (info["id"], info["sha"]) == (REPO, hub.commit(REPO))
    assert [s["rfilename"] for s in info["siblings"]] == sorted(hub.files(REPO))
    assert json.loads(_request(hub.url, "GET", f"/api/models/{REPO}")[2])["sha"] == hub.commit(REPO)


def test_tree_pages_through_link_headers(hub: HubServer) -> None:
    """The recursive tree is paged with Link rel=next and lists files with lfs info and folders."""
    entries: list[dict[str, object]] = []
    path = f"/api/models/{REPO}/tree/main?recursive=true&expand=false"
    pages = 0
    while path:
        status, headers, body = _request(hub.url, "GET", path)
        assert status == 200
        entries += json.loads(body)
        pages += 1
        link = headers.get("Link")
        path = urlsplit(link[1 : link.index(">")])._replace(scheme="", netloc="").geturl() if link else ""
    assert pages > 1
    files = {e["path"]: e for e in entries if e["type"] == "file"}
    assert set(files) == set(hub.files(REPO))
    assert [e["path"] for e in entries if e["type"] == "directory"] == ["tokenizer"]
    shard = hub.file(REPO, SHARD)
    assert files[SHARD] == {
        "type": "file",
        "oid": shard.oid,
        "size": shard.size_bytes,
        "path": SHARD,
        "lfs": {"oid": shard.sha256, "size": shard.size_bytes, "pointerSize": len(shard.lfs_pointer)},
    }
    top = json.loads(_request(hub.url, "GET", f"/api/models/{REPO}/tree/main/tokenizer")[2])
    assert {e["path"] for e in top} == {p for p in hub.files(REPO) if p.startswith("tokenizer/")}


def test_paths_info_and_refs(hub: HubServer) -> None:
    """POST paths-info returns entries for existing paths; refs lists the branches."""
    conn = _conn(hub.url)
    conn.request(
        "POST",
        f"/api/models/{REPO}/paths-info/main",
        body="paths=config.json&paths=tokenizer&paths=missing&expand=false",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    entries = json.loads(conn.getresponse().read())
    conn.close()
    assert [(e["path"], e["type"]) for e in entries] == [("config.json", "file"), ("tokenizer", "directory")]
    refs = json.loads(_request(hub.url, "GET", f"/api/models/{REPO}/refs")[2])
    assert {b["name"] for b in refs["branches"]} == {"main", "refs/pr/1"}


def test_keep_alive_serves_many_requests_on_one_connection(hub: HubServer) -> None:
    """HTTP/1.1 keep-alive: HEAD, GET, 404 and 206 answers share one connection cleanly."""
    conn = _conn(hub.url)
    data = hub.file(REPO, "config.json").read_bytes()
    for method, path, headers, expected in [
        ("HEAD", f"/{REPO}/resolve/main/config.json", {}, b""),
        ("GET", f"/{REPO}/resolve/main/config.json", {}, data),
        ("GET", f"/{REPO}/resolve/main/absent", {}, None),
        ("GET", f"/{REPO}/resolve/main/config.json", {"Range": "bytes=2-"}, data[2:]),
    ]:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if expected is not None:
            assert body == expected
    assert conn.sock is not None  # never closed by the server in between
    conn.close()


def test_many_concurrent_clients_get_exact_bytes(hub: HubServer) -> None:
    """32 clients downloading at once all receive the exact bytes; the counter adds up."""
    hub.reset_counters()
    expected = hub.file(REPO, SHARD).read_bytes()
    results: list[bytes] = []
    lock = threading.Lock()

    def fetch() -> None:
        body = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}")[2]
        with lock:
            results.append(body)

    threads = [threading.Thread(target=fetch) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 32
    assert all(body == expected for body in results)
    assert hub.served_bytes(REPO, SHARD) == 32 * len(expected)


@pytest.mark.parametrize(("host", "expected"), [("hub.example:8080", "hub.example:8080"), ("[", None), ("a]", None)])
def test_the_next_page_link_echoes_only_a_well_formed_host(hub: HubServer, host: str, expected: str | None) -> None:
    """The Link is built from Host (a client behind a name gets pages under that name); a malformed Host is not
    echoed into the header: the link then names the address the hub is bound to."""
    path = f"/api/models/{REPO}/tree/main?recursive=true&expand=false"
    status, headers, _ = _request(hub.url, "GET", path, {"Host": host})
    assert status == 200
    netloc = urlsplit(headers["Link"][1 : headers["Link"].index(">")]).netloc
    assert netloc == (expected or urlsplit(hub.url).netloc)


def test_corrupt_next_flips_one_byte_once(hub: HubServer) -> None:
    """corrupt_next serves one same-size corrupted body, then the good bytes again."""
    expected = hub.file(REPO, SHARD).read_bytes()
    hub.corrupt_next(REPO, SHARD)
    bad = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}")[2]
    good = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}")[2]
    assert len(bad) == len(expected)
    assert sum(a != b for a, b in zip(bad, expected, strict=True)) == 1
    assert good == expected


def test_cdn_mode_redirects_lfs_files_to_a_second_port(spec: HubSpec, hub: HubServer) -> None:
    """With cdn=True, LFS resolves are 302 to another origin serving the bytes with ranges; small files are direct."""
    with HubServer(spec, generated=hub.generated, cdn=True) as cdn_hub:
        status, headers, _ = _request(cdn_hub.url, "HEAD", f"/{REPO}/resolve/main/{SHARD}")
        assert status == 302
        assert headers["X-Linked-Etag"] == f'"{hub.file(REPO, SHARD).sha256}"'
        location = urlsplit(headers["Location"])
        assert location.port != cdn_hub.port
        assert cdn_hub.cdn_url == f"http://127.0.0.1:{location.port}"
        status, _, body = _request(cdn_hub.cdn_url, "GET", location.path, {"Range": "bytes=10-"})
        assert (status, body) == (206, hub.file(REPO, SHARD).read_bytes()[10:])
        assert cdn_hub.requests[-1].server == "cdn"
        assert _request(cdn_hub.url, "HEAD", f"/{REPO}/resolve/main/config.json")[0] == 200
        assert _request(cdn_hub.cdn_url, "GET", "/cdn/models/acme/wan/notacommit/x")[0] == 404


def test_mirror_serves_same_commit_and_stop_start_keeps_port(hub: HubServer) -> None:
    """A mirror has the same commit and bytes on its own port; a stopped server comes back on the same port."""
    with hub.mirror() as mirror:
        assert mirror.port != hub.port
        status, headers, _ = _request(mirror.url, "GET", f"/{REPO}/resolve/main/config.json")
        assert (status, headers["X-Repo-Commit"]) == (200, hub.commit(REPO))
        port = mirror.port
        mirror.stop()
        with pytest.raises(ConnectionRefusedError):
            _request(mirror.url, "HEAD", f"/{REPO}/resolve/main/config.json")
        mirror.start()
        assert mirror.port == port
        assert _request(mirror.url, "HEAD", f"/{REPO}/resolve/main/config.json")[0] == 200


def test_stop_cuts_open_keep_alive_connections(spec: HubSpec, hub: HubServer) -> None:
    """Stopping the hub closes idle keep-alive connections, so clients see the server go away."""
    server = HubServer(spec, generated=hub.generated).start()
    conn = _conn(server.url)
    conn.request("HEAD", f"/{REPO}/resolve/main/config.json")
    conn.getresponse().read()
    server.close()
    assert conn.sock is not None
    assert conn.sock.recv(1) == b""
    conn.close()
    assert hub.generated.root.exists()  # a server over someone else's repos leaves them alone


def test_default_root_is_temporary_and_removed(spec: HubSpec) -> None:
    """Without root=, repos go to a temporary folder that close() removes; url before start is an error."""
    server = HubServer(HubSpec(repos=(RepoSpec("acme/t", (FileSpec("a.md"),)),)))
    with pytest.raises(TargetError, match="not started"):
        _ = server.url
    with server:
        root = server.generated.root
        assert root.exists()
    assert not root.exists()


def test_spec_path_and_busy_port(tmp_path: Path, hub: HubServer) -> None:
    """A TOML path works as spec; binding a taken port raises TargetError naming it."""
    path = tmp_path / "repos.toml"
    path.write_text('[[repos]]\nrepo_id = "acme/t"\n[[repos.files]]\npath = "a.md"\n')
    with pytest.raises(TargetError, match=f"cannot listen on 127.0.0.1:{hub.port}"):
        HubServer(path, root=tmp_path / "root", port=hub.port).start()


def test_malformed_requests_get_answers_and_the_hub_keeps_serving(hub: HubServer) -> None:
    """A bad Content-Length, an unknown route or a bad cursor gets a 4xx; the hub keeps answering afterwards."""
    conn = _conn(hub.url)
    conn.putrequest("POST", f"/api/models/{REPO}/paths-info/main")
    conn.putheader("Content-Length", "banana")
    conn.endheaders()
    assert conn.getresponse().status == 400
    conn.close()
    assert _request(hub.url, "GET", "/api/spaces/x/y")[0] == 404
    assert _request(hub.url, "POST", f"/{REPO}/resolve/main/config.json")[0] == 404
    assert _request(hub.url, "GET", f"/api/models/{REPO}/tree/main?cursor=x")[0] == 400
    assert _request(hub.url, "GET", "/")[0] == 404
    status, headers, _ = _request(hub.url, "HEAD", f"/{REPO}/resolve/%C3%A9t%C3%A9/config.json")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    assert _request(hub.url, "HEAD", f"/{REPO}/resolve/main/config.json")[0] == 200


def test_fail_next_answers_planned_errors_then_recovers(hub: HubServer) -> None:
    """fail_next gives the planned status (with Retry-After) to matching requests only, the given number of times."""
    path = f"/{REPO}/resolve/main/config.json"
    hub.fail_next(503, times=2, path_contains="/resolve/", method="GET", retry_after_s=1)
    assert _request(hub.url, "HEAD", path)[0] == 200  # method does not match
    status, headers, _ = _request(hub.url, "GET", path)
    assert (status, headers["Retry-After"], headers.get("X-Error-Code")) == (503, "1", None)
    assert _request(hub.url, "GET", f"/api/models/{REPO}/revision/main")[0] == 200  # path does not match
    assert _request(hub.url, "GET", path)[0] == 503
    assert _request(hub.url, "GET", path)[0] == 200
    with pytest.raises(TargetError, match="status=200 must be an HTTP error status"):
        hub.fail_next(200)


def test_throttle_paces_bodies_and_can_be_lifted(hub: HubServer) -> None:
    """throttle(bytes_per_s) slows a body to about that rate; throttle(None) restores full speed."""
    expected = hub.file(REPO, SHARD).read_bytes()
    hub.throttle(1_000_000)
    try:
        started = time.monotonic()
        body = _request(hub.url, "GET", f"/{REPO}/resolve/main/{SHARD}")[2]
        elapsed_s = time.monotonic() - started
    finally:
        hub.throttle(None)
    assert body == expected
    assert elapsed_s >= 0.8 * len(expected) / 1_000_000
    with pytest.raises(TargetError, match="must be >= 1024"):
        hub.throttle(10)
