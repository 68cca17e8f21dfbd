"""The REST API of Toxiproxy 2.12 over :mod:`http.server`: routes, status codes, error bodies and headers.

Routing follows gorilla/mux as Toxiproxy configures it: paths match against the decoded path, an unclean path
gets a 301 to its cleaned form, an unknown path is ``404 page not found``, a known path with another method is
405 with an empty body, and only matched routes get the request-id header and the browser check.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import socket
import threading
import urllib.parse
from typing import Any

from chaos.proxy.http11 import HttpError, JsonRequestHandler, QuietHTTPServer, error_body
from chaos.proxy.jsonbody import BodyError, JsonObject, decode_first
from chaos.proxy.model import ApiError, Store, allow_field, bad_body

__all__ = ["TOXIPROXY_VERSION", "ApiServer"]

TOXIPROXY_VERSION = "2.12.0"
_POLL_INTERVAL_S = 0.05  # how fast stop() is noticed
_LOG = logging.getLogger("chaos.proxy.api")
_XID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"

# (pattern, allowed methods, handler name); None as methods means any method (/metrics).
_ROUTES: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = [
    (re.compile(r"/reset"), frozenset({"POST"}), "reset"),
    (re.compile(r"/populate"), frozenset({"POST"}), "populate"),
    (re.compile(r"/proxies"), frozenset({"GET"}), "list_proxies"),
    (re.compile(r"/proxies"), frozenset({"POST"}), "create_proxy"),
    (re.compile(r"/proxies/([^/]+)"), frozenset({"GET"}), "show_proxy"),
    (re.compile(r"/proxies/([^/]+)"), frozenset({"POST", "PATCH"}), "update_proxy"),
    (re.compile(r"/proxies/([^/]+)"), frozenset({"DELETE"}), "delete_proxy"),
    (re.compile(r"/proxies/([^/]+)/toxics"), frozenset({"GET"}), "list_toxics"),
    (re.compile(r"/proxies/([^/]+)/toxics"), frozenset({"POST"}), "create_toxic"),
    (re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), frozenset({"GET"}), "show_toxic"),
    (re.compile(r"/proxies/([^/]+)/fired"), frozenset({"GET"}), "fired"),
    (re.compile(r"/proxies/([^/]+)/forward"), frozenset({"GET"}), "forward"),
    (re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), frozenset({"POST", "PATCH"}), "update_toxic"),
    (re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), frozenset({"DELETE"}), "delete_toxic"),
    (re.compile(r"/version"), frozenset({"GET"}), "version"),
    (re.compile(r"/metrics"), None, "metrics"),
]


class _Reply:
    """What a route handler answers: status, body bytes and content type."""

    __slots__ = ("body", "content_type", "extra", "status")

    def __init__(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra: dict[str, str] = {}


def _json(status: int, value: Any) -> _Reply:
    return _Reply(status, json.dumps(value, separators=(",", ":")).encode())


def _error(error: ApiError, **extra: Any) -> _Reply:
    reply = _Reply(error.status, error_body(error.status, error.message, **extra), "text/plain; charset=utf-8")
    reply.extra["X-Content-Type-Options"] = "nosniff"
    return reply


def _clean_path(path: str) -> str:
    """gorilla/mux's cleanPath: path.Clean, keeping a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _request_id() -> str:
    return "".join(_XID_ALPHABET[b % 32] for b in os.urandom(20))


def _object(body: bytes) -> JsonObject:
    try:
        value = decode_first(body)
    except BodyError as error:
        raise bad_body(error) from None
    if not isinstance(value, JsonObject):
        raise bad_body("json: cannot unmarshal non-object into a proxy or toxic")
    return value


