"""network.*: real toxics on the embedded proxy (in-process and over its REST API): RSTs, FINs, refusals, and
the errors that say which proxy could not be armed."""

from __future__ import annotations

import pathlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.errors import FaultArmError, FaultParamError, UnsupportedFault
from chaos.fault import Fault, FaultContext
from chaos.faults.network import NETWORK_FAULTS, NetworkDown, NetworkFault
from chaos.proxy import EmbeddedToxiproxy
from chaos.proxy_backend import ProxyBackend, RestProxyBackend

pytestmark = pytest.mark.integration

PAYLOAD_BYTES = 200_000
PAYLOAD = (bytes(range(256)) * (PAYLOAD_BYTES // 256 + 1))[:PAYLOAD_BYTES]


class BlobServer:
    """Loopback upstream: reads one request chunk, answers with PAYLOAD_BYTES bytes, closes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _serve(client: socket.socket) -> None:
        with client:
            try:
                client.recv(1024)
                client.sendall(PAYLOAD)
            except OSError:
                pass


@pytest.fixture(scope="module")
def blob() -> Iterator[BlobServer]:
    server = BlobServer()
    yield server
    server.sock.close()


@pytest.fixture
def toxiproxy(blob: BlobServer) -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=3) as server:
        server.create_proxy("hub", upstream=blob.address)
        yield server


def _fetch(server: EmbeddedToxiproxy, timeout_s: float = 5.0) -> tuple[bytes, str]:
    """One request through the proxy: the bytes received and how the stream ended."""
    port = server.proxy("hub").port
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(b"GET /blob\n")
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except OSError as error:
            return bytes(received), type(error).__name__
    return bytes(received), "eof"


def _ctx(tmp_path: pathlib.Path, server: EmbeddedToxiproxy, *, rest: bool = False) -> FaultContext:
    return FaultContext.for_seed(
        4,
        tmp_path,
        proxy=None if rest else server,
        toxiproxy_url=server.url if rest else None,
        target={"proxy_name": "hub"},
    )


@pytest.mark.parametrize("rest", [False, True], ids=["embedded", "rest"])
def test_reset_peer_after_bytes_is_a_real_rst(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy, rest: bool) -> None:
    """Exactly after_bytes reach the client, then ECONNRESET; the toxic is gone afterwards and downloads work."""
    fault = NetworkFault.for_name("network.reset_peer")(after_bytes=65536)
    ctx = _ctx(tmp_path, toxiproxy, rest=rest)
    with fault.inject(ctx):
        data, ending = _fetch(toxiproxy)
    assert (len(data), ending) == (65536, "ConnectionResetError")
    assert fault.backend == ("toxiproxy-rest" if rest else "embedded")
    assert fault.triggered
    assert fault.verify_reverted(ctx) == []
    assert toxiproxy.proxy("hub").toxics() == []
    assert len(_fetch(toxiproxy)[0]) == PAYLOAD_BYTES


def test_limit_data_closes_with_fin(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """limit_data forwards limit_bytes and then closes cleanly (EOF, not RST)."""
    fault = NetworkFault.for_name("network.limit_data")(limit_bytes=1000)
    with fault.inject(_ctx(tmp_path, toxiproxy)):
        assert _fetch(toxiproxy) == (PAYLOAD[:1000], "eof")
    assert fault.triggered


def test_corrupt_changes_bytes_in_flight(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """network.corrupt at an offset flips a bit of exactly that byte of the stream."""
    fault = NetworkFault.for_name("network.corrupt")(offset=1000)
    with fault.inject(_ctx(tmp_path, toxiproxy)):
        data, _ending = _fetch(toxiproxy)
    assert len(data) == PAYLOAD_BYTES
    assert [i for i in range(PAYLOAD_BYTES) if data[i] != PAYLOAD[i]] == [1000]


def test_down_refuses_connections_and_comes_back(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """network.down closes the port (ECONNREFUSED) for the block and re-enables the same port after it."""
    port = toxiproxy.proxy("hub").port
    fault = NetworkDown()
    refusals: list[OSError] = []  # what a target's runtime hook reports (chaos.runtime_hook in a scenario)
    ctx = FaultContext.for_seed(
        4, tmp_path, proxy=toxiproxy, target={"proxy_name": "hub"}, failures_seen=refusals.__len__
    )
    with fault.inject(ctx):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2)
        except ConnectionRefusedError as error:
            refusals.append(error)
    assert len(refusals) == 1
    assert fault.triggered
    assert fault.verify_reverted(ctx) == []
    assert toxiproxy.proxy("hub").port == port
    assert len(_fetch(toxiproxy)[0]) == PAYLOAD_BYTES


def _toxic_faults() -> list[type[Fault]]:
    return [fault for fault in NETWORK_FAULTS if issubclass(fault, NetworkFault)]


@pytest.mark.parametrize("fault_cls", _toxic_faults(), ids=lambda cls: cls.name)
def test_every_toxic_arms_and_reverts(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy, fault_cls: Any) -> None:
    """Each toxic is on the proxy inside the block, gone after it, and an idle proxy means not triggered."""
    fault = fault_cls()
    ctx = _ctx(tmp_path, toxiproxy)
    with fault.inject(ctx):
        (toxic,) = toxiproxy.proxy("hub").toxics()
        assert toxic["name"] == fault.toxic_name
        assert toxic["type"] == fault.toxic_type
    assert not fault.triggered  # nothing went through the proxy while it was armed
    assert toxiproxy.proxy("hub").toxics() == []
    assert fault.verify_reverted(ctx) == []


def test_a_leaky_toxic_is_residue(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """A variant that forgets to remove its toxic is caught by verify_reverted."""
    latency = NetworkFault.for_name("network.latency")

    class LeakyLatency(latency):  # type: ignore[valid-type, misc]  # built at run time by _toxic()
        def _revert(self, backend: ProxyBackend, proxy: str) -> None:
            return None

    fault = LeakyLatency(latency_ms=1)
    ctx = _ctx(tmp_path, toxiproxy)
    with fault.inject(ctx):
        pass
    assert fault.verify_reverted(ctx) == [f"network.latency: toxic {fault.toxic_name!r} is still on proxy 'hub'"]
    toxiproxy.proxy("hub").remove_toxic(fault.toxic_name)
    assert fault.verify_reverted(ctx) == []


def test_a_proxy_left_down_is_residue(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """verify_reverted of network.down reports a proxy that is still disabled."""
    fault = NetworkDown()
    ctx = _ctx(tmp_path, toxiproxy)
    with fault.inject(ctx):
        pass
    toxiproxy.proxy("hub").enabled = False
    assert fault.verify_reverted(ctx) == ["network.down: proxy 'hub' is still disabled"]
    toxiproxy.proxy("hub").enabled = True


def test_no_proxy_and_no_proxy_name_are_clear_errors(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """Without a proxy the fault cannot be armed; without a proxy name the error says how to name one."""
    fault = NetworkFault.for_name("network.timeout")()
    with (
        pytest.raises(FaultArmError, match="this trial has no proxy"),
        fault.inject(FaultContext.for_seed(1, tmp_path)),
    ):
        pass
    with (
        pytest.raises(FaultParamError, match=r"fix: chaos\.inject\('network\.timeout', proxy='hub'\)"),
        fault.inject(FaultContext.for_seed(1, tmp_path, proxy=toxiproxy)),
    ):
        pass


@pytest.mark.parametrize("rest", [False, True], ids=["embedded", "rest"])
@pytest.mark.parametrize("name", ["network.latency", "network.down"])
def test_an_unknown_proxy_is_one_arm_error_naming_it(
    tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy, rest: bool, name: str
) -> None:
    """proxy='svc' that does not exist: one line naming the fault, the proxy and the known ones; no residue."""
    toxiproxy.create_proxy("index", upstream="127.0.0.1:9")
    fault = next(cls for cls in NETWORK_FAULTS if cls.name == name)(proxy="svc")
    ctx = _ctx(tmp_path, toxiproxy, rest=rest)
    with pytest.raises(FaultArmError) as caught, fault.inject(ctx):
        pass
    where = f"the proxy server at {toxiproxy.url}" if rest else "the embedded proxy"
    assert str(caught.value) == (
        f"{name}: proxy 'svc' does not exist on {where}; known proxies: 'hub', 'index'; "
        "fix: create it first (chaos_proxy.create_proxy('svc', upstream=...)) or name a known one"
    )
    assert caught.value.fault == name
    assert fault.verify_reverted(ctx) == []


def test_a_server_that_does_not_answer_is_an_arm_error(tmp_path: pathlib.Path) -> None:
    """A REST backend with nobody listening: FaultArmError naming the server, not a raw URLError."""
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    fault = NetworkFault.for_name("network.latency")(proxy="hub")
    ctx = FaultContext.for_seed(1, tmp_path, toxiproxy_url=f"http://127.0.0.1:{port}")
    with (
        pytest.raises(
            FaultArmError, match=rf"cannot list the proxies of the proxy server at http://127\.0\.0\.1:{port}"
        ),
        fault.inject(ctx),
    ):
        pass
    assert fault.verify_reverted(ctx) == []


@pytest.mark.parametrize("rest", [False, True], ids=["embedded", "rest"])
def test_the_journal_records_the_proxy_used(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy, rest: bool) -> None:
    """A proxy named by the scenario (target) lands in params, with every other parameter actually used."""
    fault = NetworkFault.for_name("network.reset_peer")(after_bytes=1024)
    with fault.inject(_ctx(tmp_path, toxiproxy, rest=rest)):
        pass
    assert fault.describe()["params"] == {
        "proxy": "hub",
        "stream": "downstream",
        "toxicity": 1.0,
        "timeout_ms": 0,
        "after_bytes": 1024,
    }


class _NoFireRoute(RestProxyBackend):
    """Our REST API as a real Toxiproxy 2.12 shows it: no /proxies/{name}/fired route."""

    def fired(self, proxy: str, toxic: str) -> int | None:
        self.url, real = self.url + "/nothing-here", self.url
        try:
            return super().fired(proxy, toxic)
        finally:
            self.url = real


def test_without_fire_counters_armed_counts_and_the_notes_say_so(
    tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy
) -> None:
    """A server without the fired route: fired is None, triggered because armed, and a note tells why."""
    backend = _NoFireRoute(toxiproxy.url)
    ctx = FaultContext.for_seed(1, tmp_path, proxy=backend, target={"proxy_name": "hub"})
    fault = NetworkFault.for_name("network.latency")(latency_ms=1)
    with fault.inject(ctx):
        pass
    assert fault.fired is None
    assert fault.triggered
    (note,) = [event for event in ctx.events if event["event"] == "network.trigger_unknown"]
    assert "keeps no fire counters" in note["reason"]


def test_a_toxic_removed_behind_our_back_is_not_triggered(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """A /reset inside the block loses the fire count: not triggered, noted, and no residue."""
    fault = NetworkFault.for_name("network.latency")(latency_ms=1)
    ctx = _ctx(tmp_path, toxiproxy)
    with fault.inject(ctx):
        toxiproxy.reset()
    assert not fault.triggered
    assert [event["event"] for event in ctx.events] == ["network.armed", "network.trigger_lost", "network.reverted"]
    assert fault.verify_reverted(ctx) == []


def test_a_rejected_toxic_type_is_unsupported(tmp_path: pathlib.Path, toxiproxy: EmbeddedToxiproxy) -> None:
    """A server without the toxic type (Toxiproxy 2.12 and corrupt) makes the fault unsupported, not residue."""

    class Unknown(NetworkFault.for_name("network.corrupt")):  # type: ignore[misc]  # a generated class
        @property
        def toxic_type(self) -> str:
            return "no_such_type"

    fault = Unknown(offset=1)
    ctx = _ctx(tmp_path, toxiproxy, rest=True)
    with pytest.raises(UnsupportedFault, match="has no toxic 'no_such_type'"), fault.inject(ctx):
        pass
    assert fault.verify_reverted(ctx) == []
