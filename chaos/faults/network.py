"""``network.*``: one fault per toxic type of the proxy, generated from its definitions, plus ``network.down``.

Every toxic type in :data:`chaos.proxy.kinds.KINDS` becomes the fault ``network.<type>`` (``packet_loss`` keeps
its older name ``network.loss``). Its parameters are the toxic's own fields (:class:`chaos.proxy.toxics.Field`):
same type, default, bounds and doc, with the unit the field's doc states added to the name where the name lacks
it (``latency`` in milliseconds is ``latency_ms``, ``rate`` in KB/s is ``rate_kbps``, ``delay`` in microseconds
is ``delay_us``; a field named only by its unit, ``limit_data``'s ``bytes``, takes the toxic's first word:
``limit_bytes``). Adding a toxic type to the proxy adds its fault; nothing here names a field.

Each fault adds one toxic, named ``chaos-<fault>-<seeded hex>``, to the proxy ``proxy`` (default:
``ctx.target["proxy_name"]``, which ``chaos.inject(..., proxy="hub")`` sets) through ``ctx.proxy``, a
:class:`chaos.proxy_backend.ProxyBackend` (``embedded`` or ``toxiproxy-rest``), and removes it on exit.

``triggered`` is the proxy's own count of the toxic's firings (``ProxyHandle.triggered`` in process, ``GET
/proxies/{name}/fired`` over REST), read just before the toxic is removed: the fault triggered when its toxic
acted on a connection at least once (docs/builtin-faults.md lists each toxic's rule). A real Toxiproxy keeps no
such counter: the fault then counts as triggered because it was armed, and the trial's notes say so
(``network.trigger_unknown``). ``network.down`` is triggered when it cut a live connection or the target
reported a failure while the proxy was down (a refused connect leaves no trace a proxy could count).

Types beyond Toxiproxy 2.12 (``corrupt``, ``slow_open``, ``packet_loss``) and ``reset_peer.after_bytes`` need
our proxy (embedded, or ``resilience proxy serve`` over REST): a server that rejects the type or drops an
attribute set away from its default makes the fault raise UnsupportedFault.

>>> NetworkFault.for_name("network.latency")(latency_ms=200).toxic_spec("t").attributes
{'latency': 200, 'jitter': 0}
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar, cast

from chaos.errors import FaultArmError, FaultParamError, UnsupportedFault
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl
from chaos.proxy.kinds import KINDS
from chaos.proxy.toxics import Field, ToxicKind
from chaos.proxy_backend import Number, ProxyBackend, ProxyBackendError, ToxicSpec

__all__ = [
    "COMMON_PARAMS",
    "NETWORK_FAULTS",
    "PROXY_PARAM",
    "NetworkDown",
    "NetworkFault",
    "chaos_add_faults",
    "fault_param_name",
    "toxic_fault",
    "unit_of_field",
]

# Fault names that predate their generation from the toxic types; every other type is network.<type_name>.
_SHORT_NAMES: Mapping[str, str] = {"packet_loss": "loss"}
# How a toxic field's doc states its unit (Toxiproxy's own wording), and the unit suffix (chaos.params.UNITS).
_UNIT_WORDS = re.compile(r"\b(milliseconds|microseconds|seconds|KB/s|bytes)(?![\w/])")
_SUFFIX = {"milliseconds": "ms", "microseconds": "us", "seconds": "s", "KB/s": "kbps", "bytes": "bytes"}

PROXY_PARAM = Param("proxy", str, "", "proxy name; empty: the proxy the scenario named (ctx.target['proxy_name'])")
COMMON_PARAMS = (
    PROXY_PARAM,
    Param("stream", str, "downstream", "downstream (server -> client) or upstream", choices=("downstream", "upstream")),
    Param("toxicity", float, 1.0, "chance the toxic applies to a connection", minimum=0.0, maximum=1.0),
)


def unit_of_field(field: Field) -> str:
    """The unit suffix a toxic field's doc states first (``"time in milliseconds"`` -> ``"ms"``), or ``""``."""
    found = _UNIT_WORDS.search(field.doc)
    return _SUFFIX[found.group(1)] if found else ""


def fault_param_name(kind: ToxicKind, field: Field) -> str:
    """The fault parameter for toxic attribute ``field``: the name with its unit suffix (``latency_ms``)."""
    unit = unit_of_field(field)
    if not unit or field.name.endswith(f"_{unit}"):
        return field.name
    if field.name == unit:  # a bare unit is no name (STYLE 14): take the toxic's verb, limit_data -> limit_bytes
        return f"{kind.type_name.split('_', 1)[0]}_{unit}"
    return f"{field.name}_{unit}"


