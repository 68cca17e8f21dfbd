"""Resource bounds: 200 concurrent connections through one proxy; a slow consumer does not grow memory."""

from __future__ import annotations

import gc
import socket
import threading
import time

import psutil
import pytest
from proxy_helpers import EchoServer, connect, recv_exactly

from chaos.proxy import EmbeddedToxiproxy


def test_200_concurrent_connections(server: EmbeddedToxiproxy, echo: EchoServer) -> None:
    """200 connections open at once through one proxy each get their own bytes back, on the proxy's one thread."""
    proxy = server.create_proxy("many", upstream=echo.address)
    proxy.add_toxic("latency", stream="upstream", attributes={"latency": 1})
    clients = [connect(proxy.port, timeout_s=20) for _ in range(200)]
    try:
        for index, sock in enumerate(clients):
            sock.sendall(f"client-{index:04d}".encode())
        for index, sock in enumerate(clients):
            assert recv_exactly(sock, 11) == f"client-{index:04d}".encode()
        assert proxy.connection_count == 200
        assert [t.name for t in threading.enumerate() if t.name.startswith("proxy-many")] == ["proxy-many"]
    finally:
        for sock in clients:
            sock.close()
    deadline = time.monotonic() + 10
    while proxy.connection_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.connection_count == 0


class _Firehose:
    """Sends up to ``limit`` bytes in 1 MiB writes, counting what the kernel accepted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        block = bytes(1 << 20)
        try:
            while self.sent < self.limit:
                conn.sendall(block)
                self.sent += len(block)
        except OSError:
            pass
        finally:
            conn.close()


def _wait_until_stalled(source: _Firehose) -> None:
    """Poll until the sender made no progress over 20 polls in a row, failing if it ever sent everything.

    A busy machine can only make this return early (a starved sender looks stalled), never fail it wrongly.
    """
    deadline = time.monotonic() + 60
    last, unchanged = -1, 0
    while unchanged < 20:
        assert source.sent < source.limit, "the proxy took the whole stream: no backpressure"
        assert time.monotonic() < deadline, "the sender never stalled"
        time.sleep(0.025)
        sent = source.sent
        unchanged = unchanged + 1 if sent == last else 0
        last = sent


@pytest.mark.slow
@pytest.mark.parametrize("toxic", [None, "latency"])
def test_slow_consumer_memory_is_bounded(server: EmbeddedToxiproxy, toxic: str | None) -> None:
    """A client that stops reading stalls the sender instead of growing the proxy's memory; no byte is lost."""
    limit = 256 << 20
    source = _Firehose(limit)
    proxy = server.create_proxy("slow", upstream=source.address)
    if toxic:
        proxy.add_toxic(toxic, attributes={"latency": 1})
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    with connect(proxy.port, timeout_s=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        _wait_until_stalled(source)  # backpressure reached the sender before it sent everything
        growth = process.memory_info().rss - rss_before
        assert growth < 48 << 20, f"RSS grew by {growth >> 20} MiB"
        received = 0
        while received < limit:
            part = sock.recv(1 << 20)
            assert part
            received += len(part)
    assert received == limit
