"""``EmbeddedToxiproxy``: a Toxiproxy-compatible server inside the current process, plus a direct Python API.

>>> with EmbeddedToxiproxy(seed=1) as server:            # REST API on 127.0.0.1, a free port
...     hub = server.create_proxy("hub", upstream="127.0.0.1:9")
...     toxic = hub.add_toxic("latency", attributes={"latency": 100})
...     server.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chaos.proxy.addresses import split_host_port
from chaos.proxy.api import ApiServer
from chaos.proxy.forward import FORWARD_UPSTREAM
from chaos.proxy.jsonbody import JsonObject
from chaos.proxy.model import ApiError, Proxy, Store

__all__ = ["EmbeddedToxiproxy", "ProxyHandle"]


def _as_object(attributes: Mapping[str, Any] | None) -> JsonObject | None:
    return None if attributes is None else JsonObject(list(attributes.items()))


class ProxyHandle:
    """In-process control of one proxy; every method has the REST API's semantics and raises ``ApiError``.

    ``bytes_upstream`` / ``bytes_downstream`` count the bytes the proxy has written toward the upstream server
    and toward clients ("bytes on the wire" after the toxics), live connections included.
    """

    def __init__(self, store: Store, name: str) -> None:
        self._store = store
        self.name = name

    @property
    def _proxy(self) -> Proxy:
        return self._store.get(self.name)

    @property
    def listen(self) -> str:
        """The bound address, e.g. ``127.0.0.1:40231``."""
        return self._proxy.listen

    @property
    def host(self) -> str:
        """Host part of ``listen``, usable to connect (``[::]`` is shown as ``127.0.0.1``)."""
        host = split_host_port(self.listen)[0]
        return "127.0.0.1" if host in ("", "::", "0.0.0.0") else host  # noqa: S104  # a wildcard is not dialable

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(split_host_port(self.listen)[1])

    @property
    def upstream(self) -> str:
        """Where each accepted connection is forwarded (``connect`` for a forward proxy)."""
        return self._proxy.upstream

    @property
    def url(self) -> str:
        """``http://host:port`` of the listener: what ``HTTPS_PROXY``/``HTTP_PROXY`` hold for a forward proxy."""
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def allow(self) -> tuple[str, ...]:
        """A forward proxy's allow list: the non-loopback ``host:port`` patterns it may tunnel to."""
        allow = self._proxy.allow
        return () if allow is None else allow.patterns

    def proxy_env(self) -> dict[str, str]:
        """Environment that routes a process's HTTP clients through this forward proxy.

        ``HTTPS_PROXY``/``HTTP_PROXY`` in both cases (curl reads ``http_proxy`` in lower case only) and an empty
        ``NO_PROXY``/``no_proxy``, so an inherited ``NO_PROXY=localhost,127.0.0.1`` cannot make clients bypass
        it for local servers. ApiError 400 for a proxy that is not a forward proxy.
        """
        if self._proxy.upstream != FORWARD_UPSTREAM:
            raise ApiError(f"proxy {self.name!r} is not a forward proxy; fix: create_forward_proxy({self.name!r})", 400)
        url = self.url
        names = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
        return {**dict.fromkeys(names, url), "NO_PROXY": "", "no_proxy": ""}

    def set_allow(self, patterns: Sequence[str]) -> None:
        """Replace a forward proxy's allow list; the next CONNECT sees it (ApiError 400 for a bad pattern)."""
        self._store.update(self.name, allow=list(patterns))

    @property
    def enabled(self) -> bool:
        """Whether the proxy listens; setting False closes the port and every connection."""
        return self._proxy.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._store.update(self.name, enabled=value)

    def enable(self) -> None:
        """Listen again (on the same address)."""
        self.enabled = True

    def disable(self) -> None:
        """Refuse new connections and close the live ones (Toxiproxy's "down")."""
        self.enabled = False

    def update(self, *, listen: str | None = None, upstream: str | None = None) -> None:
        """Move the proxy; a change closes every connection and restarts it."""
        self._store.update(self.name, listen=listen, upstream=upstream)

    def add_toxic(
        self,
        type: str,  # noqa: A002  # the REST API's field name, kept for the same call shape as toxiproxy-python
        *,
        name: str = "",
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a toxic and return it as the API shows it; it applies to live connections too."""
        toxic = self._store.add_toxic(
            self.name, type, name=name, stream=stream, toxicity=toxicity, attributes=_as_object(attributes)
        )
        return toxic.to_json()

    def update_toxic(
        self, name: str, *, attributes: Mapping[str, Any] | None = None, toxicity: float | None = None
    ) -> dict[str, Any]:
        """Change some attributes (the others keep their values) and/or the toxicity of a toxic."""
        return self._store.update_toxic(self.name, name, _as_object(attributes), toxicity).to_json()

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; data it holds is released at once."""
        self._store.remove_toxic(self.name, name)

    def triggered(self, name: str) -> int:
        """How many times toxic ``name`` has acted on a connection (delayed, dropped, cut, closed, reset, ...).

        0 means the toxic never fired: no data flowed, or its toxicity roll spared every connection.
        """
        return self._store.get_toxic(self.name, name).fired

    def fired(self) -> dict[str, int]:
        """Every toxic's fire count by toxic name, upstream toxics first: ``GET /proxies/{name}/fired``'s map.

        A fault reads it before and after its trial: a count that went up means the toxic acted on the stream,
        by the rule of its type (docs/proxy.md, "When a toxic fires").
        """
        with self._store.lock:
            return self._proxy.fired()

    def toxics(self) -> list[dict[str, Any]]:
        """Every toxic, upstream ones first."""
        with self._store.lock:
            return [t.to_json() for t in self._proxy.ordered_toxics()]

    @property
    def bytes_upstream(self) -> int:
        """Bytes written to the upstream server (client -> server), all connections so far."""
        return self._proxy.bytes_sent("upstream")

    @property
    def bytes_downstream(self) -> int:
        """Bytes written to clients (server -> client), all connections so far."""
        return self._proxy.bytes_sent("downstream")

    @property
    def connection_count(self) -> int:
        """Connections open through the proxy now."""
        return self._proxy.connection_count

    def close_connections(self) -> None:
        """Close every live connection (FIN) but keep listening."""
        self._proxy.close_connections()

    def delete(self) -> None:
        """Delete the proxy: the port closes and every connection with it."""
        self._store.delete(self.name)

    def to_json(self) -> dict[str, Any]:
        """The proxy as ``GET /proxies/{name}`` shows it."""
        with self._store.lock:
            return self._proxy.to_json()

    def __repr__(self) -> str:
        return f"ProxyHandle({self.name!r})"


class EmbeddedToxiproxy:
    """A Toxiproxy 2.12 compatible server running in background threads of this process.

    The REST API listens on ``host:port`` (127.0.0.1 and a free port by default; ``url`` tells which), so
    toxiproxy-python and other clients work unchanged. The methods below do the same without HTTP.
    ``seed`` makes toxicity rolls, jitter and slicing reproducible.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        proxy_metrics: bool = False,
        start_api: bool = True,
    ) -> None:
        self.store = Store(seed)
        self._api = ApiServer(self.store, host, port, proxy_metrics=proxy_metrics) if start_api else None
        self._started = False

    @property
    def host(self) -> str:
        """The API's address."""
        if self._api is None:
            raise ApiError("this EmbeddedToxiproxy was created with start_api=False", 500)
        return self._api.host

    @property
    def port(self) -> int:
        """The API's port."""
        if self._api is None:
            raise ApiError("this EmbeddedToxiproxy was created with start_api=False", 500)
        return self._api.port

    @property
    def url(self) -> str:
        """``http://host:port`` of the REST API (what TOXIPROXY_URL would hold)."""
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> EmbeddedToxiproxy:
        """Start serving the API in a daemon thread (idempotent)."""
        if not self._started and self._api is not None:
            self._api.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the API and every proxy, closing all their connections."""
        if self._api is not None and self._started:
            self._api.stop()
        self._started = False
        self.store.close()

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def create_proxy(
        self, name: str, *, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyHandle:
        """Create (and by default start) a proxy; raises ApiError 409 if the name is taken, 500 if bind fails."""
        self.store.create(name, upstream, listen, enabled)
        return ProxyHandle(self.store, name)

    def create_forward_proxy(
        self, name: str, *, listen: str = "127.0.0.1:0", allow: Sequence[str] = (), enabled: bool = True
    ) -> ProxyHandle:
        """Create an HTTP forward proxy (beyond Toxiproxy: upstream ``connect``); point clients at its ``url``.

        Clients reach it with ``HTTPS_PROXY``/``HTTP_PROXY``: ``CONNECT host:port`` tunnels (TLS included) and
        absolute-form ``GET http://...`` requests go through its toxics like any proxy's bytes. Loopback
        targets are always allowed; others only when they match a pattern of ``allow``
        (``"pypi.org:443"``, ``"*.hf.co:443"``); any other target gets a 403.

        >>> with EmbeddedToxiproxy(start_api=False) as server:
        ...     forward = server.create_forward_proxy("egress", allow=["pypi.org:443"])
        ...     forward.url.startswith("http://127.0.0.1:"), forward.upstream, forward.allow
        (True, 'connect', ('pypi.org:443',))
        """
        self.store.create(name, FORWARD_UPSTREAM, listen, enabled, list(allow))
        return ProxyHandle(self.store, name)

    def proxy(self, name: str) -> ProxyHandle:
        """The proxy called ``name``; ApiError 404 if there is none."""
        self.store.get(name)
        return ProxyHandle(self.store, name)

    def proxies(self) -> dict[str, ProxyHandle]:
        """Every proxy by name."""
        with self.store.lock:
            return {name: ProxyHandle(self.store, name) for name in self.store.proxies}

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy and close its connections."""
        self.store.delete(name)

    def populate(self, entries: Sequence[Mapping[str, Any]]) -> list[ProxyHandle]:
        """Create or replace proxies from ``/populate``-style dicts (name, upstream, listen, enabled, allow)."""
        done = self.store.populate([dict(entry) for entry in entries])
        return [ProxyHandle(self.store, proxy.name) for proxy in done]

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        self.store.reset()
