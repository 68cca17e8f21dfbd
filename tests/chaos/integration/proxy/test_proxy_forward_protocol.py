"""Forward-proxy mode on the wire: the CONNECT handshake, refusals (403, 400, 431, 408, 502), the REST API.

Raw sockets against a real forward proxy; the tunnels end at the loopback echo server, so what goes in must
come back, through the toxics.
"""

from __future__ import annotations

import contextlib
import random
import socket

import pytest
from proxy_helpers import Api, EchoServer, connect, eventually, recv_all, recv_exactly

from chaos.proxy import ApiError, EmbeddedToxiproxy, ProxyHandle, forward

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(server: EmbeddedToxiproxy) -> ProxyHandle:
    return server.create_forward_proxy("egress")


def tunnel(proxy: ProxyHandle, target: str, extra: bytes = b"") -> tuple[socket.socket, bytes]:
    """Send CONNECT (plus ``extra`` in the same write); return the socket and the reply head."""
    sock = connect(proxy.port)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + extra)
    head = b""
    while b"\r\n\r\n" not in head:
        part = sock.recv(1)
        assert part, f"EOF after {head!r}"
        head += part
    return sock, head


def refused(proxy: ProxyHandle, request: bytes) -> tuple[int, str]:
    """Send ``request`` raw; (status, body) of the error reply, read to EOF."""
    with connect(proxy.port) as sock:
        sock.sendall(request)
        reply = recv_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    return int(head.split(b" ")[1]), body.decode()


def test_connect_tunnels_both_ways_through_the_toxics(proxy: ProxyHandle, echo: EchoServer) -> None:
    """CONNECT to the echo server: 200, then bytes go both ways; a downstream toxic acts on the tunnel."""
    sock, head = tunnel(proxy, echo.address)
    assert head == b"HTTP/1.1 200 Connection established\r\n\r\n"
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"
    proxy.add_toxic("limit_data", name="cap", attributes={"bytes": 10})
    sock.sendall(b"0123456789abcdef")
    assert recv_all(sock) == b"0123456789"
    assert proxy.fired() == {"cap": 1}
    sock.close()


def test_bytes_sent_with_the_connect_head_reach_the_upstream(proxy: ProxyHandle, echo: EchoServer) -> None:
    """A client that sends its first bytes in the same write as CONNECT loses none of them."""
    sock, head = tunnel(proxy, f"localhost:{echo.port}", extra=b"early bytes")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert recv_exactly(sock, 11) == b"early bytes"
    sock.close()


def test_a_head_sent_one_byte_at_a_time_is_read(proxy: ProxyHandle, echo: EchoServer) -> None:
    with connect(proxy.port) as sock:
        for byte in f"CONNECT {echo.address} HTTP/1.1\r\n\r\n".encode():
            sock.send(bytes([byte]))
        assert recv_exactly(sock, 39) == b"HTTP/1.1 200 Connection established\r\n\r\n"
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"


