"""Every toxic attribute has a documented range: outside it a 400 names the field; at its edge data is held, not cut."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from proxy_helpers import Api, EchoServer, connect, recv_all, recv_exactly

from chaos.proxy import EmbeddedToxiproxy, ProxyHandle
from chaos.proxy.kinds import KINDS
from chaos.proxy.toxics import MS_MAX, US_MAX

_FIELDS = [(kind.type_name, field) for kind in KINDS.values() for field in kind.fields]


@pytest.mark.parametrize(("type_name", "field"), _FIELDS, ids=[f"{t}.{f.name}" for t, f in _FIELDS])
def test_each_attribute_is_bounded(
    server: EmbeddedToxiproxy, api: Api, echo: EchoServer, type_name: str, field: Any
) -> None:
    """Each attribute accepts its maximum, and a value past it (or near int64) is a 400 naming the field."""
    assert field.maximum is not None, f"{type_name}.{field.name} has no upper bound"
    api("POST", "/proxies", {"name": "p", "upstream": echo.address})
    too_big = field.maximum + 1 if field.kind is int else field.maximum * 2 + 1
    for value in (too_big, 2**63 - 1 if field.kind is int else 3.0e38):
        reply = api("POST", "/proxies/p/toxics", {"type": type_name, "attributes": {field.name: value}})
        assert reply.status == 400, reply.body
        assert f"attribute {field.name}=" in reply.json()["error"]
    reply = api(
        "POST", "/proxies/p/toxics", {"name": "edge", "type": type_name, "attributes": {field.name: field.maximum}}
    )
    assert reply.status == 200, reply.body
    assert reply.json()["attributes"][field.name] == field.maximum


def _held_then_released(proxy: ProxyHandle, toxic: str) -> None:
    """Bytes sent now are held by the toxic (it fired, the connection stays open) until it is removed."""
    with connect(proxy.port, timeout_s=10) as sock:
        sock.sendall(b"held")
        _wait_for(lambda: proxy.triggered(toxic) > 0)
        assert proxy.triggered(toxic) == 1
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):  # not delivered, and not closed by an overflow: held
            sock.recv(4)
        sock.settimeout(10)
        proxy.remove_toxic(toxic)
        assert recv_exactly(sock, 4) == b"held"


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("latency", {"latency": MS_MAX}),
        ("latency", {"latency": MS_MAX, "jitter": MS_MAX}),
        ("slow_open", {"delay": MS_MAX}),
        ("bandwidth", {"rate": 0}),
    ],
)
def test_longest_delays_hold_the_data(
    server: EmbeddedToxiproxy, echo: EchoServer, type_name: str, attributes: dict[str, int]
) -> None:
    """At the top of their range, time toxics hold data with the connection open; removal releases it."""
    proxy = server.create_proxy("p", upstream=echo.address)
    proxy.add_toxic(type_name, name="t", attributes=attributes)
    _held_then_released(proxy, "t")


def test_slicer_longest_delay_holds_the_rest(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """slicer with the longest delay sends the first piece, holds the rest; removal sends the rest at once."""
    proxy = server.create_proxy("p", upstream=echo.address)
    proxy.add_toxic("slicer", name="t", attributes={"average_size": 2, "delay": US_MAX})
    with connect(proxy.port, timeout_s=10) as sock:
        sock.sendall(b"abcdefgh")
        assert recv_exactly(sock, 2) == b"ab"
        proxy.remove_toxic("t")
        assert recv_exactly(sock, 6) == b"cdefgh"


def test_slow_close_longest_delay_holds_the_close(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """slow_close with the longest delay: data passes, the close waits; removal lets the close through."""
    proxy = server.create_proxy("p", upstream=echo.address)
    proxy.add_toxic("slow_close", name="t", stream="upstream", attributes={"delay": MS_MAX})
    with connect(proxy.port, timeout_s=10) as sock:
        sock.sendall(b"bye")
        assert recv_exactly(sock, 3) == b"bye"
        sock.shutdown(1)  # our end of stream now waits in the toxic
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(10)
        proxy.remove_toxic("t")
        assert recv_all(sock) == b""


def test_timeout_and_reset_at_their_longest_keep_the_connection(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """timeout and reset_peer at their longest waits hold the connection open (no overflow closes it)."""
    proxy = server.create_proxy("p", upstream=echo.address)
    proxy.add_toxic("timeout", name="drop", stream="upstream", attributes={"timeout": MS_MAX})
    proxy.add_toxic("reset_peer", name="rst", stream="downstream", attributes={"timeout": MS_MAX})
    with connect(proxy.port, timeout_s=10) as sock:
        sock.sendall(b"x")
        _wait_for(lambda: proxy.triggered("drop") == 1)
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    proxy.remove_toxic("drop")
    with connect(proxy.port, timeout_s=10) as sock:
        sock.sendall(b"y")  # echoed, then held by reset_peer's day-long wait: the connection stays up
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    assert proxy.triggered("rst") == 0


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)
