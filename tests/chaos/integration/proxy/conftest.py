"""Fixtures for the embedded Toxiproxy tests: a server, its API and a loopback echo server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proxy_helpers import Api, EchoServer

from chaos.proxy import EmbeddedToxiproxy


@pytest.fixture
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=7) as embedded:
        yield embedded


@pytest.fixture
def api(server: EmbeddedToxiproxy) -> Api:
    return Api(server.host, server.port)


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoServer]:
    echo_server = EchoServer()
    yield echo_server
    echo_server.sock.close()