@pytest.mark.parametrize("target", ["192.0.2.1:443", "pypi.org:443", "[2001:db8::1]:443", "localhost.example:80"])
def test_a_target_outside_loopback_and_the_allow_list_gets_403(server: EmbeddedToxiproxy, target: str) -> None:
    """403 without a lookup; the body names the target, the allow list and the fix."""
    proxy = server.create_forward_proxy("egress", allow=["huggingface.co:443"])
    status, body = refused(proxy, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
    assert status == 403
    assert body.count("\n") == 1
    assert f"CONNECT '{target}' is refused" in body
    assert "allow list (huggingface.co:443)" in body
    assert "fix: add" in body


def test_an_allowed_name_is_dialled_and_a_refused_port_is_not(server: EmbeddedToxiproxy) -> None:
    """An allowed target is looked up (here it cannot resolve: 502); the same host on another port is 403."""
    proxy = server.create_forward_proxy("egress", allow=["no-such-host.invalid:443"])
    status, body = refused(proxy, b"CONNECT no-such-host.invalid:443 HTTP/1.1\r\n\r\n")
    assert (status, body) == (502, "cannot resolve 'no-such-host.invalid:443'; fix: check the host name\n")
    status, _body = refused(proxy, b"CONNECT no-such-host.invalid:444 HTTP/1.1\r\n\r\n")
    assert status == 403


def test_an_unreachable_loopback_target_gets_502(proxy: ProxyHandle) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    status, body = refused(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert status == 502
    assert f"cannot connect to '127.0.0.1:{port}'" in body


@pytest.mark.parametrize(
    ("request_bytes", "says"),
    [
        (b"garbage\r\n\r\n", "bad request line 'garbage'"),
        (b"CONNECT a:1 HTTP/2\r\n\r\n", "bad request line"),
        (b"CONNECT nohost HTTP/1.1\r\n\r\n", "CONNECT target 'nohost' is not host:port"),
        (b"CONNECT a:99999 HTTP/1.1\r\n\r\n", "has port 99999"),
        (b"CONNECT a:0 HTTP/1.1\r\n\r\n", "has port 0"),
        (b"CONNECT [zz]:1 HTTP/1.1\r\n\r\n", "is not host:port"),
        (b"CONNECT a:1 HTTP/1.1\r\nno colon\r\n\r\n", "bad header line 'no colon'"),
        (b"CONNECT a:1 HTTP/1.1\r\n folded: x\r\n\r\n", "bad header line"),
        (b"CONNECT a:1 HTTP/1.1\r\nX: a\nb\r\n\r\n", "bare CR, LF or NUL"),
        (b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n", "this is a forward proxy"),
        (b"GET https://pypi.org/ HTTP/1.1\r\n\r\n", "use CONNECT host:443"),
        (b"GET http://u:p@localhost/ HTTP/1.1\r\n\r\n", "user info"),
        (b"GET http:///x HTTP/1.1\r\n\r\n", "is not host:port"),
        (b"\xff\xfe\r\n\r\n", "bad request line"),
    ],
)
def test_a_malformed_request_gets_400_with_one_line(proxy: ProxyHandle, request_bytes: bytes, says: str) -> None:
    status, body = refused(proxy, request_bytes)
    assert status == 400
    assert says in body
    assert body.count("\n") == 1


def test_an_oversized_head_gets_431_and_is_not_read_on(proxy: ProxyHandle) -> None:
    """A head over MAX_HEAD_BYTES with no end gets 431; the proxy stops reading it (bounded memory)."""
    with connect(proxy.port) as sock:
        sock.sendall(b"CONNECT a:1 HTTP/1.1\r\n" + b"X-Pad: " + b"a" * (forward.MAX_HEAD_BYTES + 10))
        reply = recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert f"over {forward.MAX_HEAD_BYTES} bytes".encode() in reply
    many = b"CONNECT a:1 HTTP/1.1\r\n" + b"X: y\r\n" * (forward.MAX_HEADER_LINES + 1) + b"\r\n"
    assert refused(proxy, many)[0] == 431


def test_a_client_that_never_finishes_its_head_gets_408(proxy: ProxyHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forward, "HEAD_TIMEOUT_S", 0.3)
    with connect(proxy.port) as sock:
        sock.sendall(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n")
        reply = recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert reply.endswith(b"no complete request head within 0.3 s\n")


def test_disabling_the_proxy_closes_clients_still_in_their_handshake(proxy: ProxyHandle) -> None:
    with connect(proxy.port) as sock:
        sock.sendall(b"CONNECT 127.0.0.1:1")
        proxy.disable()
        # EOF, or an RST when the proxy closed with the head bytes unread
        with contextlib.suppress(ConnectionResetError):
            assert recv_all(sock) == b""
    proxy.enable()
    assert proxy.upstream == "connect"


def test_plain_get_is_rewritten_to_origin_form_with_connection_close(proxy: ProxyHandle) -> None:
    """What the upstream receives for an absolute-form GET: origin form, Host set, hop-by-hop headers gone."""
    upstream = socket.create_server(("127.0.0.1", 0))
    port = upstream.getsockname()[1]
    with connect(proxy.port) as sock:
        sock.sendall(
            f"GET http://localhost:{port}/a/b?c=d HTTP/1.1\r\nHost: elsewhere\r\nProxy-Connection: keep-alive\r\n"
            "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n"
            "body".encode()
        )
        conn, _addr = upstream.accept()
        with conn:
            conn.settimeout(5)
            received = b""
            while not received.endswith(b"body"):
                received += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        assert recv_all(sock) == b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    upstream.close()
    assert received == (
        f"GET /a/b?c=d HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\nbody".encode()
    )


# -- the REST API -------------------------------------------------------------------------------------------------


def test_rest_api_creates_a_forward_proxy_with_toxiproxys_shape(api: Api, echo: EchoServer) -> None:
    """POST /proxies with upstream "connect" and an allow list; the proxy object keeps Toxiproxy's keys."""
    created = api("POST", "/proxies", {"name": "egress", "upstream": "connect", "allow": ["pypi.org:443"]})
    assert created.status == 201, created.body
    assert sorted(created.json()) == ["enabled", "listen", "name", "toxics", "upstream"]
    assert created.json()["upstream"] == "connect"
    assert api("GET", "/proxies/egress/forward").json() == {
        "proxy": "egress",
        "forward": True,
        "allow": ["pypi.org:443"],
    }
    updated = api("POST", "/proxies/egress", {"allow": ["*.hf.co:443"]})
    assert updated.status == 200
    assert api("GET", "/proxies/egress/forward").json()["allow"] == ["*.hf.co:443"]
    toxic = api("POST", "/proxies/egress/toxics", {"type": "limit_data", "attributes": {"bytes": 3}})
    assert toxic.status == 200
    port = int(created.json()["listen"].rsplit(":", 1)[1])
    with connect(port) as sock:
        sock.sendall(f"CONNECT {echo.address} HTTP/1.1\r\n\r\nabcdef".encode())
        assert recv_all(sock) == b"HTTP/1.1 200 Connection established\r\n\r\nabc"
    eventually(lambda: api("GET", "/proxies/egress/fired").json()["toxics"] == {"limit_data_downstream": 1})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "f", "upstream": "connect", "allow": "pypi.org:443"}, "allow must be an array"),
        ({"name": "f", "upstream": "connect", "allow": ["pypi.org"]}, "allow pattern 'pypi.org' is refused"),
        ({"name": "f", "upstream": "connect", "allow": ["a?.org:443"]}, "allow pattern 'a?.org:443' is refused"),
        ({"name": "f", "upstream": "connect", "allow": ["a.org:70000"]}, "allow pattern 'a.org:70000' is refused"),
        ({"name": "f", "upstream": "connect", "allow": [443]}, "allow pattern 443 must be a string"),
        ({"name": "f", "upstream": "127.0.0.1:1", "allow": ["a.org:443"]}, "allow applies to a forward proxy only"),
    ],
)
def test_a_bad_allow_list_gets_400_naming_it(api: Api, body: dict[str, object], says: str) -> None:
    reply = api("POST", "/proxies", body)
    assert reply.status == 400
    assert says in reply.json()["error"]
    assert api("GET", "/proxies").json() == {}


