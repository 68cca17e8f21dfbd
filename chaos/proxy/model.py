"""Proxies and their toxics: the state behind both the REST API and the in-process Python API.

:class:`Store` holds every proxy and implements Toxiproxy's operations with its semantics and error statuses
(:class:`ApiError` carries the HTTP status). A :class:`Proxy` owns, while enabled, a
:class:`~chaos.proxy.listener.Listener`: its listening socket, its loop thread and its live connections.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from chaos.errors import ProxyError
from chaos.proxy import addresses
from chaos.proxy.forward import FORWARD_UPSTREAM, AllowList, allow_problem
from chaos.proxy.jsonbody import MISSING, BodyError, JsonObject
from chaos.proxy.kinds import KINDS
from chaos.proxy.link import ByteCounts
from chaos.proxy.listener import Listener
from chaos.proxy.names import address_problem, name_problem
from chaos.proxy.toxics import Toxic

__all__ = ["ApiError", "Proxy", "Store"]


class ApiError(ProxyError):
    """A refused operation; ``status`` is the HTTP status Toxiproxy answers with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.done: list[Proxy] | None = None  # populate: the proxies processed before the failure


def bad_body(error: BodyError | str) -> ApiError:
    """400 ``bad request body: ...``."""
    return ApiError(f"bad request body: {error}", 400)


def allow_list(upstream: str, patterns: Any, where: str = "") -> AllowList | None:
    """The allow list of a proxy with ``upstream``: None for a plain proxy; ApiError(400) for bad patterns."""
    if upstream != FORWARD_UPSTREAM:
        if patterns:
            raise ApiError(
                f"allow applies to a forward proxy only{where}; fix: create it with upstream {FORWARD_UPSTREAM!r}",
                400,
            )
        return None
    problem = allow_problem([] if patterns is None else patterns)
    if problem:
        raise ApiError(problem + where, 400)
    return AllowList(patterns or ())


def allow_field(body: JsonObject) -> Any:
    """The beyond-Toxiproxy ``allow`` field of a request body (None when absent)."""
    value = body.raw("allow")
    return None if value is MISSING else value


