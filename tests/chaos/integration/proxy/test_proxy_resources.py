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
    """200 connections open at once through one proxy each get their own bytes back."""
    proxy = server.create_proxy("many", upstream=echo.address)
    clients = [connect(proxy.port, timeout_s=20) for _ in range(200)]
    try:
        for index, sock in enumerate(clients):
            sock.sendall(f"client-{index:04d}".encode())
        for index, sock in enumerate(clients):
            assert recv_exactly(sock, 11) == f"client-{index:04d}".encode()
        assert proxy.connection_count == 200
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
        time.sleep(1.0)
        stalled_at = source.sent
        time.sleep(0.5)
        assert source.sent == stalled_at < limit  # backpressure reached the sender
        growth = process.memory_info().rss - rss_before
        assert growth < 48 << 20, f"RSS grew by {growth >> 20} MiB"
        received = 0
        while received < limit:
            part = sock.recv(1 << 20)
            assert part
            received += len(part)
    assert received == limit
