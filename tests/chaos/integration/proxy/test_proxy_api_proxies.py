"""REST API conformance for proxies, populate, reset, version, routing and headers (Toxiproxy 2.12)."""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time

import pytest
from proxy_helpers import Api, EchoServer

from chaos.proxy import EmbeddedToxiproxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_list_is_empty_object(api: Api) -> None:
    """GET /proxies with no proxies is 200 `{}` as application/json."""
    reply = api("GET", "/proxies")
    assert (reply.status, reply.body) == (200, b"{}")
    assert reply.headers["content-type"] == "application/json"


def test_create_returns_201_with_bound_listen(api: Api, echo: EchoServer) -> None:
    """POST /proxies answers 201 with the proxy, listen replaced by the bound address, compact JSON."""
    reply = api("POST", "/proxies", {"name": "a", "upstream": echo.address, "listen": "localhost:0"})
    assert reply.status == 201
    body = reply.json()
    assert re.fullmatch(r"127\.0\.0\.1:\d+", body["listen"])
    assert not body["listen"].endswith(":0")
    assert body == {"name": "a", "listen": body["listen"], "upstream": echo.address, "enabled": True, "toxics": []}
    assert b" " not in reply.body
    assert not reply.body.endswith(b"\n")
    assert list(body) == ["name", "listen", "upstream", "enabled", "toxics"]


def test_keys_match_case_insensitively(api: Api, echo: EchoServer) -> None:
    """`Name` and `Upstream` work like `name` and `upstream` (#119); unknown keys are ignored."""
    reply = api("POST", "/proxies", {"Name": "b", "UPSTREAM": echo.address, "Listen": "127.0.0.1:0", "x": 1})
    assert reply.status == 201
    assert reply.json()["name"] == "b"


def test_create_errors_in_order(api: Api, echo: EchoServer) -> None:
    """Bad JSON 400, missing name 400, missing upstream 400, duplicate 409, bind failure 500; JSON error bodies."""
    reply = api("POST", "/proxies", b"")
    assert reply.status == 400
    assert reply.body == b'{"error":"bad request body: EOF","status":400}\n'
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert api("POST", "/proxies", b"{nope").status == 400
    assert api("POST", "/proxies", {"name": "a", "upstream": 5}).status == 400
    assert api("POST", "/proxies", {"upstream": echo.address}).json() == {
        "error": "missing required field: name",
        "status": 400,
    }
    assert api("POST", "/proxies", {"name": "a"}).json()["error"] == "missing required field: upstream"
    created = api("POST", "/proxies", {"name": "a", "upstream": echo.address, "listen": "127.0.0.1:0"})
    assert created.status == 201
    assert api("POST", "/proxies", {"name": "a", "upstream": "x:1", "listen": "bad"}).json() == {
        "error": "proxy already exists",
        "status": 409,
    }
    taken = created.json()["listen"]
    failed = api("POST", "/proxies", {"name": "b", "upstream": echo.address, "listen": taken})
    assert failed.status == 500
    assert failed.json()["error"] == f"listen tcp {taken}: bind: address already in use"
    missing_port = api("POST", "/proxies", {"name": "c", "upstream": echo.address, "listen": "local373"})
    assert (missing_port.status, missing_port.json()["error"]) == (
        500,
        "listen tcp: address local373: missing port in address",
    )
    assert set(api("GET", "/proxies").json()) == {"a"}


def test_only_first_json_value_is_read(api: Api, echo: EchoServer) -> None:
    """Anything after the first JSON value is ignored, as Go's json.Decoder does."""
    body = b'{"name":"t","upstream":"%s","listen":"127.0.0.1:0"} garbage {' % echo.address.encode()
    assert api("POST", "/proxies", body).status == 201


def test_created_disabled_echoes_listen_unresolved(api: Api, echo: EchoServer) -> None:
    """A proxy created disabled keeps `listen` exactly as given (TestCreateDisabledProxy)."""
    body = {"name": "d", "upstream": echo.address, "listen": "localhost:3310", "enabled": False}
    reply = api("POST", "/proxies", body)
    assert reply.status == 201
    assert reply.json()["listen"] == "localhost:3310"
    assert reply.json()["enabled"] is False


def test_empty_listen_binds_all_interfaces(api: Api, echo: EchoServer) -> None:
    """`listen: ""` binds every interface and reports `[::]:N` (dual-stack)."""
    reply = api("POST", "/proxies", {"name": "w", "upstream": echo.address})
    assert re.fullmatch(r"\[::\]:\d+", reply.json()["listen"])


