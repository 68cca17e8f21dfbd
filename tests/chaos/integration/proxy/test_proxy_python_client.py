"""The toxiproxy-python client from PyPI drives the embedded server unchanged."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from proxy_helpers import EchoServer, connect, recv_all, recv_exactly

from chaos.proxy import EmbeddedToxiproxy

toxiproxy = pytest.importorskip("toxiproxy", reason="toxiproxy-python is in the dev extra")
from toxiproxy.api import APIConsumer  # noqa: E402  # only after importorskip
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists  # noqa: E402


@pytest.fixture
def client(server: EmbeddedToxiproxy) -> Iterator[object]:
    saved = (APIConsumer.host, APIConsumer.port)
    client = toxiproxy.Toxiproxy()
    client.update_api_consumer(server.host, server.port)
    yield client
    APIConsumer.host, APIConsumer.port = saved


def test_client_full_cycle(client: object, echo: EchoServer) -> None:
    """create, add/remove toxics, disable/enable, reset and destroy all work through toxiproxy-python."""
    assert client.running()
    assert client.version() == b'{"version": "2.12.0"}\n'
    proxy = client.create(upstream=echo.address, name="py")
    assert proxy.listen.startswith("127.0.0.1:")
    port = int(proxy.listen.rsplit(":", 1)[1])
    with pytest.raises(ProxyExists):
        client.create(upstream=echo.address, name="py")

    proxy.add_toxic(type="latency", attributes={"latency": 200})
    assert set(proxy.toxics()) == {"latency_downstream"}
    assert proxy.get_toxic("latency_downstream").attributes == {"latency": 200, "jitter": 0}
    with connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"hi")
        recv_exactly(sock, 2)
        assert time.perf_counter() - started >= 0.2
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="bogus")

    live = connect(port)
    live.sendall(b"up")
    assert recv_exactly(live, 2) == b"up"  # accepted and proxied, not just queued in the listen backlog
    with proxy.down():
        assert client.get_proxy("py").enabled is False
        assert recv_all(live) == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    live.close()
    assert client.get_proxy("py").enabled is True

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.disable()
    assert client.reset() is True
    restored = client.get_proxy("py")
    assert restored.enabled is True
    assert restored.toxics() == {}

    assert client.destroy(restored) is True
    assert client.proxies() == {}
    with pytest.raises(NotFound):
        restored.destroy_toxic("none")


def test_client_populate(client: object, echo: EchoServer) -> None:
    """The client's (client-side) populate creates proxies and destroy_all removes them."""
    created = client.populate(
        [{"name": "a", "upstream": echo.address, "listen": "127.0.0.1:0"}, {"name": "b", "upstream": echo.address}]
    )
    assert sorted(p.name for p in created) == ["a", "b"]
    client.destroy_all()
    assert client.proxies() == {}
