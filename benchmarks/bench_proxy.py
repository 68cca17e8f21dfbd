"""The embedded Toxiproxy: throughput and added latency with no toxics, and bandwidth toxic accuracy.

Anchors are measured in the same run: direct loopback throughput and round trip, without the proxy.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time

from benchmarks._report import figure
from chaos.proxy import EmbeddedToxiproxy

_BUFFER = bytes(1 << 20)


def _sink_server() -> tuple[socket.socket, dict[str, float]]:
    """A server that reads each connection to EOF and records bytes and the time the last byte came."""
    server = socket.create_server(("127.0.0.1", 0))
    result: dict[str, float] = {}

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            buffer = bytearray(1 << 20)
            total = 0
            while True:
                n = conn.recv_into(buffer)
                if not n:
                    break
                total += n
            result["bytes"] = total
            result["end"] = time.perf_counter()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, result


def _echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def echo(conn: socket.socket = conn) -> None:
                while data := conn.recv(65536):
                    conn.sendall(data)
                conn.close()

            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


def _send_timed(port: int, size: int, result: dict[str, float]) -> float:
    """Bytes per second to push ``size`` bytes to ``port`` until the sink has them all."""
    result.clear()
    client = socket.create_connection(("127.0.0.1", port))
    view = memoryview(_BUFFER)
    started = time.perf_counter()
    left = size
    while left:
        chunk = view[: min(left, len(view))]
        client.sendall(chunk)
        left -= len(chunk)
    client.shutdown(socket.SHUT_WR)
    while "end" not in result:
        time.sleep(0.001)
    client.close()
    assert result["bytes"] == size, result
    return size / (result["end"] - started)


def _round_trips(port: int, count: int) -> list[float]:
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.sendall(b"x")
        client.recv(16)
        samples.append(time.perf_counter() - started)
    client.close()
    return samples


def main() -> None:
    sink, sink_result = _sink_server()
    echo = _echo_server()
    sink_port, echo_port = sink.getsockname()[1], echo.getsockname()[1]
    with EmbeddedToxiproxy(seed=1) as server:
        bulk = server.create_proxy("bulk", upstream=f"127.0.0.1:{sink_port}")
        ping = server.create_proxy("ping", upstream=f"127.0.0.1:{echo_port}")

        size = 256 << 20
        _send_timed(sink_port, 32 << 20, sink_result)  # warm up both paths
        _send_timed(bulk.port, 32 << 20, sink_result)
        # Interleaved best-of-5, so that load from other processes biases neither side.
        direct = proxied = 0.0
        for _ in range(5):
            direct = max(direct, _send_timed(sink_port, size, sink_result))
            proxied = max(proxied, _send_timed(bulk.port, size, sink_result))
        figure(
            "proxy throughput, no toxics",
            proxied / 1e6,
            "MB/s",
            anchor=f"direct loopback {direct / 1e6:.0f} MB/s",
            ratio=proxied / direct,
            target=">= 0.5",
            ok=proxied / direct >= 0.5,
        )

        toxic = bulk.add_toxic("latency", stream="upstream", attributes={"latency": 10})
        under_latency = max(_send_timed(bulk.port, 128 << 20, sink_result) for _ in range(2))
        bulk.remove_toxic(toxic["name"])
        figure(
            "proxy throughput, 10 ms latency toxic (toxic pipeline)",
            under_latency / 1e6,
            "MB/s",
            anchor=f"direct loopback {direct / 1e6:.0f} MB/s",
            ratio=under_latency / direct,
            target=">= 100 MB/s (Toxiproxy's TestLatencyToxicBandwidth bar)",
            ok=under_latency >= 100e6,
        )

        _round_trips(echo_port, 200)
        _round_trips(ping.port, 200)
        direct_samples: list[float] = []
        proxied_samples: list[float] = []
        for _ in range(3):
            direct_samples += _round_trips(echo_port, 1000)
            proxied_samples += _round_trips(ping.port, 1000)
        direct_rtt = statistics.median(direct_samples)
        proxied_rtt = statistics.median(proxied_samples)
        added_us = (proxied_rtt - direct_rtt) / 2 * 1e6
        figure(
            "proxy added latency per hop, p50",
            added_us,
            "us",
            anchor=f"direct round trip p50 {direct_rtt * 1e6:.0f} us",
            target="<= 300 us",
            ok=added_us <= 300,
        )

        for rate_kbps, size in ((100, 300_000), (10_000, 30_000_000)):
            toxic = bulk.add_toxic("bandwidth", stream="upstream", attributes={"rate": rate_kbps})
            measured = _send_timed(bulk.port, size, sink_result) / 1000
            bulk.remove_toxic(toxic["name"])
            error = abs(measured - rate_kbps) / rate_kbps
            figure(
                f"bandwidth toxic at {rate_kbps} KB/s",
                measured,
                "KB/s",
                anchor=f"rate {rate_kbps} KB/s",
                ratio=measured / rate_kbps,
                target="within 5%",
                ok=error <= 0.05,
            )
    sink.close()
    echo.close()


if __name__ == "__main__":
    main()
