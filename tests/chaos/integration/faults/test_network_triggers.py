"""Exact triggers for every network fault, over real sockets: the fault is triggered when its toxic acted on a
connection (the proxy's fire counter), and not triggered when the condition was never met.

Each fault has two cases, run through the embedded backend and over the REST API: one where the traffic never
meets the fault's condition (a 16 KiB download through ``reset_peer`` with ``after_bytes=65536``) and one where
it does. A guard test makes sure a toxic type added to the proxy cannot ship without its two cases.
"""

from __future__ import annotations

import pathlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chaos.fault import FaultContext
from chaos.faults.network import NETWORK_FAULTS
from chaos.proxy import EmbeddedToxiproxy

KIB = 1024


class Upstream:
    """Loopback server. A request line ``<n> close|hold`` gets ``n`` bytes, then a close (or the server waits
    for the client to close); a connection that sends nothing is held until the client closes it."""

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
                line = b""
                while not line.endswith(b"\n"):
                    part = client.recv(64)
                    if not part:
                        return
                    line += part
                size, mode = line.split()
                client.sendall(bytes(range(256)) * (int(size) // 256) + bytes(int(size) % 256))
                if mode == b"hold":
                    while client.recv(65536):
                        pass
            except OSError:
                pass


@dataclass
class Link:
    """What a case does through the proxy while the fault is armed; records what the client saw."""

    server: EmbeddedToxiproxy
    failures: list[str] = field(default_factory=list)
    held: list[socket.socket] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.proxy("hub").port

    def download(self, size: int, *, close: bool = True, read: int | None = None) -> tuple[int, str]:
        """Ask for ``size`` bytes; read to the end (or ``read`` bytes, keeping the connection open)."""
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        conn.sendall(f"{size} {'close' if close else 'hold'}\n".encode())
        received = 0
        try:
            while read is None or received < read:
                chunk = conn.recv(65536)
                if not chunk:
                    conn.close()
                    return received, "eof"
                received += len(chunk)
        except OSError as error:
            conn.close()
            self.failures.append(type(error).__name__)
            return received, type(error).__name__
        self.held.append(conn)
        return received, "open"

    def idle(self) -> None:
        """Open a connection that sends nothing, and wait until the proxy has accepted it."""
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.held.append(conn)
        wait_for(lambda: self.server.proxy("hub").connection_count >= len(self.held))

    def use_held(self) -> None:
        """Read from every held connection (a target noticing its link went away) and try a new connect."""
        for conn in self.held:
            try:
                if not conn.recv(1):
                    self.failures.append("eof")
            except OSError as error:
                self.failures.append(type(error).__name__)
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        except OSError as error:
            self.failures.append(type(error).__name__)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.held.clear()


def wait_for(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds (never a fixed wait)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


@dataclass(frozen=True)
class Case:
    """One trigger case: params, what the client does while armed, what it must see, and the verdict."""

    about: str
    params: dict[str, Any]
    action: Callable[[Link], Any]
    sees: Any
    triggered: bool
    waits_on_proxy: str = ""


def _nothing(link: Link) -> None:
    return None


CASES: dict[str, tuple[Case, Case]] = {
    "network.down": (
        Case("nothing connects while down", {}, _nothing, None, False),
        Case("a live connection is cut, a new one refused", {}, lambda link: link.use_held(), "failures", True),
    ),
    "network.reset_peer": (
        Case(
            "16 KiB download through after_bytes=65536",
            {"after_bytes": 65536},
            lambda link: link.download(16 * KIB),
            (16 * KIB, "eof"),
            False,
        ),
        Case(
            "256 KiB download through after_bytes=65536",
            {"after_bytes": 65536},
            lambda link: link.download(256 * KIB),
            (65536, "ConnectionResetError"),
            True,
        ),
    ),
    "network.limit_data": (
        Case(
            "16 KiB under a 64 KiB limit",
            {"limit_bytes": 65536},
            lambda link: link.download(16 * KIB),
            (16 * KIB, "eof"),
            False,
        ),
        Case(
            "256 KiB over a 64 KiB limit",
            {"limit_bytes": 65536},
            lambda link: link.download(256 * KIB),
            (65536, "eof"),
            True,
        ),
    ),
    "network.timeout": (
        Case("an idle connection, no data to drop", {"timeout_ms": 60_000}, lambda link: link.idle(), None, False),
        Case("data dropped, then closed", {"timeout_ms": 50}, lambda link: link.download(16 * KIB), (0, "eof"), True),
    ),
    "network.latency": (
        Case("an idle connection, no chunk to delay", {"latency_ms": 20}, lambda link: link.idle(), None, False),
        Case(
            "a download is delayed", {"latency_ms": 20}, lambda link: link.download(16 * KIB), (16 * KIB, "eof"), True
        ),
    ),
    "network.bandwidth": (
        Case("an idle connection, nothing to throttle", {"rate_kbps": 1000}, lambda link: link.idle(), None, False),
        Case(
            "a download is throttled",
            {"rate_kbps": 1000},
            lambda link: link.download(64 * KIB),
            (64 * KIB, "eof"),
            True,
        ),
    ),
    "network.slicer": (
        Case(
            "200 bytes, smaller than one slice",
            {"average_size_bytes": 1024, "size_variation_bytes": 0},
            lambda link: link.download(200),
            (200, "eof"),
            False,
        ),
        Case(
            "64 KiB cut into 1 KiB slices",
            {"average_size_bytes": 1024, "size_variation_bytes": 0},
            lambda link: link.download(64 * KIB),
            (64 * KIB, "eof"),
            True,
        ),
    ),
    "network.slow_close": (
        Case(
            "the connection is still open when the fault is lifted",
            {"delay_ms": 20},
            lambda link: link.download(16 * KIB, close=False, read=16 * KIB),
            (16 * KIB, "open"),
            False,
        ),
        Case(
            "the server closes while armed",
            {"delay_ms": 20},
            lambda link: link.download(16 * KIB),
            (16 * KIB, "eof"),
            True,
        ),
    ),
    "network.noop": (
        Case("an idle connection", {}, lambda link: link.idle(), None, False),
        Case("data passes", {}, lambda link: link.download(16 * KIB), (16 * KIB, "eof"), True),
    ),
    "network.corrupt": (
        Case(
            "the offset lies past the stream",
            {"offset": 1 << 20},
            lambda link: link.download(64 * KIB),
            (64 * KIB, "eof"),
            False,
        ),
        Case(
            "the offset is inside the stream",
            {"offset": 1000},
            lambda link: link.download(64 * KIB),
            (64 * KIB, "eof"),
            True,
        ),
    ),
    "network.slow_open": (
        Case("an idle connection, no first data", {"delay_ms": 20}, lambda link: link.idle(), None, False),
        Case("the first data is held", {"delay_ms": 20}, lambda link: link.download(16 * KIB), (16 * KIB, "eof"), True),
    ),
    "network.loss": (
        Case(
            "loss_rate=0 drops nothing",
            {"loss_rate": 0.0},
            lambda link: link.download(64 * KIB),
            (64 * KIB, "eof"),
            False,
        ),
        Case(
            "loss_rate=1 drops every chunk", {"loss_rate": 1.0}, lambda link: link.download(64 * KIB), (0, "eof"), True
        ),
    ),
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.sock.close()


@pytest.fixture
def server(upstream: Upstream) -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=5) as proxy_server:
        proxy_server.create_proxy("hub", upstream=upstream.address)
        yield proxy_server


def test_every_network_fault_has_both_trigger_cases() -> None:
    """A fault generated from a new toxic type fails here until its not-met and met cases are written."""
    assert set(CASES) == {fault.name for fault in NETWORK_FAULTS}


def _params() -> list[Any]:
    out = []
    for name, cases in CASES.items():
        for case in cases:
            for backend in ("embedded", "rest"):
                marks = []
                if case.waits_on_proxy:
                    marks.append(pytest.mark.xfail(reason=f"waits on the proxy branch: {case.waits_on_proxy}"))
                out.append(pytest.param(name, case, backend, id=f"{name}-{backend}-{case.triggered}", marks=marks))
    return out


@pytest.mark.parametrize(("name", "case", "backend"), _params())
def test_trigger(name: str, case: Case, backend: str, server: EmbeddedToxiproxy, tmp_path: pathlib.Path) -> None:
    """triggered is True exactly when the fault's condition was met while it was armed."""
    link = Link(server)
    if name == "network.down" and case.triggered:
        link.idle()  # a live connection when the proxy goes down
    ctx = FaultContext.for_seed(
        9,
        tmp_path,
        proxy=server if backend == "embedded" else None,
        toxiproxy_url=server.url if backend == "rest" else None,
        target={"proxy_name": "hub"},
        failures_seen=lambda: len(link.failures),
    )
    fault = next(cls for cls in NETWORK_FAULTS if cls.name == name)(**case.params)
    try:
        with fault.inject(ctx):
            seen = case.action(link)
    finally:
        link.close()
    if case.sees == "failures":
        assert link.failures
    else:
        assert seen == case.sees
    assert fault.triggered is case.triggered
    assert fault.verify_reverted(ctx) == []
    assert server.proxy("hub").toxics() == []
    assert fault.describe()["params"]["proxy"] == "hub"
