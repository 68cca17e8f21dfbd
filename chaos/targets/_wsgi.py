"""A threading WSGI server for the package index (kept apart so that wsgiref loads only when an index starts).

It gets the same hardening as the hub (:mod:`chaos.targets._http`): protocol errors answer JSON, an unknown
method is 405, a malformed Host header is 400, and clients that vanish mid-reply are logged at debug level
instead of printed on stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from chaos.targets._http import header_safe, host_header_ok, send_json_error

__all__ = ["make_threading_server"]

_log = logging.getLogger("chaos.targets")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback for any error; a vanished client is normal here, so log it instead."""
        _log.debug("index request from %s failed", client_address, exc_info=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's parameter name
        """Requests are kept in PackageIndex.requests instead of printed."""

    def parse_request(self) -> bool:
        """The stdlib's parsing, then a malformed Host is a 400: pypiserver builds its links from it and would
        raise (a 500) on, say, ``Host: [``."""
        if not super().parse_request():
            return False
        host = self.headers.get("Host")
        if host is not None and not host_header_ok(host):
            self.send_error(400, "bad Host header", f"Host {header_safe(host)!r} is not host[:port]")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (400, 414, 431, 505; 501 becomes 405) answer JSON like the hub, not the stdlib's HTML."""
        send_json_error(self, code, message, explain)


def make_threading_server(
    host: str, port: int, app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
) -> WSGIServer:
    """Bind ``host:port`` (0 = a free port) and return a daemon-threaded WSGI server for ``app``."""
    return make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
