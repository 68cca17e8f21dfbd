"""The embedded Toxiproxy in its own process, as a user runs it (``python -m chaos.cli proxy serve``).

Every figure is a ratio against an anchor measured in the same run: direct loopback throughput and round trips
between the same client and server threads, without the proxy. The forward-proxy case pushes the same bytes
through ``CONNECT`` tunnels of a proxy whose upstream is ``connect`` (``python -m benchmarks.bench_proxy
forward`` runs that case alone). Throughputs are the best of 5 interleaved runs,
so load from other processes biases neither side. The proxy process's CPU per GB moved (shown with each
throughput), RSS and threads are read with psutil. On a machine with two cores shared with other jobs the
proxy, the client and the server compete for CPU, so the throughput ratios there are lower and noisier.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psutil

from benchmarks._report import figure

_BUFFER = memoryview(bytes(1 << 20))
_MB = 1e6


class _Api:
    """A keep-alive REST client for the proxy process (what the Go client and toxiproxy-python do)."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload!r}")
        return json.loads(payload) if payload else None

    def proxy(self, name: str, upstream_port: int) -> int:
        body = {"name": name, "upstream": f"127.0.0.1:{upstream_port}", "listen": "127.0.0.1:0"}
        created = self("POST", "/proxies", body)
        return int(created["listen"].rsplit(":", 1)[1])

    def toxic(self, proxy: str, type_name: str, stream: str = "upstream", **attributes: int) -> str:
        body = {"type": type_name, "stream": stream, "attributes": attributes}
        return str(self("POST", f"/proxies/{proxy}/toxics", body)["name"])

    def remove(self, proxy: str, toxic: str) -> None:
        self("DELETE", f"/proxies/{proxy}/toxics/{toxic}")


@contextmanager
def _proxy_process() -> Iterator[tuple[_Api, psutil.Process]]:
    """``python -m chaos.cli proxy serve --port 0`` in a child process, and a client for its API."""
    child = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "proxy", "serve", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        found = re.search(r"http://([0-9.]+):(\d+)", line)
        assert found, f"no API URL in {line!r}"
        yield _Api(found[1], int(found[2])), psutil.Process(child.pid)
    finally:
        child.terminate()
        child.wait(10)


def _serve(handler: Callable[[socket.socket], None]) -> socket.socket:
    """A loopback server running ``handler`` in a thread per connection."""
    server = socket.create_server(("127.0.0.1", 0), backlog=512)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server


