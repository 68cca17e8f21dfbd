"""``network.*``: Toxiproxy toxics (and ``down``) on the proxy between the target and its server.

Each fault adds one toxic, named ``chaos-<fault>-<seeded hex>``, to the proxy ``proxy`` (default:
``ctx.target["proxy_name"]``, which ``chaos.inject(..., proxy="hub")`` sets) and removes it on exit. Backends:

``embedded``: ``ctx.proxy`` is the in-process :class:`chaos.proxy.EmbeddedToxiproxy`; its byte counters tell
whether traffic crossed the toxic while it was armed.
``toxiproxy-rest``: ``ctx.toxiproxy_url`` (``--toxiproxy-url``) names a real Toxiproxy (or ours over HTTP);
the same JSON goes over its REST API with urllib. When its ``/metrics`` route is on (``-proxy-metrics``) the
byte totals come from there; they only move when a connection closes.

``triggered``: traffic (bytes in either direction) went through the proxy while armed, or a connection was
open through it while armed. Without any counter (a real Toxiproxy without metrics) armed means triggered.
``network.down`` is triggered by disabling the proxy: a refused connect leaves no trace a proxy can count. With
``toxicity < 1`` a connection may roll "no toxic" and still count: triggered then means "exposed to the toxic".

Attributes beyond Toxiproxy 2.12 (``reset_peer.after_bytes``, ``corrupt``, ``slow_open``, ``loss``) need the
embedded proxy: a server that drops an attribute or rejects the type makes the fault raise UnsupportedFault.

>>> NetworkFault.for_name("network.latency")(latency_ms=200).toxic_body("t")["attributes"]
{'latency': 200, 'jitter': 0}
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol

from chaos.errors import FaultParamError, ProxyError, UnsupportedFault
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl

__all__ = ["NETWORK_FAULTS", "NetworkDown", "NetworkFault", "chaos_add_faults"]

_POLL_S = 0.01  # how often the embedded backend looks for open connections while armed
_HTTP_TIMEOUT_S = 10.0


class _Backend(Protocol):
    name: str

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def remove_toxic(self, proxy: str, toxic: str) -> None: ...
    def toxic_names(self, proxy: str) -> list[str]: ...
    def set_enabled(self, proxy: str, enabled: bool) -> None: ...
    def enabled(self, proxy: str) -> bool: ...
    def traffic(self, proxy: str) -> int | None: ...
    def connections(self, proxy: str) -> int | None: ...


class _Embedded:
    name = "embedded"

    def __init__(self, server: Any) -> None:
        self.server = server

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        handle = self.server.proxy(proxy)
        return dict(
            handle.add_toxic(
                body["type"],
                stream=body["stream"],
                toxicity=body["toxicity"],
                attributes=body["attributes"],
                name=body["name"],
            )
        )

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self.server.proxy(proxy).remove_toxic(toxic)

    def toxic_names(self, proxy: str) -> list[str]:
        return [str(toxic["name"]) for toxic in self.server.proxy(proxy).toxics()]

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self.server.proxy(proxy).enabled = enabled

    def enabled(self, proxy: str) -> bool:
        return bool(self.server.proxy(proxy).enabled)

    def traffic(self, proxy: str) -> int | None:
        handle = self.server.proxy(proxy)
        return int(handle.bytes_upstream) + int(handle.bytes_downstream)

    def connections(self, proxy: str) -> int | None:
        return int(self.server.proxy(proxy).connection_count)


class _Rest:
    name = "toxiproxy-rest"

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310  # http(s) URL from --toxiproxy-url
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "resilience-chaos")  # Toxiproxy refuses Mozilla/* agents with 403
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:  # noqa: S310  # as above
                payload = response.read()
                if "json" not in response.headers.get("Content-Type", ""):
                    return payload.decode("utf-8", "replace")
                return json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace").strip()
            raise ProxyError(f"{method} {self.url}{path} -> {error.code}: {detail}") from error
        except OSError as error:
            raise ProxyError(f"{method} {self.url}{path} failed: {error}; is Toxiproxy running there?") from error

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def toxic_names(self, proxy: str) -> list[str]:
        return [str(toxic["name"]) for toxic in self._call("GET", f"/proxies/{proxy}/toxics")]

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def enabled(self, proxy: str) -> bool:
        return bool(self._call("GET", f"/proxies/{proxy}")["enabled"])

    def traffic(self, proxy: str) -> int | None:
        try:
            text = self._call("GET", "/metrics")
        except ProxyError:
            return None  # metrics are off (Toxiproxy without -proxy-metrics)
        total = 0
        for line in str(text).splitlines():
            if line.startswith("toxiproxy_proxy_") and f'proxy="{proxy}"' in line:
                with contextlib.suppress(ValueError, IndexError):
                    total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def connections(self, proxy: str) -> int | None:
        return None


def _backend(ctx: FaultContext, fault: str) -> _Backend:
    if ctx.toxiproxy_url:
        return _Rest(ctx.toxiproxy_url)
    if ctx.proxy is not None:
        return _Embedded(ctx.proxy)
    raise UnsupportedFault(f"{fault}: no proxy in this trial; use the chaos_proxy fixture or --toxiproxy-url")


class _ArmedProxyFault(Fault):
    """Shared plumbing: which proxy, which backend, traffic counters around the armed window."""

    @classmethod
    def backends(cls) -> dict[str, str | None]:
        """Both backends work wherever the trial has a proxy (the chaos_proxy fixture or --toxiproxy-url)."""
        return {"embedded": None, "toxiproxy-rest": None}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._backend: _Backend | None = None
        self._proxy = ""
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._saw_connection = False

    def _proxy_name(self, ctx: FaultContext) -> str:
        proxy = self.values["proxy"] or ctx.target.get("proxy_name") or ""
        if not proxy:
            message = (
                f"{self.name}.proxy='' and the scenario named no proxy; fix: chaos.inject({self.name!r}, proxy='hub')"
            )
            raise FaultParamError(message, fault=self.name, field="proxy", value="")
        return str(proxy)

    def _watch_connections(self, backend: _Backend, proxy: str) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the proxy may be deleted under us; the verdict comes at exit
                if (backend.connections(proxy) or 0) > 0:
                    self._saw_connection = True
                    return
            self._stop.wait(_POLL_S)

    def _start_watch(self, backend: _Backend, proxy: str) -> None:
        if backend.connections(proxy) is None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch_connections, args=(backend, proxy), daemon=True)
        self._watcher.start()

    def _stop_watch(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5.0)


class NetworkFault(_ArmedProxyFault):
    """Base of the toxic faults: subclasses set ``name``, ``toxic_type`` and ``attributes`` (param -> attribute)."""

    toxic_type: ClassVar[str] = ""
    attributes: ClassVar[dict[str, str]] = {}
    common: ClassVar[tuple[Param, ...]] = (
        Param("proxy", str, "", "proxy name; empty: the proxy the scenario named (ctx.target['proxy_name'])"),
        Param(
            "stream", str, "downstream", "downstream (server -> client) or upstream", choices=("downstream", "upstream")
        ),
        Param("toxicity", float, 1.0, "chance the toxic applies to a connection", minimum=0.0, maximum=1.0),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.toxic_name = ""

    @staticmethod
    def for_name(name: str) -> type[NetworkFault]:
        """The toxic fault class called ``name`` (``"network.latency"``)."""
        for fault in NETWORK_FAULTS:
            if fault.name == name and issubclass(fault, NetworkFault):
                return fault
        raise FaultParamError(f"{name!r} is not a network toxic fault", fault=name)

    def toxic_body(self, toxic_name: str) -> dict[str, Any]:
        """The Toxiproxy JSON for this fault's toxic."""
        return {
            "name": toxic_name,
            "type": self.toxic_type,
            "stream": self.values["stream"],
            "toxicity": self.values["toxicity"],
            "attributes": {attribute: self.values[param] for param, attribute in self.attributes.items()},
        }

    @contextlib.contextmanager
    def _inject(self, ctx: FaultContext) -> Iterator[Fault]:
        backend = _backend(ctx, self.name)
        proxy = self._proxy_name(ctx)
        self._backend, self._proxy, self.backend = backend, proxy, backend.name
        self.toxic_name = f"chaos-{self.name.split('.', 1)[1]}-{ctx.rng.randbytes(4).hex()}"
        body = self.toxic_body(self.toxic_name)
        before = backend.traffic(proxy)
        try:
            created = backend.add_toxic(proxy, body)
        except ProxyError as error:
            raise UnsupportedFault(f"{self.name}: the proxy refused toxic {self.toxic_type!r}: {error}") from error
        dropped = sorted(set(body["attributes"]) - set(created.get("attributes") or {}))
        if dropped:
            backend.remove_toxic(proxy, self.toxic_name)
            raise UnsupportedFault(f"{self.name}: this proxy ignores attribute(s) {dropped}; use the embedded proxy")
        ctx.note("network.armed", fault=self.name, proxy=proxy, toxic=body, backend=backend.name)
        self._start_watch(backend, proxy)
        try:
            yield self
        finally:
            self._stop_watch()
            self._revert(backend, proxy)
            after = backend.traffic(proxy)
            moved = None if before is None or after is None else after - before
            self.triggered = self._saw_connection or bool(moved) or (before is None and after is None)
            ctx.note("network.reverted", fault=self.name, toxic=self.toxic_name, bytes_while_armed=moved)

    def _revert(self, backend: _Backend, proxy: str) -> None:
        with contextlib.suppress(ProxyError):  # already gone (a /reset, a deleted proxy): nothing to undo
            backend.remove_toxic(proxy, self.toxic_name)

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        """Add the toxic for the block; leaving it removes the toxic (data it held is released)."""
        return self._inject(ctx)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: our toxic is still on the proxy, or the watcher still runs."""
        residue = []
        if self._watcher is not None and self._watcher.is_alive():
            residue.append(f"{self.name}: the connection watcher is still running")
        if self._backend is not None and self.toxic_name:
            try:
                names = self._backend.toxic_names(self._proxy)
            except ProxyError as error:
                return [*residue, f"{self.name}: cannot list toxics of proxy {self._proxy!r}: {error}"]
            if self.toxic_name in names:
                residue.append(f"{self.name}: toxic {self.toxic_name!r} is still on proxy {self._proxy!r}")
        return residue


class NetworkDown(_ArmedProxyFault):
    """Disable the proxy: its port closes and every live connection is cut; re-enabled on exit."""

    name = "network.down"
    summary = "Take the proxy down (enabled=false): new connects are refused, live connections closed."
    params = (Param("proxy", str, "", "proxy name; empty: the proxy the scenario named (ctx.target['proxy_name'])"),)

    @contextlib.contextmanager
    def _inject(self, ctx: FaultContext) -> Iterator[Fault]:
        backend = _backend(ctx, self.name)
        proxy = self._proxy_name(ctx)
        self._backend, self._proxy, self.backend = backend, proxy, backend.name
        live = backend.connections(proxy)
        backend.set_enabled(proxy, False)
        self.triggered = True  # the outage is real from here on; refused connects cannot be counted
        ctx.note("network.down", proxy=proxy, connections_cut=live, backend=backend.name)
        try:
            yield self
        finally:
            backend.set_enabled(proxy, True)

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        """Disable the proxy for the block and enable it again on exit (same port)."""
        return self._inject(ctx)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: the proxy is still disabled."""
        if self._backend is None:
            return []
        try:
            enabled = self._backend.enabled(self._proxy)
        except ProxyError as error:
            return [f"network.down: cannot read proxy {self._proxy!r}: {error}"]
        return [] if enabled else [f"network.down: proxy {self._proxy!r} is still disabled"]