def test_get_update_delete(api: Api, echo: EchoServer) -> None:
    """GET 200/404; POST and PATCH update 200; DELETE 204 with an empty body, then 404."""
    listen = api("POST", "/proxies", {"name": "p", "upstream": echo.address, "listen": "127.0.0.1:0"}).json()["listen"]
    assert api("GET", "/proxies/p").json()["listen"] == listen
    assert api("GET", "/proxies/zz").json() == {"error": "proxy not found", "status": 404}
    disabled = api("PATCH", "/proxies/p", {"enabled": False, "name": "ignored"})
    assert (disabled.status, disabled.json()["enabled"], disabled.json()["name"]) == (200, False, "p")
    enabled = api("POST", "/proxies/p", {"enabled": True})
    assert enabled.json()["enabled"] is True
    assert enabled.json()["listen"] == listen  # re-enabling reuses the stored address
    assert api("POST", "/proxies/p", b"").status == 400
    assert api("POST", "/proxies/zz", {"enabled": True}).status == 404
    assert api("POST", "/proxies/p", {"listen": "nope"}).status == 500
    deleted = api("DELETE", "/proxies/p")
    assert (deleted.status, deleted.body) == (204, b"")
    assert api("DELETE", "/proxies/p").status == 404


def test_update_listen_moves_the_port(api: Api, echo: EchoServer) -> None:
    """Changing listen stops the proxy and starts it on the new address."""
    api("POST", "/proxies", {"name": "m", "upstream": echo.address, "listen": "127.0.0.1:0"})
    port = _free_port()
    moved = api("POST", "/proxies/m", {"listen": f"127.0.0.1:{port}"})
    assert moved.json()["listen"] == f"127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"hi")
        assert sock.recv(2) == b"hi"


def test_populate_semantics(api: Api, echo: EchoServer) -> None:
    """Populate: 201 with proxies; same name+listen+upstream untouched (toxics and enabled kept); changes replace."""
    port = _free_port()
    first = api("POST", "/populate", [{"name": "one", "upstream": echo.address, "listen": f"localhost:{port}"}])
    assert first.status == 201
    assert first.json()["proxies"][0]["listen"] == f"127.0.0.1:{port}"
    api("POST", "/proxies/one/toxics", {"type": "latency", "attributes": {"latency": 5}})
    again = api(
        "POST",
        "/populate",
        [{"name": "one", "upstream": echo.address, "listen": f"localhost:{port}", "enabled": False}],
    )
    proxy = again.json()["proxies"][0]
    assert (proxy["enabled"], len(proxy["toxics"])) == (True, 1)
    replaced = api("POST", "/populate", [{"name": "one", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}])
    assert replaced.json()["proxies"][0]["toxics"] == []
    assert replaced.json()["proxies"][0]["upstream"] == "127.0.0.1:1"


def test_populate_errors(api: Api, echo: EchoServer) -> None:
    """Populate validates all first (400, proxies null), an empty array is 201 null, a bind failure keeps the rest."""
    bad = api("POST", "/populate", [{"name": "x", "upstream": echo.address}, {"name": "y"}])
    assert bad.status == 400
    assert bad.json() == {"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": None}
    assert api("GET", "/proxies").json() == {}
    assert api("POST", "/populate", {"name": "x"}).json()["proxies"] is None
    empty = api("POST", "/populate", [])
    assert (empty.status, empty.body) == (201, b'{"proxies":null}')
    taken = api("POST", "/proxies", {"name": "t", "upstream": echo.address, "listen": "127.0.0.1:0"}).json()["listen"]
    partial = api(
        "POST",
        "/populate",
        [
            {"name": "ok", "upstream": echo.address, "listen": "127.0.0.1:0"},
            {"name": "clash", "upstream": "u:1", "listen": taken},
        ],
    )
    assert partial.status == 500
    assert [p["name"] for p in partial.json()["proxies"]] == ["ok"]


def test_reset_enables_and_clears(api: Api, echo: EchoServer) -> None:
    """POST /reset: 204, every proxy enabled again and every toxic gone; the body is ignored."""
    api("POST", "/proxies", {"name": "r", "upstream": echo.address, "listen": "127.0.0.1:0", "enabled": False})
    api("POST", "/proxies/r/toxics", {"type": "noop"})
    reply = api("POST", "/reset", b"not json")
    assert (reply.status, reply.body) == (204, b"")
    proxy = api("GET", "/proxies/r").json()
    assert (proxy["enabled"], proxy["toxics"]) == (True, [])