class _ProxyFault(Fault):
    """Shared plumbing: which backend, which proxy (checked to exist), recorded back into ``values``."""

    needs_proxy = True

    @classmethod
    def backends(cls) -> dict[str, str | None]:
        """Both backends work wherever the trial has a proxy (the chaos_proxy fixture or --toxiproxy-url)."""
        return {"embedded": None, "toxiproxy-rest": None}

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._via: ProxyBackend | None = None
        self._proxy = ""

    def _connect(self, ctx: FaultContext) -> tuple[ProxyBackend, str]:
        backend = ctx.proxy
        if backend is None:
            message = (
                f"{self.name}: this trial has no proxy; fix: use the chaos_proxy fixture, pass --toxiproxy-url, "
                "or give FaultContext a proxy"
            )
            raise FaultArmError(message, fault=self.name)
        proxy = str(self.values["proxy"] or ctx.target.get("proxy_name") or "")
        if not proxy:
            message = (
                f"{self.name}.proxy='' and the scenario named no proxy; fix: chaos.inject({self.name!r}, proxy='hub')"
            )
            raise FaultParamError(message, fault=self.name, field="proxy", value="")
        try:
            known = backend.proxy_names()
        except ProxyBackendError as error:
            message = f"{self.name}: cannot list the proxies of {backend.location}: {error}"
            raise FaultArmError(message, fault=self.name) from error
        if proxy not in known:
            listed = ", ".join(repr(name) for name in known) or "none"
            message = (
                f"{self.name}: proxy {proxy!r} does not exist on {backend.location}; known proxies: {listed}; "
                f"fix: create it first (chaos_proxy.create_proxy({proxy!r}, upstream=...)) or name a known one"
            )
            raise FaultArmError(message, fault=self.name)
        self.values["proxy"] = proxy
        self._via, self._proxy, self.backend = backend, proxy, backend.name
        return backend, proxy