class _Handler(JsonRequestHandler):
    server_version = "toxiproxy-compatible"
    sys_version = ""
    timeout = 60  # Toxiproxy's IdleTimeout: an idle keep-alive connection does not hold a thread forever
    server: _Server
    _body = b""

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up do_<METHOD>; route every method through one dispatcher so that an
        # unexpected method gets 404/405 like gorilla/mux, not 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        try:
            # Read the body whatever the route, so a keep-alive connection stays in step with its requests.
            self._body = self.read_body()
        except HttpError as error:
            self.close_connection = True  # the rest of the stream cannot be trusted to start a request
            self._send(_error(ApiError(error.message, error.status)))
            return
        try:
            reply = self._route()
        except Exception:  # noqa: BLE001  # the server must keep serving whatever a handler does
            _LOG.exception("proxy API handler failed")
            reply = _error(ApiError("internal error", 500))
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        show_type = bool(reply.body) or reply.status not in (204, 301, 405)
        self.respond(reply.status, reply.body, reply.content_type if show_type else None, reply.extra)

    def _route(self) -> _Reply:
        raw_path = urllib.parse.urlsplit(self.path).path if "://" in self.path else self.path.split("?", 1)[0]
        path = urllib.parse.unquote(raw_path, errors="replace")
        cleaned = _clean_path(path)
        if cleaned != path:
            reply = _Reply(301)
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            reply.extra["Location"] = urllib.parse.quote(cleaned) + (f"?{query}" if query else "")
            return reply
        allowed = False
        for pattern, methods, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None or (handler == "metrics" and not self.server.proxy_metrics):
                continue
            if methods is not None and self.command not in methods:
                allowed = True
                continue
            return self._matched(handler, match.groups())
        if allowed:
            return _Reply(405)
        reply = _Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
        reply.extra["X-Content-Type-Options"] = "nosniff"
        return reply

    def _matched(self, handler: str, groups: tuple[str, ...]) -> _Reply:
        request_id = _request_id()
        if self.headers.get("User-Agent", "").startswith("Mozilla/"):
            reply = _Reply(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
        else:
            try:
                reply = getattr(self, f"_h_{handler}")(self._body, *groups)
            except ApiError as error:
                reply = _error(error, **({"proxies": None} if handler == "populate" else {}))
        reply.extra["X-Toxiproxy-Request-Id"] = request_id
        return reply

    # -- handlers: each takes the body and the path variables ------------------------------------------

    @property
    def store(self) -> Store:
        return self.server.store

    def _h_reset(self, _body: bytes) -> _Reply:
        self.store.reset()
        return _Reply(204)

    def _h_version(self, _body: bytes) -> _Reply:
        return _Reply(200, f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(), "application/json;charset=utf-8")

    def _h_metrics(self, _body: bytes) -> _Reply:
        return _Reply(200, self.store.metrics_text().encode(), "text/plain; version=0.0.4; charset=utf-8")

    def _h_list_proxies(self, _body: bytes) -> _Reply:
        with self.store.lock:
            return _json(200, {name: proxy.to_json() for name, proxy in self.store.proxies.items()})

    def _h_create_proxy(self, body: bytes) -> _Reply:
        fields = _object(body)
        try:
            name, upstream = fields.string("name", ""), fields.string("upstream", "")
            listen, enabled = fields.string("listen", ""), fields.boolean("enabled", True)
        except BodyError as error:
            raise bad_body(error) from None
        with self.store.lock:
            return _json(201, self.store.create(name, upstream, listen, enabled, allow_field(fields)).to_json())

    def _h_populate(self, body: bytes) -> _Reply:
        try:
            value = decode_first(body)
            entries = _populate_entries(value)
        except BodyError as error:
            raise bad_body(error) from None
        try:
            with self.store.lock:
                proxies = self.store.populate(entries)
                return _json(201, {"proxies": [p.to_json() for p in proxies] or None})
        except ApiError as error:
            if error.done is None:
                raise
            with self.store.lock:
                return _error(error, proxies=[p.to_json() for p in error.done])

    def _h_show_proxy(self, _body: bytes, name: str) -> _Reply:
        with self.store.lock:
            return _json(200, self.store.get(name).to_json())

    def _h_update_proxy(self, body: bytes, name: str) -> _Reply:
        with self.store.lock:
            self.store.get(name)
            fields = _object(body)
            try:
                return _json(200, self.store.update(name, fields).to_json())
            except BodyError as error:
                raise bad_body(error) from None

    def _h_delete_proxy(self, _body: bytes, name: str) -> _Reply:
        self.store.delete(name)
        return _Reply(204)

    def _h_list_toxics(self, _body: bytes, name: str) -> _Reply:
        with self.store.lock:
            return _json(200, [t.to_json() for t in self.store.get(name).ordered_toxics()])

    def _h_create_toxic(self, body: bytes, name: str) -> _Reply:
        with self.store.lock:
            self.store.get(name)
            fields = _object(body)
            try:
                type_name, toxic_name = fields.string("type", ""), fields.string("name", "")
                stream, toxicity = fields.string("stream", "downstream"), fields.number("toxicity", 1.0)
                attributes = fields.obj("attributes")
            except BodyError as error:
                raise bad_body(error) from None
            toxic = self.store.add_toxic(
                name, type_name, name=toxic_name, stream=stream, toxicity=toxicity, attributes=attributes
            )
            return _json(200, toxic.to_json())

    def _h_show_toxic(self, _body: bytes, name: str, toxic: str) -> _Reply:
        with self.store.lock:
            return _json(200, self.store.get_toxic(name, toxic).to_json())

    def _h_fired(self, _body: bytes, name: str) -> _Reply:
        # Beyond Toxiproxy: how many times each toxic of the proxy acted on a connection. A separate route, so
        # the toxic objects keep Toxiproxy's exact shape for strict clients.
        with self.store.lock:
            proxy = self.store.get(name)
            return _json(200, {"proxy": name, "toxics": proxy.fired()})

    def _h_forward(self, _body: bytes, name: str) -> _Reply:
        # Beyond Toxiproxy: a forward proxy (upstream "connect") and its allow list, kept out of the proxy object.
        with self.store.lock:
            return _json(200, self.store.get(name).forward_json())

    def _h_update_toxic(self, body: bytes, name: str, toxic: str) -> _Reply:
        with self.store.lock:
            self.store.get_toxic(name, toxic)
            fields = _object(body)
            try:
                attributes = fields.obj("attributes")
                toxicity = fields.number("toxicity", 0.0) if fields.has("toxicity") else None
            except BodyError as error:
                raise bad_body(error) from None
            return _json(200, self.store.update_toxic(name, toxic, attributes, toxicity).to_json())

    def _h_delete_toxic(self, _body: bytes, name: str, toxic: str) -> _Reply:
        self.store.remove_toxic(name, toxic)
        return _Reply(204)


def _populate_entries(value: Any) -> list[dict[str, Any]]:
    """The /populate array as plain dicts; ``null`` is an empty list, as Go decodes it."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BodyError("json: cannot unmarshal non-array into Go value of type []proxy")
    entries = []
    for item in value:
        if item is None:
            entries.append({"name": "", "upstream": "", "listen": "", "enabled": True})
            continue
        if not isinstance(item, JsonObject):
            raise BodyError("json: cannot unmarshal non-object into Go value of type proxy")
        entries.append(
            {
                "name": item.string("name", ""),
                "upstream": item.string("upstream", ""),
                "listen": item.string("listen", ""),
                "enabled": item.boolean("enabled", True),
                "allow": allow_field(item),
            }
        )
    return entries


class _Server(QuietHTTPServer):
    def __init__(self, address: tuple[str, int], store: Store, proxy_metrics: bool) -> None:
        self.store = store
        self.proxy_metrics = proxy_metrics
        super().__init__(address, _Handler)


class _Server6(_Server):
    address_family = socket.AF_INET6


class ApiServer:
    """The REST API for a :class:`Store`, served from a background thread."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *, proxy_metrics: bool = False) -> None:
        bare_host = host.strip("[]")
        server_class = _Server6 if ":" in bare_host else _Server
        self._server = server_class((bare_host, port), store, proxy_metrics)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the API listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the API listens on (the real one when 0 was asked for)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_INTERVAL_S,), name="toxiproxy-api", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop`."""
        self._server.serve_forever(_POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
