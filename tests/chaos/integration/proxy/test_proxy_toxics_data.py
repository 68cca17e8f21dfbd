"""Toxiproxy's toxics on the real TCP data path: bytes exact, fire counters, live changes.

No upper bound on time: that a toxic acted is read from its fire counter, and how long it holds data is pinned
on a virtual clock (tests/chaos/unit/proxy). What remains of time here cannot break under load: a lower bound
(a held chunk never comes early) or "nothing arrived yet" while a toxic holds data.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from proxy_helpers import EchoServer, SourceServer, connect, eventually, recv_all, recv_exactly

from chaos.proxy import EmbeddedToxiproxy, ProxyHandle


@pytest.fixture
def proxy(server: EmbeddedToxiproxy, echo: EchoServer) -> ProxyHandle:
    return server.create_proxy("echo", upstream=echo.address)


def _round_trip_s(sock: socket.socket, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - started


def _wait_for(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (fails after 10 s)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_passthrough_counts_bytes_per_direction(proxy: ProxyHandle) -> None:
    """No toxics: bytes pass both ways unchanged and the per-direction counters see them."""
    payload = bytes(range(256)) * 4096
    with connect(proxy.port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    assert proxy.bytes_upstream == len(payload)  # counted before the echo could come back
    eventually(lambda: proxy.bytes_downstream == len(payload))


def test_latency_both_streams(proxy: ProxyHandle) -> None:
    """A downstream latency holds responses only; an upstream one holds requests too, and the delays add up."""
    with connect(proxy.port) as sock:
        _round_trip_s(sock)
        proxy.add_toxic("latency", attributes={"latency": 150})
        assert _round_trip_s(sock) >= 0.15
        assert proxy.fired() == {"latency_downstream": 1}
        proxy.add_toxic("latency", stream="upstream", attributes={"latency": 100})
        assert _round_trip_s(sock) >= 0.25
        assert proxy.fired() == {"latency_upstream": 1, "latency_downstream": 2}


def test_latency_jitter_stays_in_range(proxy: ProxyHandle) -> None:
    """Each delay is latency + U[-jitter, jitter): never below latency - jitter, and every chunk is held."""
    proxy.add_toxic("latency", attributes={"latency": 60, "jitter": 40})
    with connect(proxy.port) as sock:
        samples = [_round_trip_s(sock) for _ in range(8)]
    assert min(samples) >= 0.02
    assert proxy.triggered("latency_downstream") == 8  # each ping was one chunk, each held


def test_live_toxic_reaches_existing_connection_and_removal_releases(proxy: ProxyHandle) -> None:
    """A toxic added to a live connection holds its data; removing the toxic releases it at once."""
    with connect(proxy.port) as sock:
        _round_trip_s(sock)
        proxy.add_toxic("latency", attributes={"latency": 86_400_000})  # a day: only the removal can release it
        sock.sendall(b"held")
        _wait_for(lambda: proxy.triggered("latency_downstream") == 1)
        proxy.remove_toxic("latency_downstream")
        assert recv_exactly(sock, 4) == b"held"
        _round_trip_s(sock)


def test_bandwidth_rate(proxy: ProxyHandle) -> None:
    """A 500 KB/s bandwidth toxic paces 250 KB: it takes at least 0.4 s, bytes intact (accuracy: make bench)."""
    proxy.add_toxic("bandwidth", attributes={"rate": 500})
    payload = bytes(range(250)) * 1000
    with connect(proxy.port, timeout_s=10) as sock:
        started = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.4  # the first 100 ms piece may leave at once
    assert proxy.triggered("bandwidth_downstream") >= 1


def test_bandwidth_zero_holds_until_removed(proxy: ProxyHandle) -> None:
    """rate 0 holds the data with the connection open; removing the toxic releases it."""
    proxy.add_toxic("bandwidth", name="hang", attributes={"rate": 0})
    with connect(proxy.port) as sock:
        sock.sendall(b"wait")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        sock.settimeout(5)
        assert proxy.triggered("hang") == 1
        proxy.remove_toxic("hang")
        assert recv_exactly(sock, 4) == b"wait"


def test_slow_close_delays_the_close(server: EmbeddedToxiproxy) -> None:
    """slow_close: data passes at once, the close reaches the client `delay` ms after the upstream closed."""
    source = SourceServer(b"bye")
    proxy = server.create_proxy("src", upstream=source.address)
    proxy.add_toxic("slow_close", attributes={"delay": 300})
    with connect(proxy.port) as sock:
        assert recv_exactly(sock, 3) == b"bye"
        started = time.perf_counter()
        assert recv_all(sock) == b""
        assert time.perf_counter() - started >= 0.25  # the server closed at once; the toxic held the close
    assert proxy.triggered("slow_close_downstream") == 1
    source.close()


def test_timeout_drops_data_and_closes(proxy: ProxyHandle) -> None:
    """timeout 300: nothing is forwarded and the connection closes ~300 ms after the toxic started."""
    with connect(proxy.port) as sock:
        _round_trip_s(sock)
        started = time.perf_counter()
        proxy.add_toxic("timeout", attributes={"timeout": 300})
        sock.sendall(b"lost")
        assert recv_all(sock) == b""
        # the data re-armed the timer, so the close comes 300 ms after it at the earliest
        assert time.perf_counter() - started >= 0.28
    assert proxy.triggered("timeout_downstream") == 2  # the echoed chunk dropped, then the idle close


def test_timeout_zero_holds_and_removal_closes(proxy: ProxyHandle) -> None:
    """timeout 0 drops data and never closes; removing the toxic closes existing connections."""
    proxy.add_toxic("timeout", attributes={"timeout": 0})
    with connect(proxy.port) as sock:
        sock.sendall(b"dropped")
        _wait_for(lambda: proxy.triggered("timeout_downstream") == 1)
        sock.settimeout(0.1)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.settimeout(5)
        proxy.remove_toxic("timeout_downstream")
        assert recv_all(sock) == b""


def test_reset_closes_timeout_connections(server: EmbeddedToxiproxy, proxy: ProxyHandle) -> None:
    """POST /reset removes the timeout toxic and so closes its connections."""
    proxy.add_toxic("timeout", stream="upstream", attributes={"timeout": 0})
    with connect(proxy.port) as sock:
        sock.sendall(b"x")
        _wait_for(lambda: proxy.triggered("timeout_upstream") == 1)
        server.reset()
        assert recv_all(sock) == b""


def test_slicer_cuts_into_small_pieces(proxy: ProxyHandle) -> None:
    """slicer: the data arrives intact, after a delay per piece; the chunk was cut (piece sizes: unit tests)."""
    proxy.add_toxic("slicer", attributes={"average_size": 8, "size_variation": 4, "delay": 20_000})
    payload = bytes(range(64))
    with connect(proxy.port) as sock:
        assert _round_trip_s(sock, payload) >= 0.02 * 5  # at least 64 / (8 + 4) = 6 pieces, 20 ms after each
    assert proxy.triggered("slicer_downstream") == 1


def test_slicer_average_zero_passes_through(proxy: ProxyHandle) -> None:
    """average_size 0 (crashes Go) passes data through unchanged."""
    proxy.add_toxic("slicer", attributes={"average_size": 0, "size_variation": 50})
    with connect(proxy.port) as sock:
        _round_trip_s(sock, b"y" * 1000)
    assert proxy.triggered("slicer_downstream") == 0


def test_limit_data_forwards_exactly_n_bytes(server: EmbeddedToxiproxy) -> None:
    """limit_data 1000 on a 50 KB response: the client gets exactly 1000 bytes, then EOF."""
    payload = bytes(range(256)) * 200
    source = SourceServer(payload, linger_s=1.0)
    proxy = server.create_proxy("src", upstream=source.address)
    proxy.add_toxic("limit_data", attributes={"bytes": 1000})
    with connect(proxy.port) as sock:
        assert recv_all(sock) == payload[:1000]
    assert proxy.bytes_downstream == 1000
    source.close()


def test_toxicity_zero_never_and_one_always(proxy: ProxyHandle) -> None:
    """toxicity 0 never applies the toxic; toxicity 1 always does."""
    proxy.add_toxic("latency", name="never", attributes={"latency": 1000}, toxicity=0.0)
    with connect(proxy.port) as sock:
        _round_trip_s(sock)
    assert proxy.triggered("never") == 0
    proxy.update_toxic("never", attributes={"latency": 200}, toxicity=1.0)
    with connect(proxy.port) as sock:
        assert _round_trip_s(sock) >= 0.2
    assert proxy.triggered("never") == 1


def test_toxicity_is_rolled_per_connection(proxy: ProxyHandle) -> None:
    """toxicity 0.5: over 16 connections some get the toxic and some do not, and each keeps its roll."""
    proxy.add_toxic("latency", attributes={"latency": 5}, toxicity=0.5)
    slow = 0
    for _ in range(16):
        before = proxy.triggered("latency_downstream")
        with connect(proxy.port) as sock:
            _round_trip_s(sock)
            _round_trip_s(sock)
        delta = proxy.triggered("latency_downstream") - before
        assert delta in (0, 2)  # both round trips held, or neither
        slow += delta == 2
    assert 0 < slow < 16


def test_disable_refuses_and_closes_then_enable(proxy: ProxyHandle) -> None:
    """enabled=false closes the port and live connections; enabling listens again on the same port."""
    port = proxy.port
    sock = connect(port)
    _round_trip_s(sock)
    proxy.disable()
    assert recv_all(sock) == b""
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    proxy.enable()
    assert proxy.port == port
    with connect(port) as again:
        _round_trip_s(again)


def test_down_upstream_gives_connect_then_eof(server: EmbeddedToxiproxy) -> None:
    """An unreachable upstream: the client's connect succeeds, then it reads EOF (Toxiproxy #265)."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead = placeholder.getsockname()[1]
    proxy = server.create_proxy("dead", upstream=f"127.0.0.1:{dead}")
    with connect(proxy.port) as sock:
        assert recv_all(sock) == b""


