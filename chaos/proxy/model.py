"""Proxies and their toxics: the state behind both the REST API and the in-process Python API.

:class:`Store` holds every proxy and implements Toxiproxy's operations with its semantics and error statuses
(:class:`ApiError` carries the HTTP status). A :class:`Proxy` owns its listener, its accept thread and its
live connections; its toxics are published as immutable per-direction tuples that the data path reads
without a lock.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import threading
from typing import Any

from chaos.errors import ProxyError
from chaos.proxy import addresses
from chaos.proxy.jsonbody import BodyError, JsonObject
from chaos.proxy.kinds import KINDS
from chaos.proxy.link import Connection
from chaos.proxy.toxics import Toxic

__all__ = ["ApiError", "Proxy", "Store"]

_DIAL_TIMEOUT_S = 30.0


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


class Proxy:
    """One proxy: a listener forwarding every accepted connection to ``upstream`` through the toxics."""

    def __init__(self, name: str, listen: str, upstream: str, seed: int) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.chains: dict[str, tuple[Toxic, ...]] = {"upstream": (), "downstream": ()}
        self.version = 0
        self.connections: set[Connection] = set()
        self.rng = random.Random(seed)
        self._lock = threading.Lock()  # guards connections and counters
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake_fd = -1
        self._closed_bytes = {"upstream": [0, 0], "downstream": [0, 0]}  # [received, sent] of ended links

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind ``listen`` (replacing it with the bound address) and accept; raises ApiError(500) on failure."""
        if self.enabled:
            return
        try:
            listener, bound = addresses.bind_listener(self.listen)
        except OSError as error:
            raise ApiError(str(error), 500) from None
        listener.setblocking(False)
        self.listen = bound
        self._listener = listener
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.enabled = True
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._wake_fd), name=f"proxy-{self.name}-accept", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listener and every connection (FIN), like disabling or deleting a Toxiproxy proxy."""
        if self.enabled:
            self.enabled = False
            os.eventfd_write(self._wake_fd, 1)
            if self._accept_thread is not None:
                self._accept_thread.join()
            if self._listener is not None:
                self._listener.close()
            os.close(self._wake_fd)
            self._listener = None
            self._accept_thread = None
        self.close_connections()

    def close_connections(self) -> None:
        """Close every live connection with a FIN."""
        with self._lock:
            live = list(self.connections)
        for conn in live:
            conn.close()

    def _accept_loop(self, listener: socket.socket, wake_fd: int) -> None:
        poller = select.poll()
        poller.register(listener.fileno(), select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        while True:
            poller.poll()
            if not self.enabled:
                return
            try:
                client, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                continue  # EMFILE, ECONNABORTED: keep serving
            with self._lock:
                seed = self.rng.getrandbits(64)
            threading.Thread(
                target=self._serve, args=(client, seed), name=f"proxy-{self.name}-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket, seed: int) -> None:
        try:
            upstream = addresses.connect(self.upstream, _DIAL_TIMEOUT_S)
        except OSError:
            client.close()  # like Toxiproxy: the client sees its connect succeed, then EOF (#265)
            return
        conn = Connection(self, client, upstream, seed)
        with self._lock:
            if not self.enabled:
                client.close()
                upstream.close()
                return
            self.connections.add(conn)
        if self.chains["upstream"] or self.chains["downstream"]:
            conn.chain_changed()
        conn.start(run_upstream_here=True)

    def connection_done(self, conn: Connection) -> None:
        """Called by a connection once its sockets are closed: fold its byte counts into the totals."""
        with self._lock:
            self.connections.discard(conn)
            for link in conn.links:
                totals = self._closed_bytes[link.direction]
                totals[0] += link.received_bytes
                totals[1] += link.sent_bytes

    # -- counters ------------------------------------------------------------------------------------------------

    def bytes_sent(self, direction: str) -> int:
        """Bytes written toward the peer in ``direction`` so far (live connections included)."""
        with self._lock:
            live = sum(
                link.sent_bytes for conn in self.connections for link in conn.links if link.direction == direction
            )
            return self._closed_bytes[direction][1] + live

    def closed_bytes(self, direction: str) -> tuple[int, int]:
        """(received, sent) bytes of connections that have ended: what Toxiproxy's metrics count."""
        with self._lock:
            received, sent = self._closed_bytes[direction]
            return received, sent

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
        """Publish the toxic chains to the data path and wake every connection."""
        self.chains = {d: tuple(t for t in self.toxics if t.direction == d) for d in ("upstream", "downstream")}
        self.version += 1
        with self._lock:
            live = list(self.connections)
        for conn in live:
            conn.chain_changed()

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

    def _new_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        return Proxy(name, listen, upstream, self._rng.getrandbits(64))

    def get(self, name: str) -> Proxy:
        """The proxy called ``name``; ApiError(404) if there is none."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    def create(self, name: str, upstream: str, listen: str = "", enabled: bool = True) -> Proxy:
        """POST /proxies: 400 without name or upstream, 409 for a taken name, 500 when the bind fails."""
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        with self.lock:
            if name in self.proxies:
                raise ApiError("proxy already exists", 409)
            proxy = self._new_proxy(name, listen, upstream)
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
    ) -> Proxy:
        """POST/PATCH /proxies/{name}: restart on a new listen or upstream; start or stop on ``enabled``."""
        with self.lock:
            proxy = self.get(name)
            new_listen = proxy.listen if listen is None else listen
            new_upstream = proxy.upstream if upstream is None else upstream
            new_enabled = proxy.enabled if enabled is None else enabled
            if body is not None:
                new_listen = body.string("listen", new_listen)
                new_upstream = body.string("upstream", new_upstream)
                new_enabled = body.boolean("enabled", new_enabled)
            listen, upstream, enabled = new_listen, new_upstream, new_enabled
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
        existing = self.proxies.get(name)
        if existing is not None:
            try:
                same_listen = addresses.normalise(listen) == existing.listen or listen == existing.listen
            except OSError:
                same_listen = False
            if same_listen and upstream == existing.upstream:
                return existing  # untouched: toxics and the enabled flag stay as they are
            existing.stop()
        proxy = self._new_proxy(name, listen, upstream)
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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def stop_quietly(proxy: Proxy) -> None:
    """Stop a proxy, ignoring errors (used on shutdown)."""
    with contextlib.suppress(OSError):
        proxy.stop()
