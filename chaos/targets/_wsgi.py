"""A threading WSGI server for the package index (kept apart so that wsgiref loads only when an index starts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

__all__ = ["make_threading_server"]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the stdlib's parameter name
        """Requests are kept in PackageIndex.requests instead of printed."""


def make_threading_server(
    host: str, port: int, app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
) -> WSGIServer:
    """Bind ``host:port`` (0 = a free port) and return a daemon-threaded WSGI server for ``app``."""
    return make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
