"""HTTP/1.1 on the wire for the REST API: bounded request bodies, one-write responses, JSON for every error.

:class:`JsonRequestHandler` is :class:`http.server.BaseHTTPRequestHandler` with four changes:

- each response (status line, headers and body) leaves in one ``send`` on a TCP_NODELAY socket, so a client on
  a kept-alive connection never waits for its own delayed ACK (the 40 ms stall of a split header/body write);
- a request body is read under ``MAX_BODY_BYTES`` whatever its framing: ``Content-Length`` must be decimal
  digits, a chunked body's sizes must be hex digits and add up to no more than the cap, trailers are bounded,
  any other transfer coding is refused. Nothing is read past the cap: 413, or 400 for a malformed framing;
- protocol errors of the stdlib (400, 414, 431, 505...) are answered with the API's JSON error body;
- a client that disconnects mid-request is not an error: nothing is printed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MAX_BODY_BYTES", "HttpError", "JsonRequestHandler", "QuietHTTPServer", "error_body"]

MAX_BODY_BYTES = 8 << 20
_LINE_BYTES = 4096  # a chunk-size or trailer line
_TRAILER_LINES = 64
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_LOG = logging.getLogger("chaos.proxy.api")


class HttpError(Exception):
    """A request the server cannot read: its status and the message of the JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str, **extra: Any) -> bytes:
    """Toxiproxy's error body: ``{"error": ..., "status": ...}`` and a newline."""
    return json.dumps({"error": message, "status": status, **extra}, separators=(",", ":")).encode() + b"\n"


class JsonRequestHandler(BaseHTTPRequestHandler):
    """A request handler whose responses are single writes and whose errors are JSON."""

    protocol_version = "HTTP/1.1"
    error_content_type = "text/plain; charset=utf-8"

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def respond(
        self, status: int, body: bytes = b"", content_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Write the whole response in one go (no body for HEAD)."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"{self.protocol_version} {status} {phrase}", f"Server: {self.version_string()}"]
        lines.append(f"Date: {self.date_time_string()}")
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {_header_value(value)}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head if self.command == "HEAD" else head + body)
        self.log_request(status, len(body))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's protocol errors (bad request line, 414, 431, 505...), as JSON; the connection closes."""
        del explain
        try:
            default = HTTPStatus(code).phrase
        except ValueError:
            default = "error"
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        if not getattr(self, "command", None):
            self.command = ""  # the request line was not parsed: answer with a body
        body = b"" if code in (204, 304) or code < 200 else error_body(code, message or default)
        self.respond(code, body, self.error_content_type, {"X-Content-Type-Options": "nosniff"})

    def read_body(self) -> bytes:
        """The request body under MAX_BODY_BYTES; raises HttpError (413 too large, 400/501 bad framing)."""
        codings = [c.strip().lower() for v in self.headers.get_all("Transfer-Encoding", []) for c in v.split(",")]
        lengths = self.headers.get_all("Content-Length", [])
        if any(codings):
            if codings != ["chunked"]:
                raise HttpError(501, f"unsupported transfer encoding: {', '.join(codings)!r}")
            if lengths:
                raise HttpError(400, "a request cannot have both Transfer-Encoding and Content-Length")
            return self._read_chunked()
        if not lengths:
            return b""
        text = lengths[0].strip().encode("latin-1", "replace")
        if len(set(lengths)) > 1 or not text or not set(text) <= _DIGITS or len(text) > 19:
            raise HttpError(400, f"bad Content-Length {lengths[0][:40]!r}")
        length = int(text)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, f"request body too large: {length} bytes, the limit is {MAX_BODY_BYTES}")
        body = self.rfile.read(length)
        if len(body) < length:
            raise HttpError(400, "request body shorter than its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._line("chunk size").split(b";", 1)[0].strip()
            if not size_text or not set(size_text) <= _HEX or len(size_text) > 16:
                raise HttpError(400, f"bad chunk size {size_text[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise HttpError(413, f"request body too large: more than {MAX_BODY_BYTES} bytes")
            part = self.rfile.read(size)
            if len(part) < size or self._line("chunk end").strip():
                raise HttpError(400, "malformed chunked body")
            parts.append(part)
        for _ in range(_TRAILER_LINES):
            if not self._line("trailer").strip():
                return b"".join(parts)
        raise HttpError(431, f"more than {_TRAILER_LINES} trailer lines")

    def _line(self, what: str) -> bytes:
        line = self.rfile.readline(_LINE_BYTES + 1)
        if len(line) > _LINE_BYTES:
            raise HttpError(431 if what == "trailer" else 400, f"{what} line longer than {_LINE_BYTES} bytes")
        if not line.endswith(b"\n"):
            raise HttpError(400, f"request ended inside a {what} line")
        return line

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's parameter name
        _LOG.debug("%s " + format, self.address_string(), *args)


def _header_value(value: str) -> str:
    return value.replace("\r", "%0D").replace("\n", "%0A")


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that says nothing when a client goes away mid-request."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log (not print) what a handler raised; a disconnect or timeout is routine and logged at debug."""
        del request
        error = _current_error()
        if isinstance(error, OSError):  # reset, broken pipe, timed out: the client is gone
            _LOG.debug("API client %s went away: %s", client_address, error)
        else:
            _LOG.error("API request from %s failed", client_address, exc_info=error)


def _current_error() -> BaseException | None:
    return sys.exc_info()[1]
