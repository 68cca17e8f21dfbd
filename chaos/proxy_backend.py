"""The seam between network faults and a proxy: :class:`ProxyBackend`, in process or over Toxiproxy's REST API.

A network fault never talks to a proxy directly; it gets a :class:`ProxyBackend` in ``FaultContext.proxy``:

- :class:`EmbeddedProxyBackend` drives the in-process :class:`chaos.proxy.EmbeddedToxiproxy` (no HTTP);
- :class:`RestProxyBackend` drives any Toxiproxy-compatible server over HTTP: ``resilience proxy serve``, the
  embedded proxy's own API, or a real Toxiproxy (``--toxiproxy-url``).

Both report how many times a toxic fired (``fired``): the embedded one from ``ProxyHandle.triggered``, the REST
one from ``GET /proxies/{name}/fired``. A real Toxiproxy has no such route: ``fired`` then returns None, and the
fault says so in the journal instead of guessing.

Every failure is a :class:`ProxyBackendError` carrying the HTTP status the server answered with (None when it
could not be reached), so a fault can tell "no such proxy" from "the server refused" from "nobody listens".

>>> from chaos.proxy import EmbeddedToxiproxy
>>> with EmbeddedToxiproxy(seed=1) as server:
...     _ = server.create_proxy("hub", upstream="127.0.0.1:9")
...     backend = as_proxy_backend(server)
...     stored = backend.add_toxic("hub", ToxicSpec("slow", "latency", attributes={"latency": 5}))
...     (backend.proxy_names(), stored, backend.fired("hub", "slow"))
(['hub'], {'latency': 5, 'jitter': 0}, 0)
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeAlias

from chaos.errors import ProxyError
from resilience_core import InputError, load_json

if TYPE_CHECKING:
    from chaos.proxy.server import EmbeddedToxiproxy, ProxyHandle

__all__ = [
    "EmbeddedProxyBackend",
    "ProxyBackend",
    "ProxyBackendError",
    "RestProxyBackend",
    "ToxicSpec",
    "as_proxy_backend",
]

Number: TypeAlias = int | float
Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"

_HTTP_TIMEOUT_S = 10.0
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_NO_ROUTE = "404 page not found"  # gorilla/mux's answer for an unknown path (Toxiproxy's, and ours)


class ProxyBackendError(ProxyError):
    """A proxy operation failed. ``status`` is the HTTP status the server answered (None: unreachable)."""

    def __init__(self, message: str, *, status: int | None, backend: str) -> None:
        super().__init__(message)
        self.status = status
        self.backend = backend


@dataclass(frozen=True, slots=True)
class ToxicSpec:
    """A toxic to add: Toxiproxy's JSON fields, typed. ``attributes`` are the toxic type's own fields."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, Number] = field(default_factory=dict)

    def to_json(self) -> dict[str, Json]:
        """The body of ``POST /proxies/{proxy}/toxics``."""
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