def test_populate_takes_forward_proxies_and_a_plain_proxy_shows_forward_false(api: Api, echo: EchoServer) -> None:
    entries = [
        {"name": "egress", "upstream": "connect", "listen": "127.0.0.1:0", "allow": ["pypi.org:443"]},
        {"name": "plain", "upstream": echo.address, "listen": "127.0.0.1:0"},
    ]
    assert api("POST", "/populate", entries).status == 201
    assert api("GET", "/proxies/egress/forward").json()["allow"] == ["pypi.org:443"]
    assert api("GET", "/proxies/plain/forward").json() == {"proxy": "plain", "forward": False, "allow": []}
    bad = api("POST", "/populate", [{"name": "x", "upstream": "connect", "allow": ["nope"]}])
    assert bad.status == 400
    assert bad.json()["error"].endswith(" at proxy 1")


def test_toxiproxy_python_lists_a_forward_proxy_like_any_other(server: EmbeddedToxiproxy) -> None:
    toxiproxy = pytest.importorskip("toxiproxy", reason="toxiproxy-python is in the dev extra")
    consumer = toxiproxy.api.APIConsumer
    server.create_forward_proxy("egress")
    saved = (consumer.host, consumer.port)
    consumer.host, consumer.port = server.host, server.port
    try:
        proxies = toxiproxy.Toxiproxy().proxies()
    finally:
        consumer.host, consumer.port = saved
    assert proxies["egress"].upstream == "connect"


def test_hostile_heads_get_a_4xx_and_the_proxy_keeps_tunnelling(proxy: ProxyHandle, echo: EchoServer) -> None:
    """Seeded random heads (random bytes, request-like fragments): each is answered with a 4xx (a 502 when it
    happens to name a loopback port where nothing listens), never a 500, and a valid CONNECT works afterwards."""
    rng = random.Random(12)
    pieces = [
        b"CONNECT ",
        b"GET ",
        b"http://",
        b"localhost",
        b":",
        b"443",
        b" HTTP/1.1",
        b"\r\n",
        b"\n",
        b"\r",
        b"Host: x",
        b"[",
        b"]",
        b"::1",
        b"\x00",
        b"\xff",
        b" ",
        b"%",
        b"@",
        b"/",
    ]
    statuses = set()
    answered = 0
    for _ in range(120):
        if rng.random() < 0.5:
            head = rng.randbytes(rng.randrange(1, 200))
        else:
            head = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30)))
        with connect(proxy.port) as sock:
            sock.sendall(head.replace(b"\r\n\r\n", b"") + b"\r\n\r\n")
            reply = recv_all(sock)
        if reply:
            answered += 1
            status = int(reply.split(b" ", 2)[1])
            statuses.add(status)
            assert 400 <= status < 500 or status == 502, reply[:200]
    assert 400 in statuses
    assert answered == 120
    sock, head = tunnel(proxy, echo.address)
    with sock:
        assert head.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"still")
        assert recv_exactly(sock, 5) == b"still"


def test_proxy_env_routes_every_client_variable_and_clears_no_proxy(
    proxy: ProxyHandle, server: EmbeddedToxiproxy, echo: EchoServer
) -> None:
    env = proxy.proxy_env()
    assert env == {
        "HTTPS_PROXY": proxy.url,
        "https_proxy": proxy.url,
        "HTTP_PROXY": proxy.url,
        "http_proxy": proxy.url,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    plain = server.create_proxy("plain", upstream=echo.address)
    with pytest.raises(ApiError, match="'plain' is not a forward proxy; fix: create_forward_proxy"):
        plain.proxy_env()
