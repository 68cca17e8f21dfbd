"""reset_peer (RST seen as ECONNRESET, after_bytes exact) and the toxics beyond Toxiproxy on real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from proxy_helpers import EchoServer, SourceServer, connect, recv_exactly

from chaos.proxy import EmbeddedToxiproxy

_PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture
def source() -> Iterator[SourceServer]:
    # Stays open: the proxy, not the server, ends the stream; it answers the client's first byte.
    server = SourceServer(_PAYLOAD, linger_s=1.0, on_request=True)
    yield server
    server.close()


@pytest.fixture
def quick_source() -> Iterator[SourceServer]:
    server = SourceServer(_PAYLOAD)
    yield server
    server.close()


def _read_until_error(sock: socket.socket) -> tuple[bytes, OSError | None]:
    received = bytearray()
    try:
        while part := sock.recv(65536):
            received += part
    except OSError as error:
        return bytes(received), error
    return bytes(received), None


def test_reset_peer_gives_econnreset(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """reset_peer: the first data is discarded and the client's next read fails with ECONNRESET."""
    proxy = server.create_proxy("rst", upstream=echo.address)
    proxy.add_toxic("reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect(proxy.port) as sock:
        sock.sendall(b"boom")
        data, error = _read_until_error(sock)
    assert data == b""
    assert isinstance(error, ConnectionResetError)


def test_reset_peer_timeout_waits(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """reset_peer with timeout 300: the RST comes ~300 ms after the data."""
    proxy = server.create_proxy("rst", upstream=echo.address)
    proxy.add_toxic("reset_peer", stream="upstream", attributes={"timeout": 300})
    with connect(proxy.port) as sock:
        started = time.perf_counter()
        sock.sendall(b"boom")
        _data, error = _read_until_error(sock)
        elapsed = time.perf_counter() - started
    assert isinstance(error, ConnectionResetError)
    assert 0.28 <= elapsed < 1.0


def test_reset_peer_on_existing_connection(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """Unlike Toxiproxy (FIN), a reset_peer added to a live connection still resets it."""
    proxy = server.create_proxy("rst", upstream=echo.address)
    with connect(proxy.port) as sock:
        sock.sendall(b"a")
        assert recv_exactly(sock, 1) == b"a"
        proxy.add_toxic("reset_peer")
        sock.sendall(b"b")
        _data, error = _read_until_error(sock)
    assert isinstance(error, ConnectionResetError)


def test_reset_peer_toxicity_zero_never_resets(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """A reset_peer at toxicity 0 leaves connections alone and they close with a FIN (Toxiproxy #603 fixed)."""
    proxy = server.create_proxy("rst", upstream=echo.address)
    proxy.add_toxic("reset_peer", toxicity=0.0)
    with connect(proxy.port) as sock:
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"
        proxy.close_connections()
        data, error = _read_until_error(sock)
    assert (data, error) == (b"", None)
    assert proxy.triggered("reset_peer_downstream") == 0


@pytest.mark.parametrize("after_bytes", [1, 4096, 65536, 100_000])
def test_reset_peer_after_bytes_is_exact(server: EmbeddedToxiproxy, source: SourceServer, after_bytes: int) -> None:
    """reset_peer after_bytes=N: the client receives exactly the first N bytes, then ECONNRESET."""
    proxy = server.create_proxy("mid", upstream=source.address)
    proxy.add_toxic("reset_peer", attributes={"after_bytes": after_bytes})
    with connect(proxy.port) as sock:
        sock.sendall(b"?")
        time.sleep(0.05)  # let the data and the RST arrive before reading: the bytes still come first
        data, error = _read_until_error(sock)
    assert data == _PAYLOAD[:after_bytes]
    assert isinstance(error, ConnectionResetError)
    assert proxy.bytes_downstream == after_bytes
    assert proxy.triggered("reset_peer_downstream") == 1


def test_corrupt_at_offset_flips_one_bit(server: EmbeddedToxiproxy, quick_source: SourceServer) -> None:
    """corrupt offset=5000: exactly the byte at offset 5000 differs, by one bit; the length is unchanged."""
    proxy = server.create_proxy("bits", upstream=quick_source.address)
    proxy.add_toxic("corrupt", attributes={"offset": 5000})
    with connect(proxy.port) as sock:
        data, error = _read_until_error(sock)
    assert error is None
    assert len(data) == len(_PAYLOAD)
    diffs = [i for i, (a, b) in enumerate(zip(data, _PAYLOAD, strict=True)) if a != b]
    assert diffs == [5000]
    assert bin(data[5000] ^ _PAYLOAD[5000]).count("1") == 1


def test_corrupt_probability(server: EmbeddedToxiproxy, quick_source: SourceServer) -> None:
    """corrupt probability=0.01 flips about 1% of the bytes."""
    proxy = server.create_proxy("bits", upstream=quick_source.address)
    proxy.add_toxic("corrupt", attributes={"probability": 0.01})
    with connect(proxy.port) as sock:
        data, _error = _read_until_error(sock)
    flipped = sum(a != b for a, b in zip(data, _PAYLOAD, strict=True))
    assert 500 < flipped < 1600


def test_slow_open_delays_only_the_first_byte(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """slow_open delay=300: the first response waits 300 ms, the next ones do not."""
    proxy = server.create_proxy("open", upstream=echo.address)
    proxy.add_toxic("slow_open", stream="upstream", attributes={"delay": 300})
    with connect(proxy.port) as sock:
        started = time.perf_counter()
        sock.sendall(b"1")
        recv_exactly(sock, 1)
        first = time.perf_counter() - started
        started = time.perf_counter()
        sock.sendall(b"2")
        recv_exactly(sock, 1)
        second = time.perf_counter() - started
    assert first >= 0.3
    assert second < 0.1


def test_packet_loss_full_and_none(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """packet_loss loss_rate=1 drops every chunk; updated to 0 it drops none."""
    proxy = server.create_proxy("loss", upstream=echo.address)
    proxy.add_toxic("packet_loss", name="loss", attributes={"loss_rate": 1.0})
    with connect(proxy.port) as sock:
        sock.sendall(b"gone")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        proxy.update_toxic("loss", attributes={"loss_rate": 0.0})
        sock.settimeout(5)
        sock.sendall(b"kept")
        assert recv_exactly(sock, 4) == b"kept"