class ProxyBackend(Protocol):
    """What a network fault needs from a proxy server. Every method raises :class:`ProxyBackendError`."""

    @property
    def name(self) -> str:
        """The backend's kind for the journal: ``embedded`` or ``toxiproxy-rest``."""
        ...

    @property
    def location(self) -> str:
        """Where the proxies live, for messages: ``the embedded proxy`` or ``the proxy server at URL``."""
        ...

    def proxy_names(self) -> list[str]:
        """Every proxy's name, sorted."""
        ...

    def listen(self, proxy: str) -> str:
        """The ``host:port`` ``proxy`` listens on (where a client is pointed to reach its upstream)."""
        ...

    def add_toxic(self, proxy: str, toxic: ToxicSpec) -> dict[str, Number]:
        """Add ``toxic`` to ``proxy``; returns the attributes as the server stored them (a server that does not
        know an attribute leaves it out)."""
        ...

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """Remove the toxic called ``toxic``."""
        ...

    def toxic_names(self, proxy: str) -> list[str]:
        """Names of the toxics on ``proxy`` now."""
        ...

    def fired(self, proxy: str, toxic: str) -> int | None:
        """How many times ``toxic`` acted on a connection; None when this server keeps no fire counters."""
        ...

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable (listen) or disable (close the port and every connection) ``proxy``."""
        ...

    def enabled(self, proxy: str) -> bool:
        """Whether ``proxy`` listens."""
        ...

    def connections(self, proxy: str) -> int | None:
        """Connections open through ``proxy`` now; None when the server does not tell."""
        ...


class EmbeddedProxyBackend:
    """:class:`ProxyBackend` over an in-process :class:`~chaos.proxy.EmbeddedToxiproxy` (no HTTP)."""

    def __init__(self, server: EmbeddedToxiproxy) -> None:
        self.server = server

    @property
    def name(self) -> str:
        """``embedded``."""
        return "embedded"

    @property
    def location(self) -> str:
        """``the embedded proxy``."""
        return "the embedded proxy"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from chaos.proxy.model import ApiError

        try:
            yield
        except ApiError as error:
            raise ProxyBackendError(error.message, status=error.status, backend=self.name) from None

    def _handle(self, proxy: str) -> ProxyHandle:
        with self._errors():
            return self.server.proxy(proxy)

    def proxy_names(self) -> list[str]:
        """Every proxy's name, sorted."""
        return sorted(self.server.proxies())

    def listen(self, proxy: str) -> str:
        """``ProxyHandle.listen``."""
        with self._errors():
            return self._handle(proxy).listen

    def add_toxic(self, proxy: str, toxic: ToxicSpec) -> dict[str, Number]:
        """Add ``toxic`` through ``ProxyHandle.add_toxic``; returns the stored attributes."""
        with self._errors():
            created = self._handle(proxy).add_toxic(
                toxic.type,
                name=toxic.name,
                stream=toxic.stream,
                toxicity=toxic.toxicity,
                attributes=dict(toxic.attributes),
            )
        return _attributes(created.get("attributes"), self.name)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """Remove ``toxic`` (data it holds is released at once)."""
        with self._errors():
            self._handle(proxy).remove_toxic(toxic)

    def toxic_names(self, proxy: str) -> list[str]:
        """Names of the toxics on ``proxy``."""
        with self._errors():
            return [str(toxic["name"]) for toxic in self._handle(proxy).toxics()]

    def fired(self, proxy: str, toxic: str) -> int:
        """``ProxyHandle.triggered(toxic)``: the proxy's own count of the toxic's firings."""
        with self._errors():
            return self._handle(proxy).triggered(toxic)

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable ``proxy`` (same port when it comes back)."""
        with self._errors():
            self._handle(proxy).enabled = enabled

    def enabled(self, proxy: str) -> bool:
        """Whether ``proxy`` listens."""
        with self._errors():
            return self._handle(proxy).enabled

    def connections(self, proxy: str) -> int:
        """``ProxyHandle.connection_count``."""
        with self._errors():
            return self._handle(proxy).connection_count


class RestProxyBackend:
    """:class:`ProxyBackend` over Toxiproxy's REST API at ``url`` (a real Toxiproxy, or ours over HTTP).

    Fire counters come from ``GET /proxies/{name}/fired``; a server without that route (Toxiproxy 2.12) makes
    :meth:`fired` return None from then on. Connection counts are not part of the API (None).
    """

    def __init__(self, url: str, *, timeout_s: float = _HTTP_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._has_fired_route: bool | None = None

    @property
    def name(self) -> str:
        """``toxiproxy-rest``."""
        return "toxiproxy-rest"

    @property
    def location(self) -> str:
        """``the proxy server at URL``."""
        return f"the proxy server at {self.url}"

    def _call(self, method: str, path: str, body: Json = None) -> Json:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310  # an http(s) URL the user configured
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "resilience-chaos")  # Toxiproxy refuses Mozilla/* agents with 403
        where = f"{method} {self.url}{path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310  # as above
                payload = response.read(_MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as error:
            detail = _error_detail(error.read(_MAX_RESPONSE_BYTES))
            message = f"{where} -> {error.code}: {detail}"
            raise ProxyBackendError(message, status=error.code, backend=self.name) from None
        except OSError as error:
            message = f"{where} failed: {error}; is a Toxiproxy-compatible server running there?"
            raise ProxyBackendError(message, status=None, backend=self.name) from None
        if not payload.strip():
            return None
        try:
            value: Json = load_json(payload, source=where, max_bytes=_MAX_RESPONSE_BYTES)
        except InputError as error:
            raise ProxyBackendError(f"{where}: unreadable answer: {error}", status=200, backend=self.name) from None
        return value

    def _object(self, value: Json, what: str) -> dict[str, Json]:
        if not isinstance(value, dict):
            message = f"{self.url}: {what} is not a JSON object: {value!r:.200}"
            raise ProxyBackendError(message, status=200, backend=self.name)
        return value

    def _path(self, proxy: str, *rest: str) -> str:
        return "/proxies/" + "/".join(urllib.parse.quote(part, safe="") for part in (proxy, *rest))

    def proxy_names(self) -> list[str]:
        """``GET /proxies``: every proxy's name, sorted."""
        return sorted(self._object(self._call("GET", "/proxies"), "GET /proxies"))

    def listen(self, proxy: str) -> str:
        """``GET /proxies/{proxy}``'s ``listen``."""
        listen = self._object(self._call("GET", self._path(proxy)), "the proxy").get("listen")
        if not isinstance(listen, str) or not listen:
            raise ProxyBackendError(
                f"{self.url}: proxy {proxy!r} reports no listen address", status=200, backend=self.name
            )
        return listen

    def add_toxic(self, proxy: str, toxic: ToxicSpec) -> dict[str, Number]:
        """``POST /proxies/{proxy}/toxics``; returns the attributes the server echoed back."""
        created = self._object(self._call("POST", self._path(proxy, "toxics"), toxic.to_json()), "the new toxic")
        return _attributes(created.get("attributes"), self.name)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """``DELETE /proxies/{proxy}/toxics/{toxic}``."""
        self._call("DELETE", self._path(proxy, "toxics", toxic))

    def toxic_names(self, proxy: str) -> list[str]:
        """``GET /proxies/{proxy}/toxics``."""
        listed = self._call("GET", self._path(proxy, "toxics"))
        if not isinstance(listed, list):
            raise ProxyBackendError(f"{self.url}: the toxic list is not a JSON array", status=200, backend=self.name)
        return [str(self._object(toxic, "a toxic").get("name")) for toxic in listed]

    def fired(self, proxy: str, toxic: str) -> int | None:
        """``GET /proxies/{proxy}/fired``; None when the server has no such route (a real Toxiproxy)."""
        if self._has_fired_route is False:
            return None
        try:
            answer = self._object(self._call("GET", self._path(proxy, "fired")), "the fire counts")
        except ProxyBackendError as error:
            if error.status == 404 and _NO_ROUTE in str(error):
                self._has_fired_route = False
                return None
            raise
        self._has_fired_route = True
        counts = self._object(answer.get("toxics"), "the fire counts' toxics")
        count = counts.get(toxic)
        if not isinstance(count, int) or isinstance(count, bool):
            message = f"{self.url}: proxy {proxy!r} reports no fire count for toxic {toxic!r} (toxic not found)"
            raise ProxyBackendError(message, status=404, backend=self.name)
        return count

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """``POST /proxies/{proxy}`` with ``{"enabled": ...}``."""
        self._call("POST", self._path(proxy), {"enabled": enabled})

    def enabled(self, proxy: str) -> bool:
        """``GET /proxies/{proxy}``'s ``enabled``."""
        return self._object(self._call("GET", self._path(proxy)), "the proxy").get("enabled") is True

    def connections(self, proxy: str) -> int | None:
        """Not part of Toxiproxy's API: None."""
        return None


def as_proxy_backend(source: EmbeddedToxiproxy | ProxyBackend | str) -> ProxyBackend:
    """A backend for ``source``: an ``EmbeddedToxiproxy`` (in process), a URL (REST), or a backend as it is."""
    from chaos.proxy.server import EmbeddedToxiproxy

    if isinstance(source, str):
        return RestProxyBackend(source)
    if isinstance(source, EmbeddedToxiproxy):
        return EmbeddedProxyBackend(source)
    return source


def _error_detail(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return str(parsed["error"])
    return text[:500]


def _attributes(value: object, backend: str) -> dict[str, Number]:
    if not isinstance(value, dict):
        raise ProxyBackendError(f"the toxic came back without attributes: {value!r:.200}", status=200, backend=backend)
    return {
        str(key): number
        for key, number in value.items()
        if isinstance(number, int | float) and not isinstance(number, bool)
    }
