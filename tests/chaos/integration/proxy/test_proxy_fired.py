"""Exact firing: each toxic's counter moves only when the toxic acted on the stream, by the rule in docs/proxy.md.

Most cases download 16 KiB (the client sends one byte, the server answers and closes) through one toxic and
read to the end, so the toxic has seen everything before its counter is read. Nothing here measures time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proxy_helpers import Api, SourceServer, connect

from chaos.proxy import EmbeddedToxiproxy

_PAYLOAD = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture(scope="module")
def source() -> Iterator[SourceServer]:
    server = SourceServer(_PAYLOAD, on_request=True)
    yield server
    server.close()


def _download(port: int) -> tuple[bytes, OSError | None]:
    received = bytearray()
    with connect(port, timeout_s=10) as sock:
        sock.sendall(b"?")
        try:
            while part := sock.recv(65536):
                received += part
        except OSError as error:
            return bytes(received), error
    return bytes(received), None


# (type, stream, attributes, fires, what the client sees)
_CASES: list[tuple[str, str, dict[str, Any], bool, str]] = [
    ("latency", "downstream", {"latency": 0}, False, "all"),
    ("latency", "downstream", {"latency": 30}, True, "all"),
    ("bandwidth", "upstream", {"rate": 1}, False, "silent"),  # no byte ever goes up: nothing to pace
    ("bandwidth", "downstream", {"rate": 100}, True, "all"),
    ("slow_close", "downstream", {"delay": 0}, False, "all"),
    ("slow_close", "downstream", {"delay": 30}, True, "all"),
    ("timeout", "upstream", {"timeout": 0}, True, "nothing"),  # the request byte is dropped
    ("reset_peer", "downstream", {"after_bytes": 65536}, False, "all"),  # 16 KiB never reach the limit
    ("reset_peer", "downstream", {"after_bytes": 1000}, True, "reset"),
    ("slicer", "downstream", {"average_size": 1 << 20}, False, "all"),  # no chunk is big enough to cut
    ("slicer", "downstream", {"average_size": 100, "size_variation": 10}, True, "all"),
    ("limit_data", "downstream", {"bytes": 1 << 20}, False, "all"),
    ("limit_data", "downstream", {"bytes": 1000}, True, "prefix"),
    ("noop", "downstream", {}, True, "all"),
    ("corrupt", "downstream", {"offset": 100_000}, False, "all"),  # past the end of the stream
    ("corrupt", "downstream", {"probability": 0.0}, False, "all"),
    ("corrupt", "downstream", {"offset": 10}, True, "flipped"),
    ("slow_open", "downstream", {"delay": 0}, False, "all"),
    ("slow_open", "downstream", {"delay": 30}, True, "all"),
    ("packet_loss", "downstream", {"loss_rate": 0.0}, False, "all"),
    ("packet_loss", "downstream", {"loss_rate": 1.0}, True, "nothing"),
]


@pytest.mark.parametrize(("type_name", "stream", "attributes", "fires", "seen"), _CASES)
def test_fires_exactly_when_it_acts(
    server: EmbeddedToxiproxy,
    source: SourceServer,
    type_name: str,
    stream: str,
    attributes: dict[str, Any],
    fires: bool,
    seen: str,
) -> None:
    """A toxic whose condition is met fires; one whose condition is never met stays at 0."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic(type_name, name="t", stream=stream, attributes=attributes)
    if seen == "silent":
        with connect(proxy.port):
            _wait_for(lambda: proxy.connection_count == 1)
        _wait_for(lambda: proxy.connection_count == 0)
        assert proxy.triggered("t") == 0
        return
    if seen == "nothing" and type_name == "timeout":
        with connect(proxy.port, timeout_s=10) as sock:
            sock.sendall(b"?")
            _wait_for(lambda: proxy.triggered("t") > 0)
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):  # the request never reached the server: it answers nothing
                sock.recv(1)
        return
    data, error = _download(proxy.port)
    expected = {
        "all": (_PAYLOAD, None),
        "prefix": (_PAYLOAD[:1000], None),
        "nothing": (b"", None),
    }
    if seen == "reset":
        assert data == _PAYLOAD[:1000]
        assert isinstance(error, ConnectionResetError)
    elif seen == "flipped":
        assert error is None
        assert [i for i in range(len(_PAYLOAD)) if data[i] != _PAYLOAD[i]] == [10]
    else:
        assert (data, error) == expected[seen]
    assert (proxy.triggered("t") > 0) is fires
    assert proxy.fired() == {"t": proxy.triggered("t")}


def test_timeout_without_data_never_fires(server: EmbeddedToxiproxy, source: SourceServer) -> None:
    """A timeout toxic with no data and no deadline (timeout 0) holds nothing: it has not fired."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic("timeout", name="t", stream="upstream", attributes={"timeout": 0})
    with connect(proxy.port):
        _wait_for(lambda: proxy.connection_count == 1)
    _wait_for(lambda: proxy.connection_count == 0)
    assert proxy.triggered("t") == 0


def test_timeout_idle_close_fires(server: EmbeddedToxiproxy, source: SourceServer) -> None:
    """A timeout toxic that closes an idle connection fires, though no data passed it."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic("timeout", name="t", stream="upstream", attributes={"timeout": 20})
    with connect(proxy.port, timeout_s=10) as sock:
        assert sock.recv(1) == b""  # the toxic closed the connection
    assert proxy.triggered("t") == 1


def test_toxicity_zero_never_fires(server: EmbeddedToxiproxy, source: SourceServer) -> None:
    """A toxic whose toxicity roll spares the connection does not fire, whatever its attributes."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic("reset_peer", name="t", attributes={"after_bytes": 1}, toxicity=0.0)
    assert _download(proxy.port) == (_PAYLOAD, None)
    assert proxy.triggered("t") == 0


def test_fired_over_rest_matches_in_process(server: EmbeddedToxiproxy, source: SourceServer, api: Api) -> None:
    """GET /proxies/{name}/fired gives the same map as ProxyHandle.fired(), upstream toxics first."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic("latency", name="slow", attributes={"latency": 10})
    proxy.add_toxic("noop", name="seen", stream="upstream")
    _download(proxy.port)
    reply = api("GET", "/proxies/p/fired")
    assert reply.status == 200
    assert reply.json() == {"proxy": "p", "toxics": proxy.fired()}
    assert list(proxy.fired()) == ["seen", "slow"]
    assert proxy.fired()["seen"] == 1  # one request chunk went up
    assert proxy.fired()["slow"] >= 1
    assert api("GET", "/proxies/nope/fired").status == 404


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds (fails the test after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_reset_counted_once_per_connection(server: EmbeddedToxiproxy, source: SourceServer) -> None:
    """reset_peer after_bytes fires once per connection it resets, not once per chunk."""
    proxy = server.create_proxy("p", upstream=source.address)
    proxy.add_toxic("reset_peer", name="t", attributes={"after_bytes": 5000})
    for _ in range(3):
        data, error = _download(proxy.port)
        assert data == _PAYLOAD[:5000]
        assert isinstance(error, ConnectionResetError)
    assert proxy.triggered("t") == 3
