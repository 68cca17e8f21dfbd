"""Out of pipes (no descriptors left): links read into memory instead, and bytes still arrive exact and in order."""

from __future__ import annotations

import itertools
import random

import pytest
from proxy_helpers import EchoServer, connect, eventually, recv_exactly

from chaos.proxy import EmbeddedToxiproxy
from chaos.proxy.pipes import Pipe, PipePool

_PAYLOAD = random.Random(5).randbytes(300_000)


@pytest.mark.parametrize("every", [0, 2], ids=["never", "every-other-time"])
@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [(None, {}), ("latency", {"latency": 1}), ("slicer", {"average_size": 5000, "size_variation": 100})],
)
def test_bytes_exact_when_pipes_run_out(
    monkeypatch: pytest.MonkeyPatch,
    server: EmbeddedToxiproxy,
    echo: EchoServer,
    every: int,
    type_name: str | None,
    attributes: dict[str, int],
) -> None:
    """With no pipe (or a pipe only every other time) each read goes to memory; the stream is unchanged."""
    real_get = PipePool.get
    turns = itertools.count()

    def scarce(pool: PipePool) -> Pipe | None:
        if every and next(turns) % every == 0:
            return real_get(pool)
        return None

    monkeypatch.setattr(PipePool, "get", scarce)
    proxy = server.create_proxy("p", upstream=echo.address)
    if type_name:
        proxy.add_toxic(type_name, name="t", attributes=attributes)
    with connect(proxy.port, timeout_s=20) as sock:
        sock.sendall(_PAYLOAD)
        assert recv_exactly(sock, len(_PAYLOAD)) == _PAYLOAD
    eventually(lambda: proxy.bytes_downstream == len(_PAYLOAD))
