"""HTTP plumbing shared by the local targets: a threading HTTP/1.1 server that can drop its live connections,
Range parsing, a counted zero-copy file sender, and the hardening every target handler gets:

- :func:`header_safe`: no header value can carry CR, LF or any control character (they are escaped as
  ``\\xNN``), so nothing echoed from a request (a revision, a path) can inject a header or end the head early;
- :func:`send_json_error`: the stdlib's protocol errors (400, 414, 431, 505, ...) answer JSON like every other
  error, with ``Connection: close``; an unknown method is 405, not 501;
- clients that vanish mid-reply (BrokenPipe, ConnectionReset) are logged at debug level, never printed.
"""

from __future__ import annotations

import contextlib
import http
import json
import logging
import os
import re
import select
import socket
import stat
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

__all__ = [
    "RangeNotSatisfiable",
    "TargetHTTPServer",
    "header_safe",
    "host_header_ok",
    "open_regular_file",
    "parse_range",
    "send_bytes",
    "send_file_range",
    "send_json_error",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 9110 Host: uri-host [ ":" port ], uri-host an IP-literal ([v6]), an IPv4 address or a reg-name.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::(?P<port>[0-9]{0,5}))?")
_ALLOWED_METHODS = "GET, HEAD, POST"


def header_safe(value: str) -> str:
    """``value`` as printable ASCII: non-ASCII as ``\\uNNNN``, control characters (CR, LF, NUL...) as ``\\xNN``.

    >>> header_safe("Invalid rev id: \\r\\nX-Injected: yes")
    'Invalid rev id: \\\\x0d\\\\x0aX-Injected: yes'
    """
    text = value.encode("ascii", "backslashreplace").decode("ascii")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def host_header_ok(value: str) -> bool:
    """Whether ``value`` is a well-formed Host header (``host[:port]``); a server that builds URLs from it (the
    hub's ``Link`` header, pypiserver's links) must not, from a malformed one, such as ``[``.

    >>> host_header_ok("127.0.0.1:8080"), host_header_ok("[::1]:80"), host_header_ok("["), host_header_ok("a b")
    (True, True, False, False)
    """
    found = _HOST.fullmatch(value)
    return found is not None and (not found["port"] or int(found["port"]) <= 65535)


def send_json_error(
    handler: BaseHTTPRequestHandler, code: int, message: str | None = None, explain: str | None = None
) -> None:
    """Answer a protocol error as ``{"error": ..., "status": ...}`` and close the connection.

    Drop-in for ``BaseHTTPRequestHandler.send_error`` (which answers HTML). An unsupported method (the stdlib's
    501) becomes 405 with ``Allow``: the method is known to HTTP, just not served here.
    """
    headers = {"Connection": "close", "Content-Type": "application/json"}
    if code == http.HTTPStatus.NOT_IMPLEMENTED:
        code = http.HTTPStatus.METHOD_NOT_ALLOWED
        headers["Allow"] = _ALLOWED_METHODS
    try:
        phrase, description = http.HTTPStatus(code).phrase, http.HTTPStatus(code).description
    except ValueError:
        phrase, description = "Error", ""
    body = json.dumps({"error": message or phrase, "detail": explain or description, "status": code}).encode()
    handler.close_connection = True
    if getattr(handler, "request_version", "HTTP/0.9") == "HTTP/0.9":
        # The stdlib calls this before it knows the version and then writes no status line or headers at all;
        # these servers speak HTTP/1.x, so the client gets a status it can parse.
        handler.request_version = "HTTP/1.0"
    handler.send_response(code, phrase)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if getattr(handler, "command", "") != "HEAD" and code >= 200 and code not in (204, 304):
        handler.wfile.write(body)


def open_regular_file(path: os.PathLike[str] | str) -> BinaryIO:
    """Open ``path`` for reading, refusing a symlink in its last component (``O_NOFOLLOW``) or a non-file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(f"{os.fspath(path)!r} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_log = logging.getLogger("chaos.targets")
_SENDFILE_CHUNK_BYTES = 8 << 20


class TargetHTTPServer(ThreadingHTTPServer):
    """Daemon-threaded HTTP server on which :meth:`drop_connections` cuts every open keep-alive connection."""

    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()

    def track(self, connection: socket.socket, alive: bool) -> None:
        """Remember (or forget) a connection so that :meth:`drop_connections` can cut it."""
        with self._live_lock:
            if alive:
                self._live.add(connection)
            else:
                self._live.discard(connection)

    def drop_connections(self) -> None:
        """Shut every open connection down, so no client hangs on a server that was closed."""
        with self._live_lock:
            live, self._live = self._live, set()
        for connection in live:
            with contextlib.suppress(OSError):  # already gone: the client closed first
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-reply are normal under fault injection; log, never print tracebacks."""
        _log.debug("request from %s failed", client_address, exc_info=True)


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes beyond the end of the file (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` for a single ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range, or None for the whole file.

    Malformed or multi-range headers are ignored (RFC 9110 allows answering 200 with the whole file);
    a start at or past the end raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable
            start = max(0, size - suffix)
            return start, size - start
        start = int(first)
        end = size - 1 if last == "" else min(int(last), size - 1)
    except ValueError:
        return None
    if start < 0 or (last and int(last) < start):
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, end - start + 1


def send_file_range(
    connection: socket.socket,
    file: BinaryIO,
    offset: int,
    length: int,
    *,
    on_sent: Callable[[int], None],
    timeout_s: float | None,
) -> None:
    """Send ``length`` bytes of ``file`` from ``offset`` with os.sendfile, reporting each piece to ``on_sent``."""
    sock_fd = connection.fileno()
    file_fd = file.fileno()
    remaining = length
    while remaining > 0:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, min(remaining, _SENDFILE_CHUNK_BYTES))
        except BlockingIOError:
            # the socket has a timeout, so Python put it in non-blocking mode: wait until it drains
            _, writable, _ = select.select([], [sock_fd], [], timeout_s)
            if not writable:
                raise TimeoutError(f"client did not read for {timeout_s} s") from None
            continue
        if sent == 0:
            raise ConnectionResetError("file ended before the announced length")
        on_sent(sent)
        offset += sent
        remaining -= sent


def send_bytes(connection: socket.socket, data: bytes, on_sent: Callable[[int], None]) -> None:
    """Send an in-memory body (used when the bytes are altered), counting them once sent."""
    connection.sendall(data)
    on_sent(len(data))