class Proxy:
    """One proxy: a listener forwarding every accepted connection to ``upstream`` through the toxics.

    Its toxics are published as immutable per-direction tuples (``chains``) that the data path reads without a
    lock; its byte counters live on across restarts.
    """

    def __init__(self, name: str, listen: str, upstream: str, seed: int, allow: AllowList | None = None) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.allow = allow  # a forward proxy's allow list (upstream "connect"), read by its handshakes
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.chains: dict[str, tuple[Toxic, ...]] = {"upstream": (), "downstream": ()}
        self.version = 0
        self.counts = {"upstream": ByteCounts(), "downstream": ByteCounts()}
        self.rng = random.Random(seed)  # read by the loop thread only, once started
        self._listener: Listener | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind ``listen`` (replacing it with the bound address) and accept; raises ApiError(500) on failure."""
        if self.enabled:
            return
        try:
            sock, bound = addresses.bind_listener(self.listen)
        except OSError as error:
            raise ApiError(str(error), 500) from None
        self.listen = bound
        self._listener = Listener(self, sock)
        self._listener.start()
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and every connection (FIN), like disabling or deleting a Toxiproxy proxy."""
        self.enabled = False
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def close_connections(self) -> None:
        """Close every live connection with a FIN."""
        if self._listener is not None:
            self._listener.close_connections()

    @property
    def connection_count(self) -> int:
        """Connections open through the proxy now."""
        listener = self._listener
        return 0 if listener is None else len(listener.connections)

    # -- counters ------------------------------------------------------------------------------------------------

    def bytes_sent(self, direction: str) -> int:
        """Bytes written toward the peer in ``direction`` so far (live connections included)."""
        return self.counts[direction].sent

    def closed_bytes(self, direction: str) -> tuple[int, int]:
        """(received, sent) bytes of connections that have ended: what Toxiproxy's metrics count."""
        counts = self.counts[direction]
        return counts.closed_received, counts.closed_sent

    def fired(self) -> dict[str, int]:
        """How many times each toxic acted, by toxic name, upstream toxics first."""
        return {toxic.name: toxic.fired for toxic in self.ordered_toxics()}

    # -- toxics ------------------------------------------------------------------------------------------------

    def find_toxic(self, name: str) -> Toxic | None:
        """The toxic called ``name``, or None."""
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        return None

    def ordered_toxics(self) -> list[Toxic]:
        """Upstream toxics first, then downstream, each in insertion order (Toxiproxy's list order)."""
        return [t for t in self.toxics if t.direction == "upstream"] + [
            t for t in self.toxics if t.direction == "downstream"
        ]

    def publish(self) -> None:
        """Publish the toxic chains to the data path; every live connection sees them before this returns."""
        self.chains = {d: tuple(t for t in self.toxics if t.direction == d) for d in ("upstream", "downstream")}
        self.version += 1
        if self._listener is not None:
            self._listener.chain_changed()

    def forward_json(self) -> dict[str, Any]:
        """``GET /proxies/{name}/forward``: whether this is a forward proxy, and its allow list."""
        allow = [] if self.allow is None else list(self.allow.patterns)
        return {"proxy": self.name, "forward": self.upstream == FORWARD_UPSTREAM, "allow": allow}

    def to_json(self) -> dict[str, Any]:
        """The proxy as Toxiproxy serialises it."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.ordered_toxics()],
        }


class Store:
    """Every proxy of one server, and Toxiproxy's operations on them (thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.lock = threading.RLock()
        self._rng = random.Random(seed)

    def _new_proxy(self, name: str, listen: str, upstream: str, allow: AllowList | None = None) -> Proxy:
        return Proxy(name, listen, upstream, self._rng.getrandbits(64), allow)

    def get(self, name: str) -> Proxy:
        """The proxy called ``name``; ApiError(404) if there is none."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    def create(self, name: str, upstream: str, listen: str = "", enabled: bool = True, allow: Any = None) -> Proxy:
        """POST /proxies: 400 without name or upstream, 409 for a taken name, 500 when the bind fails.

        Upstream ``connect`` makes a forward proxy; ``allow`` (beyond Toxiproxy) is its list of host:port patterns.
        """
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        _check_fields(name=name, upstream=upstream, listen=listen)
        allowed = allow_list(upstream, allow)
        with self.lock:
            if name in self.proxies:
                raise ApiError("proxy already exists", 409)
            proxy = self._new_proxy(name, listen, upstream, allowed)
            if enabled:
                proxy.start()
            self.proxies[name] = proxy
            return proxy

    def update(
        self,
        name: str,
        body: JsonObject | None = None,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
        allow: Any = None,
    ) -> Proxy:
        """POST/PATCH /proxies/{name}: restart on a new listen or upstream; start or stop on ``enabled``.

        A new ``allow`` list applies to the next CONNECT at once, without a restart.
        """
        with self.lock:
            proxy = self.get(name)
            new_listen = proxy.listen if listen is None else listen
            new_upstream = proxy.upstream if upstream is None else upstream
            new_enabled = proxy.enabled if enabled is None else enabled
            if body is not None:
                new_listen = body.string("listen", new_listen)
                new_upstream = body.string("upstream", new_upstream)
                new_enabled = body.boolean("enabled", new_enabled)
                allow = allow_field(body) if allow is None else allow
            listen, upstream, enabled = new_listen, new_upstream, new_enabled
            _check_fields(upstream=upstream, listen=listen)
            keep = proxy.allow.patterns if proxy.allow is not None and upstream == FORWARD_UPSTREAM else None
            proxy.allow = allow_list(upstream, keep if allow is None else allow)
            try:
                differs = addresses.normalise(listen) != proxy.listen or upstream != proxy.upstream
            except OSError as error:
                raise ApiError(str(error), 500) from None
            if differs:
                proxy.stop()
                proxy.listen, proxy.upstream = listen, upstream
            if enabled and not proxy.enabled:
                proxy.start()
            elif not enabled and proxy.enabled:
                proxy.stop()
            return proxy

    def delete(self, name: str) -> None:
        """DELETE /proxies/{name}: close the listener and every connection."""
        with self.lock:
            proxy = self.get(name)
            proxy.stop()
            del self.proxies[name]

    def populate(self, entries: list[dict[str, Any]]) -> list[Proxy]:
        """POST /populate: validate all, then add or replace in order; stops at the first failure.

        On failure raises ApiError with ``done`` set to the proxies processed so far.
        """
        for number, entry in enumerate(entries, start=1):
            if not entry.get("name"):
                raise ApiError(f"missing required field: name at proxy {number}", 400)
            if not entry.get("upstream"):
                raise ApiError(f"missing required field: upstream at proxy {number}", 400)
            fields = {"name": entry["name"], "upstream": entry["upstream"], "listen": entry.get("listen", "")}
            _check_fields(f" at proxy {number}", **fields)
            allow_list(entry["upstream"], entry.get("allow"), f" at proxy {number}")
        done: list[Proxy] = []
        with self.lock:
            for entry in entries:
                try:
                    done.append(self._add_or_replace(entry))
                except ApiError as error:
                    error.done = done
                    raise
        return done

    def _add_or_replace(self, entry: dict[str, Any]) -> Proxy:
        name, upstream, listen = entry["name"], entry["upstream"], entry.get("listen", "")
        allowed = allow_list(upstream, entry.get("allow"))
        existing = self.proxies.get(name)
        if existing is not None:
            try:
                same_listen = addresses.normalise(listen) == existing.listen or listen == existing.listen
            except OSError:
                same_listen = False
            if same_listen and upstream == existing.upstream:
                existing.allow = allowed
                return existing  # untouched: toxics and the enabled flag stay as they are
            existing.stop()
        proxy = self._new_proxy(name, listen, upstream, allowed)
        if entry.get("enabled", True):
            proxy.start()
        self.proxies[name] = proxy
        return proxy

    def add_toxic(
        self,
        proxy_name: str,
        type_name: str,
        *,
        name: str = "",
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: JsonObject | None = None,
    ) -> Toxic:
        """POST /proxies/{p}/toxics, with Toxiproxy's order of checks (404, 400 stream, 400 type, 409, 400)."""
        with self.lock:
            proxy = self.get(proxy_name)
            if stream.lower() not in ("upstream", "downstream"):
                raise ApiError("stream was invalid, can be either upstream or downstream", 400)
            name = name or f"{type_name}_{stream}"
            kind = KINDS.get(type_name)
            if kind is None:
                raise ApiError("invalid toxic type", 400)
            problem = name_problem("toxic name", name)
            if problem:
                raise ApiError(problem, 400)
            if proxy.find_toxic(name) is not None:
                raise ApiError("toxic already exists", 409)
            try:
                attrs = kind.decode(attributes, kind.defaults())
            except BodyError as error:
                raise bad_body(error) from None
            toxic = Toxic(name, kind, stream, toxicity, attrs)
            proxy.toxics.append(toxic)
            proxy.publish()
            return toxic

    def get_toxic(self, proxy_name: str, name: str) -> Toxic:
        """The toxic ``name`` of proxy ``proxy_name``; ApiError(404) for either missing."""
        proxy = self.get(proxy_name)
        toxic = proxy.find_toxic(name)
        if toxic is None:
            raise ApiError("toxic not found", 404)
        return toxic

    def update_toxic(self, proxy_name: str, name: str, attributes: JsonObject | None, toxicity: float | None) -> Toxic:
        """POST/PATCH a toxic: only the attributes given change; toxicity only if given (all or nothing)."""
        with self.lock:
            proxy = self.get(proxy_name)
            toxic = self.get_toxic(proxy_name, name)
            try:
                attrs = toxic.kind.decode(attributes, toxic.attrs)
            except BodyError as error:
                raise bad_body(error) from None
            toxic.attrs = attrs
            if toxicity is not None:
                toxic.toxicity = toxicity
            toxic.version += 1
            proxy.publish()
            return toxic

    def remove_toxic(self, proxy_name: str, name: str) -> None:
        """DELETE a toxic; removing a ``timeout`` toxic closes every connection of the proxy (Toxiproxy #168)."""
        with self.lock:
            proxy = self.get(proxy_name)
            toxic = self.get_toxic(proxy_name, name)
            self._remove(proxy, [toxic])

    @staticmethod
    def _remove(proxy: Proxy, toxics: list[Toxic]) -> None:
        for toxic in toxics:
            toxic.removed = True
            proxy.toxics.remove(toxic)
        proxy.publish()
        if any(t.kind.type_name == "timeout" for t in toxics):
            proxy.close_connections()  # the dropped bytes left the stream corrupt

    def reset(self) -> None:
        """POST /reset: start every disabled proxy, then remove every toxic."""
        with self.lock:
            for proxy in list(self.proxies.values()):
                if not proxy.enabled:
                    proxy.start()
                if proxy.toxics:
                    self._remove(proxy, list(proxy.toxics))

    def close(self) -> None:
        """Stop every proxy (listeners and connections) and forget them."""
        with self.lock:
            for proxy in self.proxies.values():
                proxy.stop()
            self.proxies.clear()

    def metrics_text(self) -> str:
        """Prometheus text for the proxy byte counters (added to when a connection ends, as in Toxiproxy)."""
        lines = []
        for metric, index, help_text in (
            ("toxiproxy_proxy_received_bytes_total", 0, "The number of bytes received by the proxy"),
            ("toxiproxy_proxy_sent_bytes_total", 1, "The number of bytes sent by the proxy"),
        ):
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            with self.lock:
                proxies = list(self.proxies.values())
            for proxy in proxies:
                for direction in ("downstream", "upstream"):
                    value = proxy.closed_bytes(direction)[index]
                    labels = (
                        f'direction="{direction}",listener="{_label(proxy.listen)}",'
                        f'proxy="{_label(proxy.name)}",upstream="{_label(proxy.upstream)}"'
                    )
                    lines.append(f"{metric}{{{labels}}} {value}")
        return "\n".join(lines) + "\n"


def _check_fields(where: str = "", *, upstream: str, listen: str, name: str | None = None) -> None:
    """400 for a name or address that names.py refuses (``where`` locates it in a populate body)."""
    problem = (name_problem("name", name) if name is not None else None) or (
        address_problem("upstream", upstream) or address_problem("listen", listen)
    )
    if problem:
        raise ApiError(problem + where, 400)


def _label(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")  # labels must be UTF-8, whatever came in
