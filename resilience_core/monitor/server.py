"""``resilience monitor serve``: ``/health``, ``/health/models`` and ``/metrics`` over HTTP, loopback by default.

``/health`` is 200 when every check passes and 503 otherwise (``curl -f`` fails then), with the checks as
JSON; ``/health/models`` gives a ``summary`` and every model; ``/metrics`` is the Prometheus text format.
Binding anything but a loopback address needs ``allow_remote=True``: the answers describe the machine.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from resilience_core.errors import ConfigError
from resilience_core.hosts import is_loopback
from resilience_core.monitor.health import HealthService

__all__ = ["HealthServer"]

_log = logging.getLogger("resilience_core.monitor.server")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the stdlib's parameter name
        _log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, ok: bool, body: dict[str, Any]) -> None:
        self._send(200 if ok else 503, json.dumps(body, sort_keys=True).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path == "/health":
                self._json(*self.server.service.health())
            elif path == "/health/models":
                self._json(*self.server.service.models_report())
            elif path == "/metrics":
                self._send(200, self.server.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._send(404, b'{"error": "not found; try /health, /health/models or /metrics"}', "application/json")
        except Exception as error:  # noqa: BLE001 -- a failing check is a 503 with the reason, never a dead server
            _log.exception("health endpoint %s failed", path)
            self._json(False, {"status": "unhealthy", "error": f"{type(error).__name__}: {error}"})

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    service: HealthService
    metrics: Callable[[], bytes]


class _Server6(_Server):
    address_family = socket.AF_INET6


def _bind(host: str, port: int, service: HealthService, metrics: Callable[[], bytes]) -> _Server:
    server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
    server.service = service
    server.metrics = metrics
    return server


class HealthServer:
    """Serves a :class:`HealthService` in a background thread; a context manager.

    ``metrics`` renders ``/metrics`` (default: an empty exposition). ``port=0`` picks a free port.
    """

    def __init__(
        self,
        service: HealthService,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        allow_remote: bool = False,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ConfigError(
                f"host={host!r} is not a loopback address; the health endpoint describes this machine, so binding "
                "elsewhere needs --allow-remote; fix: use 127.0.0.1, or pass --allow-remote",
                field="host",
                value=host,
                source="argument",
                allowed="a loopback address, or any with --allow-remote",
            )
        self.service = service
        self.host = host
        self.port = port
        self._metrics = metrics or (lambda: b"")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HealthServer:
        """Bind and serve in a daemon thread."""
        server = self._server = _bind(self.host, self.port, self.service, self._metrics)
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="resilience-health", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        if self._server is None:
            self._server = _bind(self.host, self.port, self.service, self._metrics)
            self.port = int(self._server.server_address[1])
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