def test_version(api: Api) -> None:
    """GET /version: `{"version": "2.12.0"}` plus newline, content type application/json;charset=utf-8."""
    reply = api("GET", "/version")
    assert reply.body == b'{"version": "2.12.0"}\n'
    assert reply.headers["content-type"] == "application/json;charset=utf-8"


def test_routing_404_405_301(api: Api) -> None:
    """Unknown path 404 text; known path wrong method 405 empty; trailing slash 404; unclean path 301."""
    missing = api("GET", "/nope")
    assert (missing.status, missing.body) == (404, b"404 page not found\n")
    assert api("GET", "/proxies/").status == 404
    wrong = api("PUT", "/proxies")
    assert (wrong.status, wrong.body) == (405, b"")
    assert api("DELETE", "/version").status == 405
    assert api("GET", "/metrics").status == 404  # only with proxy metrics on
    moved = api("GET", "/a/../proxies")
    assert (moved.status, moved.headers["location"]) == (301, "/proxies")


def test_request_id_and_browser_block(api: Api) -> None:
    """Matched routes carry X-Toxiproxy-Request-Id; a Mozilla user agent gets 403 `User agent not allowed`."""
    assert len(api("GET", "/proxies").headers["x-toxiproxy-request-id"]) == 20
    browser = api("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (browser.status, browser.body) == (403, b"User agent not allowed\n")


def test_path_variables_match_the_decoded_path(api: Api, echo: EchoServer) -> None:
    """An encoded slash is decoded before matching: /proxies/a%2Ftoxics lists proxy a's toxics."""
    api("POST", "/proxies", {"name": "a", "upstream": echo.address, "listen": "127.0.0.1:0"})
    assert api("GET", "/proxies/a%2Ftoxics").json() == []


def test_metrics_count_bytes_when_connections_end(echo: EchoServer) -> None:
    """With proxy metrics on, /metrics serves Prometheus counters updated when a connection closes."""
    with EmbeddedToxiproxy(proxy_metrics=True) as server:
        api = Api(server.host, server.port)
        proxy = server.create_proxy("m", upstream=echo.address)
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
            sock.sendall(b"12345")
            assert sock.recv(5) == b"12345"
        text = ""
        for _ in range(100):
            text = api("POST", "/metrics").body.decode()
            if 'direction="upstream",listener' in text and "} 5" in text:
                break
            time.sleep(0.01)
        assert "# TYPE toxiproxy_proxy_sent_bytes_total counter" in text
        line = next(
            x for x in text.splitlines() if x.startswith('toxiproxy_proxy_received_bytes_total{direction="upstream"')
        )
        assert line.endswith(" 5")
        assert f'proxy="m",upstream="{echo.address}"' in line


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_proxy_update_methods(api: Api, echo: EchoServer, method: str) -> None:
    """Both POST (deprecated) and PATCH update a proxy."""
    api("POST", "/proxies", {"name": "u", "upstream": echo.address, "listen": "127.0.0.1:0"})
    assert api(method, "/proxies/u", {"upstream": "127.0.0.1:2"}).json()["upstream"] == "127.0.0.1:2"


def test_keep_alive_survives_a_get_with_a_body(server: EmbeddedToxiproxy) -> None:
    """A body sent with a GET is consumed, so the next request on the same keep-alive connection is parsed."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/version", body=b'{"junk": true}')
        first = conn.getresponse()
        assert (first.status, first.read()) == (200, b'{"version": "2.12.0"}\n')
        conn.request("GET", "/proxies")
        second = conn.getresponse()
        assert (second.status, second.read()) == (200, b"{}")
    finally:
        conn.close()


def test_stop_leaves_no_threads_or_ports(echo: EchoServer) -> None:
    """Stopping the server closes the proxy's port, its connections and ends every proxy thread."""
    server = EmbeddedToxiproxy().start()
    proxy = server.create_proxy("gone", upstream=echo.address)
    port = proxy.port
    live = socket.create_connection(("127.0.0.1", port), timeout=5)
    live.sendall(b"x")
    assert live.recv(1) == b"x"
    server.stop()
    assert live.recv(1) == b""
    live.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name.startswith("proxy-") for t in threading.enumerate()):
        time.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("proxy-")]


def test_encoded_newline_does_not_match_a_route(api: Api) -> None:
    """`/reset%0A` decodes to `/reset\\n`, which is not `/reset`: 404, not a reset."""
    assert api("POST", "/reset%0A").status == 404