class NetworkFault(_ProxyFault):
    """Base of the toxic faults, one subclass per toxic type (see :func:`toxic_fault`)."""

    kind: ClassVar[ToxicKind]
    attribute_of: ClassVar[Mapping[str, str]] = {}  # fault parameter -> toxic attribute, derived from the fields

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.toxic_name = ""
        self.fired: int | None = None
        self._added = False

    @property
    def toxic_type(self) -> str:
        """The proxy's toxic type (``"latency"``)."""
        return self.kind.type_name

    @staticmethod
    def for_name(name: str) -> type[NetworkFault]:
        """The toxic fault class called ``name`` (``"network.latency"``)."""
        for fault in NETWORK_FAULTS:
            if fault.name == name and issubclass(fault, NetworkFault):
                return fault
        raise FaultParamError(f"{name!r} is not a network toxic fault", fault=name)

    def toxic_spec(self, toxic_name: str) -> ToxicSpec:
        """The toxic this fault adds: Toxiproxy's fields, attributes named as the proxy names them."""
        attributes: dict[str, Number] = {attr: self.values[param] for param, attr in self.attribute_of.items()}
        return ToxicSpec(toxic_name, self.toxic_type, self.values["stream"], self.values["toxicity"], attributes)

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Add the toxic for the block; leaving it reads the fire count, then removes the toxic."""
        backend, proxy = self._connect(ctx)
        self.toxic_name = f"chaos-{self.name.split('.', 1)[1]}-{ctx.rng.randbytes(4).hex()}"
        spec = self.toxic_spec(self.toxic_name)
        try:
            stored = backend.add_toxic(proxy, spec)
        except ProxyBackendError as error:
            if error.status == 400 and "toxic type" in str(error):
                raise UnsupportedFault(f"{self.name}: {backend.location} has no toxic {self.toxic_type!r}") from error
            message = f"{self.name}: {backend.location} refused toxic {self.toxic_type!r} on proxy {proxy!r}: {error}"
            raise FaultArmError(message, fault=self.name) from error
        self._added = True
        defaults = self.kind.defaults()
        ignored = sorted(a for a, v in spec.attributes.items() if a not in stored and v != defaults.get(a))
        if ignored:
            self._revert(backend, proxy)
            message = f"{self.name}: {backend.location} ignores attribute(s) {ignored}; use the embedded proxy"
            raise UnsupportedFault(message)
        ctx.note("network.armed", fault=self.name, proxy=proxy, toxic=spec.to_json(), backend=backend.name)
        try:
            yield
        finally:
            self._settle(ctx, backend, proxy)
            self._revert(backend, proxy)
            ctx.note("network.reverted", fault=self.name, toxic=self.toxic_name, fired=self.fired)

    def fired_now(self) -> bool:
        """Whether the toxic has fired so far: the proxy's fire count, read live (``triggered`` once reverted)."""
        if self._via is None or not self._added or self.triggered:
            return self.triggered
        try:
            count = self._via.fired(self._proxy, self.toxic_name)
        except ProxyBackendError:
            return False
        return count is None or count > 0

    def _settle(self, ctx: FaultContext, backend: ProxyBackend, proxy: str) -> None:
        """``triggered`` from the proxy's fire count of our toxic (read while it still exists)."""
        try:
            self.fired = backend.fired(proxy, self.toxic_name)
        except ProxyBackendError as error:
            self.fired, self.triggered = None, False
            ctx.note("network.trigger_lost", fault=self.name, toxic=self.toxic_name, reason=str(error))
            return
        if self.fired is None:
            self.triggered = True
            reason = (
                f"{backend.location} keeps no fire counters (no GET /proxies/{{name}}/fired): counted as triggered "
                "because the toxic was armed; the embedded proxy or `resilience proxy serve` count exactly"
            )
            ctx.note("network.trigger_unknown", fault=self.name, toxic=self.toxic_name, reason=reason)
            return
        self.triggered = self.fired > 0

    def _revert(self, backend: ProxyBackend, proxy: str) -> None:
        with contextlib.suppress(ProxyBackendError):  # already gone (a /reset, a deleted proxy): nothing to undo
            backend.remove_toxic(proxy, self.toxic_name)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: our toxic is still on the proxy."""
        if self._via is None or not self._added:
            return []
        try:
            names = self._via.toxic_names(self._proxy)
        except ProxyBackendError as error:
            if error.status == 404:
                return []  # the proxy itself is gone, and its toxics with it
            return [f"{self.name}: cannot list toxics of proxy {self._proxy!r}: {error}"]
        if self.toxic_name in names:
            return [f"{self.name}: toxic {self.toxic_name!r} is still on proxy {self._proxy!r}"]
        return []


class NetworkDown(_ProxyFault):
    """Disable the proxy: its port closes and every live connection is cut; re-enabled on exit."""

    name = "network.down"
    summary = "Take the proxy down (enabled=false): new connects are refused, live connections closed."
    params = (PROXY_PARAM,)

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._disabled = False

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Disable the proxy for the block and enable it again on exit (same port)."""
        backend, proxy = self._connect(ctx)
        live = backend.connections(proxy)
        failures_before = ctx.failures_seen()
        try:
            backend.set_enabled(proxy, False)
        except ProxyBackendError as error:
            message = f"{self.name}: {backend.location} refused to disable proxy {proxy!r}: {error}"
            raise FaultArmError(message, fault=self.name) from error
        self._disabled = True
        ctx.note("network.down", proxy=proxy, connections_cut=live, backend=backend.name)
        try:
            yield
        finally:
            with contextlib.suppress(ProxyBackendError):  # verify_reverted reports a proxy left down
                backend.set_enabled(proxy, True)
            reported = ctx.failures_seen() - failures_before
            self.triggered = bool(live) or reported > 0
            ctx.note("network.up", proxy=proxy, connections_cut=live, failures_while_down=reported)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: the proxy is still disabled."""
        if self._via is None or not self._disabled:
            return []
        try:
            enabled = self._via.enabled(self._proxy)
        except ProxyBackendError as error:
            return [f"network.down: cannot read proxy {self._proxy!r}: {error}"]
        return [] if enabled else [f"network.down: proxy {self._proxy!r} is still disabled"]


def _summary(kind: ToxicKind, attribute_of: Mapping[str, str]) -> str:
    text = kind.summary[:1].upper() + kind.summary[1:]
    for param, attribute in attribute_of.items():
        text = text.replace(f"`{attribute}`", f"`{param}`")
    text = text.rstrip(".") + "."
    if kind.beyond:
        text += " Beyond Toxiproxy 2.12: needs the embedded proxy or `resilience proxy serve`."
    return text


def toxic_fault(kind: ToxicKind) -> type[NetworkFault]:
    """The fault class for toxic type ``kind``: parameters from its fields (see the module doc)."""
    specific = tuple(
        Param(
            fault_param_name(kind, field),
            field.kind,
            field.default,
            field.doc,
            minimum=field.minimum,
            maximum=field.maximum,
            unit=unit_of_field(field),
        )
        for field in kind.fields
    )
    attribute_of = {param.name: field.name for param, field in zip(specific, kind.fields, strict=True)}
    short = _SHORT_NAMES.get(kind.type_name, kind.type_name)
    class_name = "Network" + "".join(part.title() for part in short.split("_"))
    summary = _summary(kind, attribute_of)
    namespace = {
        "name": f"network.{short}",
        "summary": summary,
        "kind": kind,
        "attribute_of": attribute_of,
        "params": (*COMMON_PARAMS, *specific),
        "__doc__": summary,
        "__module__": __name__,
        "__qualname__": class_name,
    }
    return cast("type[NetworkFault]", type(class_name, (NetworkFault,), namespace))


NETWORK_FAULTS: tuple[type[Fault], ...] = (NetworkDown, *(toxic_fault(kind) for kind in KINDS.values()))
"""``network.down`` and one fault per toxic type of the proxy, in the proxy's order."""


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register every ``network.*`` fault."""
    for fault in NETWORK_FAULTS:
        registry.register(fault)