class _Sink:
    """Reads each connection to EOF; counts the bytes and the time the last one came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.bytes = 0
        self.closed = 0
        self.end = 0.0
        self.server = _serve(self._read)
        self.port = self.server.getsockname()[1]

    def _read(self, conn: socket.socket) -> None:
        buffer = bytearray(1 << 20)
        total = 0
        while n := conn.recv_into(buffer):
            total += n
        with self.lock:
            self.bytes += total
            self.closed += 1
            self.end = time.perf_counter()
            self.done.notify_all()
        conn.close()

    def throughput(
        self, port: int, size: int, connections: int = 1, opener: Callable[[int], socket.socket] | None = None
    ) -> float:
        """Bytes per second for ``connections`` clients pushing ``size`` bytes in all through ``port``.

        ``opener(port)`` makes each client connection (default: a TCP connect); the clock starts after.
        """
        with self.lock:
            self.bytes = self.closed = 0
        share = size // connections
        open_one = opener or (lambda p: socket.create_connection(("127.0.0.1", p)))
        clients = [open_one(port) for _ in range(connections)]

        def push(client: socket.socket) -> None:
            left = share
            while left:
                chunk = _BUFFER[: min(left, len(_BUFFER))]
                client.sendall(chunk)
                left -= len(chunk)
            client.shutdown(socket.SHUT_WR)

        started = time.perf_counter()
        threads = [threading.Thread(target=push, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self.lock:
            while self.closed < connections:
                self.done.wait()
            assert self.bytes == share * connections, (self.bytes, share * connections)
            elapsed = self.end - started
        for client in clients:
            client.close()
        return share * connections / elapsed


def _echo(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _round_trips(port: int, count: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            client.sendall(b"x")
            client.recv(16)
            samples.append(time.perf_counter() - started)
    return samples


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _best_ratio_and_ceiling(
    sink: _Sink,
    proxied_port: int,
    size: int,
    *,
    connections: int,
    runs: int,
    process: psutil.Process,
    opener: Callable[[int], socket.socket] | None = None,
) -> tuple[float, float, float, float]:
    """Best direct and proxied throughput of interleaved runs, the proxy's CPU seconds per GB, and the best ratio
    this machine's cores allow.

    The ceiling: the client (sender and receiver threads, this process) and the proxy use ``c`` and ``p`` CPU
    seconds per GB proxied; on ``n`` cores no run can move more than ``n / (c + p)`` GB/s, nor more than one
    thread's core allows (``1 / max(c / 2, p)``, the client's two threads taken as equal), so the ratio cannot
    pass that rate over the best direct one. It tells a slow proxy apart from a machine with too few cores.
    """
    client = psutil.Process()
    direct = proxied = proxy_s = client_s = 0.0
    for _ in range(runs):
        direct = max(direct, sink.throughput(sink.port, size, connections))
        before_proxy, before_client = _cpu_s(process), _cpu_s(client)
        proxied = max(proxied, sink.throughput(proxied_port, size, connections, opener))
        proxy_s += _cpu_s(process) - before_proxy
        client_s += _cpu_s(client) - before_client
    gigabytes = runs * size / 1e9
    proxy_per_gb, client_per_gb = proxy_s / gigabytes, client_s / gigabytes
    cores = len(os.sched_getaffinity(0))
    ceiling_gbps = min(cores / (client_per_gb + proxy_per_gb), 1 / max(client_per_gb / 2, proxy_per_gb))
    return direct, proxied, proxy_per_gb, min(1.0, ceiling_gbps * 1e9 / direct)


def _throughputs(api: _Api, sink: _Sink, process: psutil.Process) -> None:
    bulk = api.proxy("bulk", sink.port)
    size = 128 << 20
    sink.throughput(sink.port, 32 << 20)  # warm up both paths
    sink.throughput(bulk, 32 << 20)
    cases: list[tuple[str, str | None, int, float]] = [
        ("no toxics, 1 connection", None, 1, 0.6),
        ("latency=0 toxic, 1 connection", "latency", 1, 0.5),
        ("latency=0 toxic, 50 connections", "latency", 50, 0.5),
    ]
    for label, toxic, connections, target in cases:
        name = api.toxic("bulk", toxic, latency=0) if toxic else None
        direct, proxied, cpu_per_gb, ceiling = _best_ratio_and_ceiling(
            sink, bulk, size, connections=connections, runs=5, process=process
        )
        if name:
            api.remove("bulk", name)
        figure(
            f"proxy throughput, {label}",
            proxied / _MB,
            "MB/s",
            anchor=(
                f"direct loopback {direct / _MB:.0f} MB/s; proxy CPU {cpu_per_gb:.2f} s/GB; "
                f"ceiling on {len(os.sched_getaffinity(0))} cores {ceiling:.2f}"
            ),
            ratio=proxied / direct,
            target=f">= {target}",
            ok=proxied / direct >= target,
        )
    name = api.toxic("bulk", "latency", latency=10)
    under_latency = max(sink.throughput(bulk, 128 << 20) for _ in range(2))
    api.remove("bulk", name)
    figure(
        "proxy throughput, 10 ms latency toxic",
        under_latency / _MB,
        "MB/s",
        anchor="Toxiproxy's TestLatencyToxicBandwidth bar",
        target=">= 100 MB/s",
        ok=under_latency >= 100 * _MB,
    )
    for rate_kbps, rate_size in ((100, 300_000), (10_000, 30_000_000)):
        name = api.toxic("bulk", "bandwidth", rate=rate_kbps)
        measured = sink.throughput(bulk, rate_size) / 1000
        api.remove("bulk", name)
        figure(
            f"bandwidth toxic at {rate_kbps} KB/s",
            measured,
            "KB/s",
            anchor=f"rate {rate_kbps} KB/s",
            ratio=measured / rate_kbps,
            target="within 5%",
            ok=abs(measured - rate_kbps) / rate_kbps <= 0.05,
        )


def _tunnel_opener(target_port: int) -> Callable[[int], socket.socket]:
    """Open a client through a forward proxy: ``CONNECT 127.0.0.1:target_port``, read the 200, then push."""

    def open_tunnel(proxy_port: int) -> socket.socket:
        client = socket.create_connection(("127.0.0.1", proxy_port))
        client.sendall(f"CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\nHost: 127.0.0.1:{target_port}\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            part = client.recv(1)
            assert part, f"forward proxy closed after {head!r}"
            head += part
        assert head.startswith(b"HTTP/1.1 200 "), head
        return client

    return open_tunnel


def _forward_tunnels(api: _Api, sink: _Sink, process: psutil.Process) -> None:
    """CONNECT tunnels through a forward proxy (upstream "connect") against direct loopback, same run.

    A plain proxy to the same sink is measured in the same interleaved runs too: the tunnel's bytes take the
    plain proxy's data path once the handshake is done, so tunnel / plain proxy should be close to 1 whatever
    the machine, while tunnel / direct depends on the cores free for the proxy process.
    """
    created = api("POST", "/proxies", {"name": "egress", "upstream": "connect", "listen": "127.0.0.1:0"})
    port = int(created["listen"].rsplit(":", 1)[1])
    plain = api.proxy("plain", sink.port)
    opener = _tunnel_opener(sink.port)
    size = 128 << 20
    sink.throughput(port, 32 << 20, 1, opener)  # warm up both proxies
    sink.throughput(plain, 32 << 20)
    for label, toxic, target in (("no toxics", None, 0.6), ("latency=0 toxic", "latency", 0.5)):
        names = {proxy: api.toxic(proxy, toxic, latency=0) for proxy in ("egress", "plain")} if toxic else {}
        direct = tunnel = proxied = cpu_s = 0.0
        for _ in range(5):
            direct = max(direct, sink.throughput(sink.port, size))
            proxied = max(proxied, sink.throughput(plain, size))
            before = process.cpu_times()
            tunnel = max(tunnel, sink.throughput(port, size, 1, opener))
            after = process.cpu_times()
            cpu_s += after.user + after.system - before.user - before.system
        for proxy, name in names.items():
            api.remove(proxy, name)
        figure(
            f"forward proxy CONNECT tunnel throughput, {label}, 1 tunnel",
            tunnel / _MB,
            "MB/s",
            anchor=f"direct loopback {direct / _MB:.0f} MB/s; proxy CPU {cpu_s / (5 * size / 1e9):.2f} s/GB",
            ratio=tunnel / direct,
            target=f">= {target}",
            ok=tunnel / direct >= target,
        )
        figure(
            f"forward proxy CONNECT tunnel vs plain proxy, {label}",
            tunnel / _MB,
            "MB/s",
            anchor=f"plain proxy {proxied / _MB:.0f} MB/s, same run",
            ratio=tunnel / proxied,
            target=">= 0.9",
            ok=tunnel / proxied >= 0.9,
        )


def _latencies(api: _Api) -> None:
    echo = _serve(_echo)
    echo_port = echo.getsockname()[1]
    ping = api.proxy("ping", echo_port)
    for label, toxic in (("no toxics", None), ("latency=0 toxic", "latency")):
        name = api.toxic("ping", toxic, stream="downstream", latency=0) if toxic else None
        _round_trips(echo_port, 200)
        _round_trips(ping, 200)
        # Interleaved blocks of 1000 round trips; each side's quantile is its best block's (as throughputs take
        # the best run): a block that another process on the machine disturbed does not count.
        direct: list[list[float]] = []
        proxied: list[list[float]] = []
        for _ in range(5):
            direct.append(_round_trips(echo_port, 1000))
            proxied.append(_round_trips(ping, 1000))
        if name:
            api.remove("ping", name)
        for quantile, index in (("p50", 49), ("p99", 98)):
            direct_q = min(statistics.quantiles(block, n=100)[index] for block in direct)
            proxied_q = min(statistics.quantiles(block, n=100)[index] for block in proxied)
            added_us = (proxied_q - direct_q) / 2 * 1e6
            figure(
                f"proxy added latency per hop, {quantile}, {label}",
                added_us,
                "us",
                anchor=f"direct round trip {quantile} {direct_q * 1e6:.0f} us",
                target="<= 300 us",
                ok=added_us <= 300,
            )
    echo.close()


def _slow_consumers(api: _Api, process: psutil.Process, count: int = 200) -> None:
    sent = [0]
    lock = threading.Lock()

    def firehose(conn: socket.socket) -> None:
        block = bytes(64 << 10)
        try:
            while True:
                conn.sendall(block)
                with lock:
                    sent[0] += len(block)
        except OSError:
            conn.close()

    source = _serve(firehose)
    port = api.proxy("slow", source.getsockname()[1])
    api.toxic("slow", "latency", stream="downstream", latency=1)
    rss_before = process.memory_info().rss
    clients = []
    for _ in range(count):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        client.connect(("127.0.0.1", port))
        clients.append(client)
    # Stalled: the sources have sent nothing for a second (or 30 s passed).
    deadline = time.monotonic() + 30
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        with lock:
            now_sent = sent[0]
        if now_sent != last:
            last, still_since = now_sent, time.monotonic()
        elif time.monotonic() - still_since >= 1.0:
            break
    rss = process.memory_info().rss
    threads = process.num_threads()
    for client in clients:
        client.close()
    source.close()
    figure(
        f"proxy RSS, {count} slow consumers with a latency toxic",
        rss / (1 << 20),
        "MiB",
        anchor=f"idle proxy {rss_before / (1 << 20):.0f} MiB, {last / (1 << 20):.0f} MiB sent, {threads} threads",
        target="<= 128 MB",
        ok=rss <= 128e6,
    )


def _api_round_trips(api: _Api) -> None:
    api.toxic("ping", "latency", stream="downstream", latency=1)
    samples: list[float] = []
    for index in range(300):
        started = time.perf_counter()
        if index % 2:
            api("GET", "/proxies/ping")
        else:
            api("POST", "/proxies/ping/toxics/latency_downstream", {"attributes": {"latency": index}})
        samples.append(time.perf_counter() - started)
    median_ms = statistics.median(samples[10:]) * 1e3
    figure(
        "API round trip on a kept-alive connection, median",
        median_ms,
        "ms",
        anchor=f"p99 {statistics.quantiles(samples[10:], n=100)[98] * 1e3:.2f} ms",
        target="<= 2 ms",
        ok=median_ms <= 2,
    )


_CASES = ("throughput", "forward", "latency", "api", "slow")


def main(only: Sequence[str] = ()) -> None:
    """Every case, or those named (``python -m benchmarks.bench_proxy forward``: the CONNECT tunnels only)."""
    unknown = sorted(set(only) - set(_CASES))
    if unknown:
        raise SystemExit(f"unknown case {unknown[0]!r}; fix: one of {', '.join(_CASES)}")
    wanted = set(only or _CASES)
    os.environ.setdefault("LOG_LEVEL", "warning")
    sink = _Sink()
    with _proxy_process() as (api, process):
        if "throughput" in wanted:
            _throughputs(api, sink, process)
        if "forward" in wanted:
            _forward_tunnels(api, sink, process)
        if "latency" in wanted or "api" in wanted:
            _latencies(api)  # also creates the proxy "ping" the API case drives
        if "api" in wanted:
            _api_round_trips(api)
        if "slow" in wanted:
            _slow_consumers(api, process)
    sink.server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
