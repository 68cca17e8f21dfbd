"""Hostile input to the REST API: body framing, names, protocol errors, disconnects; answers are JSON, never 500."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import psutil
import pytest
from proxy_helpers import Api, EchoServer

from chaos.proxy import EmbeddedToxiproxy
from chaos.proxy.http11 import MAX_BODY_BYTES


def _raw(server: EmbeddedToxiproxy, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is; return the status, headers and body of the (first) answer."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request)
        response = bytearray()
        while b"\r\n\r\n" not in response:
            part = sock.recv(65536)
            assert part, f"no answer to {request[:60]!r}"
            response += part
        head, _, body = bytes(response).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            part = sock.recv(65536)
            assert part
            body += part
        return int(lines[0].split()[1]), headers, body[:length]


def _json_error(status: int, body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    assert value["status"] == status
    assert isinstance(value["error"], str)
    return dict(value)


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", 400),  # read until EOF before the fix
        (b"Transfer-Encoding: chunked\r\n\r\nffffffffffff\r\n", 413),  # over the cap: refused before reading
        (b"Transfer-Encoding: chunked\r\n\r\n0x10\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000 + b"\r\n", 400),
        (b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"Content-Length: -1\r\n\r\n", 400),
        (b"Content-Length: 1e3\r\n\r\n", 400),
        (b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
        (b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1), 413),
    ],
)
def test_bad_body_framing_is_refused_with_json(server: EmbeddedToxiproxy, framing: bytes, status: int) -> None:
    """Every transfer encoding is bounded: a bad or oversized framing gets a JSON 400/413/501 and a close."""
    code, headers, body = _raw(server, b"POST /proxies HTTP/1.1\r\nHost: x\r\n" + framing)
    assert code == status
    assert headers["connection"] == "close"
    _json_error(status, body)


def test_chunked_body_is_still_read(server: EmbeddedToxiproxy, api: Api, echo: EchoServer) -> None:
    """A well-formed chunked body (with an extension and a trailer) is decoded and served."""
    body = json.dumps({"name": "chunky", "upstream": echo.address, "listen": "127.0.0.1:0"}).encode()
    framed = b"%x;ext=1\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n" % (len(body), body)
    code, _headers, answer = _raw(
        server, b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + framed
    )
    assert code == 201, answer
    assert api("GET", "/proxies/chunky").status == 200


@pytest.mark.slow
def test_200_mib_chunked_body_keeps_memory_bounded(server: EmbeddedToxiproxy, api: Api) -> None:
    """A 200 MiB chunked upload is cut off at the cap (413): the server's memory does not follow the body."""
    process = psutil.Process()
    rss_before = process.memory_info().rss
    peak = [rss_before]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    block = b"100000\r\n" + bytes(1 << 20) + b"\r\n"  # 1 MiB chunks
    status = None
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        try:
            sock.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(200):
                sock.sendall(block)
        except OSError:
            pass  # the server closed after its 413: the rest of the body has nowhere to go
        try:
            answer = sock.recv(65536)
            status = int(answer.split()[1]) if answer else None
        except OSError:
            status = None  # the close raced the answer (unread bytes make the kernel send an RST)
    stop.set()
    watcher.join()
    assert status in (413, None)
    assert peak[0] - rss_before < 64 << 20, f"RSS grew by {(peak[0] - rss_before) >> 20} MiB"
    assert api("GET", "/version").status == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /version HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /version HTTP/2.0\r\n\r\n", 505),
        (b"GARBAGE\r\n\r\n", 400),
    ],
)
def test_protocol_errors_answer_json(server: EmbeddedToxiproxy, request_bytes: bytes, status: int) -> None:
    """The stdlib's protocol errors (414, 431, 505, 400) come back as the API's JSON error body."""
    code, headers, body = _raw(server, request_bytes)
    assert code == status
    assert headers["content-type"].startswith("text/plain")
    _json_error(status, body)


@pytest.mark.parametrize("name", ["a/b", "..", ".", "a b", "\ud800", "ü", "x" * 129, "tab\there", ""])
def test_unsafe_proxy_names_are_refused(server: EmbeddedToxiproxy, api: Api, echo: EchoServer, name: str) -> None:
    """A name that could not be used in a URL as it is gets a 400 naming the field; /metrics stays healthy."""
    body = json.dumps({"name": name, "upstream": echo.address, "listen": "127.0.0.1:0"})
    reply = api("POST", "/proxies", body)
    assert reply.status == 400
    assert "name" in reply.json()["error"]
    populate = api("POST", "/populate", json.dumps([{"name": name, "upstream": echo.address}]))
    assert populate.status == 400
    assert api("GET", "/proxies").json() == {}


def test_metrics_survive_odd_upstreams() -> None:
    """/metrics answers 200 whatever the proxies' names and upstreams hold."""
    with EmbeddedToxiproxy(proxy_metrics=True) as server:
        api = Api(server.host, server.port)
        assert api("POST", "/proxies", json.dumps({"name": "a", "upstream": "h\ud800:1"})).status == 400
        assert api("POST", "/proxies", {"name": "ok.name_1~-", "upstream": 'q"u\\ote:1'}).status == 201
        reply = api("GET", "/metrics")
        assert reply.status == 200
        assert b'proxy="ok.name_1~-"' in reply.body


def test_every_creatable_name_is_deletable(server: EmbeddedToxiproxy, api: Api, echo: EchoServer) -> None:
    """Names made of the allowed characters, dots included, can be shown and deleted through the URL."""
    for name in ["a.b", "...", "~x", "A-Z_0.9", "x" * 128]:
        assert api("POST", "/proxies", {"name": name, "upstream": echo.address}).status == 201, name
        assert api("GET", f"/proxies/{name}").json()["name"] == name
        assert api("DELETE", f"/proxies/{name}").status == 204
    assert api("GET", "/proxies").json() == {}


def test_unsafe_toxic_names_are_refused(server: EmbeddedToxiproxy, api: Api, echo: EchoServer) -> None:
    """Toxic names follow the proxy-name rule: a/b or .. would be impossible to update or delete."""
    api("POST", "/proxies", {"name": "p", "upstream": echo.address})
    for name in ["a/b", "..", "\u00e9"]:
        reply = api("POST", "/proxies/p/toxics", {"name": name, "type": "latency"})
        assert reply.status == 400
        assert "toxic name" in reply.json()["error"]


def test_client_disconnects_print_nothing(
    server: EmbeddedToxiproxy, api: Api, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Clients that hang up mid-request (headers, body, or before the answer) leave nothing on stderr."""
    for partial in (
        b"GET /vers",
        b"POST /proxies HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
        b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    ):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(partial)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(b"GET /proxies HTTP/1.1\r\n\r\n")  # then an RST instead of reading the answer
    assert api("GET", "/version").status == 200
    assert capfd.readouterr().err == ""
    assert [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []
