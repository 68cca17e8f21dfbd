"""Hypothesis over request paths and bodies: malformed input never gets a 500 and the server keeps serving."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_helpers import Api, EchoServer, connect, recv_exactly

from chaos.proxy import EmbeddedToxiproxy

# Toxiproxy answers 500 for a listen address that does not parse or bind (the spec's error catalogue);
# that is the only 500 allowed.
_LISTEN_ERRORS = ("listen tcp", "address ", "lookup ")

_ATTRIBUTES = ["latency", "jitter", "rate", "average_size", "size_variation", "delay", "timeout", "bytes"]
_names = st.sampled_from(["fz", "fz2", "latency_downstream", "a b", "%2F", "ü"]) | st.text(min_size=1, max_size=8)
_segment = _names.map(lambda s: urllib.parse.quote(s, safe="") or "x")
_paths = st.one_of(
    st.sampled_from(["/proxies", "/populate", "/reset", "/version", "/metrics", "/", "/proxies/", "//proxies"]),
    _segment.map(lambda n: f"/proxies/{n}"),
    _segment.map(lambda n: f"/proxies/{n}/toxics"),
    st.tuples(_segment, _segment).map(lambda t: f"/proxies/{t[0]}/toxics/{t[1]}"),
    st.text(alphabet="abcdefxyz/.%_-?=&", max_size=30).map(lambda s: "/" + s),
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": _names | _json_values,
        "Upstream": st.just("127.0.0.1:1") | _json_values,
        "listen": st.sampled_from(["127.0.0.1:0", "localhost:0", "nope", "", "127.0.0.1:x", "[::1"]) | _json_values,
        "enabled": st.booleans() | _json_values,
        "type": st.sampled_from(["latency", "bandwidth", "slicer", "timeout", "noop", "corrupt", "zzz"]) | _json_values,
        "stream": st.sampled_from(["upstream", "DOWNSTREAM", "", "side"]) | _json_values,
        "toxicity": st.floats(allow_nan=False) | _json_values,
        "attributes": st.dictionaries(
            st.sampled_from(
                ["latency", "jitter", "rate", "average_size", "size_variation", "delay", "timeout", "bytes"]
            ),
            st.integers(-(2**70), 2**70) | _json_values,
            max_size=4,
        )
        | _json_values,
    },
)
_bodies = st.one_of(
    st.binary(max_size=64),
    _json_values.map(lambda v: json.dumps(v).encode()),
    _fields.map(lambda v: json.dumps(v).encode()),
    st.lists(_fields, max_size=3).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[EmbeddedToxiproxy, Api]]:
    with EmbeddedToxiproxy(seed=3) as server:
        yield server, Api(server.host, server.port)


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]), path=_paths, body=_bodies)
def test_no_500_for_malformed_requests(
    fuzzed: tuple[EmbeddedToxiproxy, Api], method: str, path: str, body: bytes
) -> None:
    """Any method, path and body: never a 500 (but for listen errors, as Toxiproxy) and never a dead server."""
    _server, api = fuzzed
    reply = api(method, path, body)
    if reply.status >= 500:
        assert reply.status == 500, reply.body
        assert reply.json()["error"].startswith(_LISTEN_ERRORS), reply.body
    assert api("GET", "/version").status == 200


def test_server_still_proxies_after_fuzz(fuzzed: tuple[EmbeddedToxiproxy, Api], echo: EchoServer) -> None:
    """After the fuzz run the API answers and a fresh proxy still forwards bytes."""
    server, api = fuzzed
    server.reset()
    proxy = server.create_proxy("after-fuzz", upstream=echo.address)
    with connect(proxy.port) as sock:
        sock.sendall(b"alive")
        assert recv_exactly(sock, 5) == b"alive"
    assert api("GET", "/proxies/after-fuzz").status == 200