def _toxic(name: str, toxic_type: str, summary: str, *specific: tuple[Param, str]) -> type[NetworkFault]:
    """Build one toxic fault class: ``specific`` pairs a typed Param with the toxic attribute it fills."""
    namespace = {
        "name": name,
        "summary": summary,
        "toxic_type": toxic_type,
        "attributes": {param.name: attribute for param, attribute in specific},
        "params": (*NetworkFault.common, *(param for param, _attribute in specific)),
        "__doc__": summary,
        "__module__": __name__,
    }
    class_name = "Network" + "".join(part.title() for part in name.split(".", 1)[1].split("_"))
    return type(class_name, (NetworkFault,), namespace)


def _ms(name: str, doc: str, default: int = 0) -> Param:
    return Param(name, int, default, doc, minimum=0)


NETWORK_FAULTS: tuple[type[Fault], ...] = (
    NetworkDown,
    _toxic(
        "network.reset_peer",
        "reset_peer",
        "Reset the connection (RST) after after_bytes bytes, or on the first data after timeout_ms.",
        (_ms("timeout_ms", "wait this long before the reset"), "timeout"),
        (
            Param("after_bytes", int, 0, "forward exactly this many bytes, then RST (embedded proxy)", minimum=0),
            "after_bytes",
        ),
    ),
    _toxic(
        "network.timeout",
        "timeout",
        "Drop all data; close the connection after timeout_ms (0: never, a hang).",
        (
            _ms("timeout_ms", "close this long after the toxic starts (re-armed by each chunk); 0 never closes"),
            "timeout",
        ),
    ),
    _toxic(
        "network.latency",
        "latency",
        "Delay every chunk by latency_ms +/- jitter_ms.",
        (_ms("latency_ms", "delay per chunk", 100), "latency"),
        (_ms("jitter_ms", "uniform variation of the delay"), "jitter"),
    ),
    _toxic(
        "network.bandwidth",
        "bandwidth",
        "Throttle to rate_kbps KB/s per connection and direction (0 holds data forever).",
        (Param("rate_kbps", int, 100, "rate in KB/s (1 KB = 1000 bytes)", minimum=0), "rate"),
    ),
    _toxic(
        "network.slicer",
        "slicer",
        "Slice data into small pieces with a delay between them.",
        (Param("average_size_bytes", int, 64, "average piece size", minimum=1), "average_size"),
        (Param("size_variation_bytes", int, 32, "piece size variation", minimum=0), "size_variation"),
        (Param("delay_us", int, 10, "pause after each piece, microseconds", minimum=0), "delay"),
    ),
    _toxic(
        "network.limit_data",
        "limit_data",
        "Close the connection (FIN) after limit_bytes bytes.",
        (Param("limit_bytes", int, 65536, "bytes forwarded before the close", minimum=0), "bytes"),
    ),
    _toxic(
        "network.slow_close",
        "slow_close",
        "Delay the close of the connection by delay_ms.",
        (_ms("delay_ms", "delay before the close", 1000), "delay"),
    ),
    _toxic(
        "network.corrupt",
        "corrupt",
        "Flip bits in the stream: each byte with probability, or the byte at offset (embedded proxy).",
        (
            Param("probability", float, 0.0, "chance that each byte gets one bit flipped", minimum=0.0, maximum=1.0),
            "probability",
        ),
        (Param("offset", int, -1, "flip one bit of the byte at this stream offset; -1: off", minimum=-1), "offset"),
    ),
    _toxic(
        "network.slow_open",
        "slow_open",
        "Hold the first data of each connection for delay_ms (embedded proxy).",
        (_ms("delay_ms", "how long the first data waits", 1000), "delay"),
    ),
    _toxic(
        "network.loss",
        "packet_loss",
        "Drop whole chunks with loss_rate (Gilbert-Elliott with correlation; embedded proxy).",
        (Param("loss_rate", float, 0.1, "chance a chunk is dropped", minimum=0.0, maximum=1.0), "loss_rate"),
        (Param("correlation", float, 0.0, "extra drop chance after a drop", minimum=0.0, maximum=1.0), "correlation"),
    ),
)


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register every ``network.*`` fault."""
    for fault in NETWORK_FAULTS:
        registry.register(fault)
