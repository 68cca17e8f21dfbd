"""Helpers for the embedded Toxiproxy tests: a raw HTTP client, an echo server and socket utilities."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


class Reply:
    """A raw HTTP response: status, headers (lower-cased keys) and body bytes."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Sends requests to the proxy's REST API exactly as given (method, path, raw body, headers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __call__(
        self, method: str, path: str, body: bytes | str | Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        if body is not None and not isinstance(body, bytes | str):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()


class EchoServer:
    """A loopback TCP server that echoes every byte back, one thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()


def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``.

    A byte counter moves just after the write that sent the bytes returns, so a peer that already has them may
    read the counter a moment early: poll it instead of reading it once.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def connect(port: int, timeout_s: float = 5.0) -> socket.socket:
    """A client socket to 127.0.0.1:port with a read timeout."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes (fails the test on EOF)."""
    parts = []
    while size:
        part = sock.recv(size)
        assert part, "unexpected EOF"
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    parts = []
    while part := sock.recv(65536):
        parts.append(part)
    return b"".join(parts)


class SourceServer:
    """A loopback server that sends ``payload`` to each client, then closes (after ``linger_s`` seconds).

    With ``on_request`` it first waits for the client's first byte: a toxic that resets the connection right
    away could otherwise reset it before the client's own ``connect()`` has returned (it would then fail).
    """

    def __init__(self, payload: bytes, linger_s: float = 0.0, *, on_request: bool = False) -> None:
        self.payload = payload
        self.linger_s = linger_s
        self.on_request = on_request
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.errors: list[OSError] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._send, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket) -> None:
        try:
            if self.on_request and not conn.recv(1):
                return
            conn.sendall(self.payload)
            if self.linger_s:
                time.sleep(self.linger_s)
        except OSError as error:
            self.errors.append(error)
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