def test_client_eof_closes_the_whole_connection(proxy: ProxyHandle) -> None:
    """Like Toxiproxy, a client's FIN is not forwarded as a half-close: the connection is torn down."""
    with connect(proxy.port) as sock:
        sock.sendall(b"last")
        sock.shutdown(socket.SHUT_WR)
        assert len(recv_all(sock)) <= 4


def test_same_seed_same_rolls(echo: EchoServer) -> None:
    """Two servers with the same seed roll toxicity identically for the same sequence of connections."""

    def pattern(seed: int) -> list[bool]:
        with EmbeddedToxiproxy(seed=seed) as seeded:
            proxy = seeded.create_proxy("seeded", upstream=echo.address)
            proxy.add_toxic("latency", attributes={"latency": 5}, toxicity=0.5)
            rolls = []
            for _ in range(10):
                before = proxy.triggered("latency_downstream")
                with connect(proxy.port) as sock:
                    _round_trip_s(sock)
                rolls.append(proxy.triggered("latency_downstream") > before)
            return rolls

    first = pattern(11)
    assert pattern(11) == first
    assert any(first)
    assert not all(first)


def test_noop_passes_data_and_counts(proxy: ProxyHandle) -> None:
    """A noop toxic forwards everything unchanged through the toxic pipeline and reports it acted."""
    proxy.add_toxic("noop", stream="upstream")
    payload = bytes(range(256)) * 500
    with connect(proxy.port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    assert proxy.triggered("noop_upstream") > 0


def test_limit_data_upstream(proxy: ProxyHandle) -> None:
    """limit_data on the upstream stream lets exactly 1000 client bytes reach the server, then closes."""
    proxy.add_toxic("limit_data", stream="upstream", attributes={"bytes": 1000})
    with connect(proxy.port) as sock:
        sock.sendall(b"u" * 5000)
        try:
            echoed = recv_all(sock)
        except ConnectionResetError:  # bytes left unread by the proxy make the kernel answer with an RST
            echoed = b""
        assert len(echoed) <= 1000
    assert proxy.bytes_upstream == 1000
