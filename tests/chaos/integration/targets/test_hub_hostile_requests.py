"""The local hub and index under hostile requests: no header injection, JSON for every error, no 500, no noise."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.targets import HubServer, HubSpec, PackageIndex, model_repo

REPO = "acme/tiny"
REPO_ROOT = Path(__file__).parents[4]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=64_000),), seed=5)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub")) as server:
        yield server


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    with PackageIndex(root=tmp_path_factory.mktemp("index")) as server:
        yield server


def _conn(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def _raw(port: int, data: bytes) -> bytes:
    """Send raw bytes, return everything the server answers until it closes (or 10 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


def test_crlf_in_the_revision_injects_no_header_and_keep_alive_goes_on(hub: HubServer) -> None:
    """A revision of CR LF "X-Injected: yes" CR LF is escaped in X-Error-Message; keep-alive goes on."""
    conn = _conn(hub.port)
    try:
        conn.request("GET", f"/{REPO}/resolve/%0d%0aX-Injected:%20yes%0d%0a/config.json")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 404
        assert response.getheader("X-Injected") is None
        message = response.getheader("X-Error-Message") or ""
        assert "\\x0d\\x0aX-Injected: yes\\x0d\\x0a" in message
        assert json.loads(body)["error"].startswith("Invalid rev id")
        conn.request("GET", f"/{REPO}/resolve/main/config.json")  # same socket: keep-alive survived
        again = conn.getresponse()
        assert again.status == 200
        assert again.read() == hub.file(REPO, "config.json").read_bytes()
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["%00", "%0a", "%e2%80%a8", "%ff%fe", "%7f"])
def test_control_and_odd_bytes_in_urls_never_reach_a_header_raw(hub: HubServer, name: str) -> None:
    """NUL, LF, U+2028, invalid UTF-8 and DEL in the revision come back escaped: every header line is printable."""
    answer = _raw(hub.port, f"GET /{REPO}/resolve/{name}/config.json HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    head = answer.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n"):
        assert re.fullmatch(rb"[\x20-\x7e]*", line), line


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"paths": 5}', "application/json"),
        (b'{"paths": [1, {}]}', "application/json"),
        (b'{"paths": {"a": 1}}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"config.json"', "application/json"),
        (b"null", "application/json"),
        (b"{", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b'{"paths": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "application/json"),
        (b"paths=%ff", "application/x-www-form-urlencoded"),
        (b"\xff", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_paths_info_bodies_get_400_json(hub: HubServer, body: bytes, content_type: str) -> None:
    """paths-info with {"paths": 5}, non-lists, non-strings, broken, deep or non-UTF-8 bodies is 400 JSON."""
    conn = _conn(hub.port)
    try:
        conn.request("POST", f"/api/models/{REPO}/paths-info/main", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        assert response.status == 400
        assert "paths" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_well_formed_paths_info_still_works(hub: HubServer) -> None:
    """A JSON list, a single string and form data all answer the entries that exist."""
    for body, content_type in (
        (json.dumps({"paths": ["config.json", "nope", "tokenizer"]}), "application/json"),
        (json.dumps({"paths": "config.json"}), "application/json; charset=utf-8"),
        ("paths=config.json&paths=tokenizer", "application/x-www-form-urlencoded"),
    ):
        conn = _conn(hub.port)
        try:
            path = f"/api/models/{REPO}/paths-info/main"
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            assert response.status == 200
            assert "config.json" in [entry["path"] for entry in json.loads(response.read())]
        finally:
            conn.close()


@pytest.mark.parametrize(
    "head",
    [
        "Transfer-Encoding: chunked\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 1e3\r\n",
        "Content-Length: 99999999999999999999\r\n",
        "Content-Length: 2\r\nContent-Length: 2\r\n",
    ],
)
def test_bodies_the_hub_cannot_frame_get_400_json_and_a_closed_connection(hub: HubServer, head: str) -> None:
    """Chunked, negative, non-decimal, huge or doubled Content-Length: 400 JSON, then the connection closes."""
    request = f"POST /api/models/{REPO}/paths-info/main HTTP/1.1\r\nHost: x\r\n{head}\r\n5\r\nhello\r\n0\r\n\r\n"
    status, body = _status_and_json(_raw(hub.port, request.encode()))
    assert status == 400
    assert "error" in body


def _protocol_cases() -> list[tuple[bytes, int]]:
    return [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.x\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"FROB / HTTP/1.1\r\n\r\n", 405),
        (b"DELETE /api/models/acme/tiny HTTP/1.1\r\n\r\n", 405),
    ]


@pytest.mark.parametrize(("request_bytes", "status"), _protocol_cases())
def test_hub_protocol_errors_answer_json(hub: HubServer, request_bytes: bytes, status: int) -> None:
    """Too long a URI or header, too many headers, a bad version or an unknown method: JSON, not the stdlib's HTML."""
    got, body = _status_and_json(_raw(hub.port, request_bytes))
    assert got == status
    assert body["status"] == status


@pytest.mark.parametrize(
    ("request_bytes", "status"), [case for case in _protocol_cases() if case[1] in (414, 431, 505, 400)]
)
def test_index_protocol_errors_answer_json(index: PackageIndex, request_bytes: bytes, status: int) -> None:
    """The package index answers the same protocol errors as JSON too."""
    got, body = _status_and_json(_raw(index.port, request_bytes))
    assert got == status
    assert body["status"] == status


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST
    sock.close()


def _hang_up_in_every_way(port: int, get_path: str) -> None:
    for abort in ("reset", "close"):
        for request in (
            f"GET {get_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),  # mid-body
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ",  # mid-head
            b"POST /api/models/acme/tiny/paths-info/main HTTP/1.1\r\nContent-Length: 100\r\n\r\nab",  # mid-body in
        ):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request)
            time.sleep(0.05)
            _reset(sock) if abort == "reset" else sock.close()


@pytest.mark.parametrize("server", ["hub", "index"])
def test_clients_that_hang_up_leave_stderr_empty(tmp_path: Path, server: str) -> None:
    """RST or FIN mid-body, mid-head or mid-upload: the server CLI prints nothing (no BrokenPipe traceback)."""
    spec = tmp_path / "repos.toml"
    spec.write_text('[[repos]]\nrepo_id = "acme/tiny"\n[[repos.files]]\npath = "w.bin"\nsize_bytes = 8000000\n')
    argv = {
        "hub": ["hub", "serve", "--spec", str(spec), "--root", str(tmp_path / "root")],
        "index": ["index", "serve", "--root", str(tmp_path / "root")],
    }[server]
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = ""
        for line in process.stdout:
            if "serving on" in line:
                break
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        path = "/acme/tiny/resolve/main/w.bin" if server == "hub" else "/packages/wan_core-1.0.0-py3-none-any.whl"
        _hang_up_in_every_way(port, path)
        conn = _conn(port)  # still serving afterwards
        try:
            conn.request("GET", "/api/models/acme/tiny" if server == "hub" else "/simple/")
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert err.strip().splitlines() == [f"{server} stopped (SIGTERM)"]


@pytest.mark.parametrize("host", ["[", "a]", "[::1", "x:99999", "a b", "a:b"])
def test_a_malformed_host_header_is_a_400_not_a_500(index: PackageIndex, host: str) -> None:
    """pypiserver builds its links from Host: a malformed one (found by the HTTP fuzz: ``Host: [``) is a JSON 400
    naming the header; before, the page raised inside pypiserver and answered 500."""
    request = f"GET /simple/wan-app/ HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\n\r\n".encode()
    status, body = _status_and_json(_raw(index.port, request))
    assert (status, body["error"]) == (400, "bad Host header")
    assert repr(host) in str(body["detail"])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:80"])
def test_a_well_formed_host_header_still_gets_the_page(index: PackageIndex, host: str) -> None:
    request = f"GET /simple/wan-app/ HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\n\r\n".encode()
    head = _raw(index.port, request).partition(b"\r\n")[0]
    assert b" 200 " in head, head
