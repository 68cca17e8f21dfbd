"""REST API conformance for toxics: create, list, show, update, delete, with Toxiproxy's checks and order."""

from __future__ import annotations

import pytest
from proxy_helpers import Api, EchoServer, connect, recv_exactly


@pytest.fixture
def proxied(api: Api, echo: EchoServer) -> str:
    api("POST", "/proxies", {"name": "p", "upstream": echo.address, "listen": "127.0.0.1:0"})
    return "/proxies/p/toxics"


def test_create_defaults(api: Api, proxied: str) -> None:
    """POST a toxic: 200 (not 201), default stream downstream, name <type>_<stream>, toxicity 1, zero attributes."""
    reply = api("POST", proxied, {"type": "latency"})
    assert reply.status == 200
    assert reply.body == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency",'
        b'"stream":"downstream","toxicity":1}'
    )


def test_noop_attributes_serialise_as_empty_object(api: Api, proxied: str) -> None:
    """A noop toxic is accepted and its attributes are `{}`."""
    assert api("POST", proxied, {"type": "noop"}).json()["attributes"] == {}


def test_stream_is_case_insensitive_and_kept_verbatim(api: Api, proxied: str) -> None:
    """`UPSTREAM` is a valid stream, echoed as given, and the default name uses it verbatim."""
    toxic = api("POST", proxied, {"type": "noop", "stream": "UPSTREAM"}).json()
    assert (toxic["stream"], toxic["name"]) == ("UPSTREAM", "noop_UPSTREAM")


def test_validation_order(api: Api, proxied: str) -> None:
    """404 proxy, 400 body, 400 stream (even ""), 400 type, 409 duplicate name across streams, 400 attributes."""
    assert api("POST", "/proxies/none/toxics", {"type": "noop"}).status == 404
    assert api("POST", proxied, b"[1]").status == 400
    invalid_stream = api("POST", proxied, {"type": "bogus", "stream": ""})
    assert invalid_stream.json() == {
        "error": "stream was invalid, can be either upstream or downstream",
        "status": 400,
    }
    assert api("POST", proxied, {"type": "bogus"}).json() == {"error": "invalid toxic type", "status": 400}
    assert api("POST", proxied, {}).json()["error"] == "invalid toxic type"
    api("POST", proxied, {"type": "noop", "name": "n", "stream": "upstream"})
    duplicate = api("POST", proxied, {"type": "latency", "name": "n", "stream": "downstream"})
    assert duplicate.json() == {"error": "toxic already exists", "status": 409}
    wrong_type = api("POST", proxied, {"type": "latency", "attributes": {"latency": 1.5}})
    assert wrong_type.status == 400
    assert wrong_type.json()["error"].startswith("bad request body:")
    assert api("POST", proxied, {"type": "latency", "attributes": 7}).status == 400


def test_negative_or_out_of_range_attributes_are_400(api: Api, proxied: str) -> None:
    """Where Go would panic or stall (negative rate, slicer sizes) the API answers 400 naming the attribute."""
    reply = api("POST", proxied, {"type": "bandwidth", "attributes": {"rate": -1}})
    assert reply.status == 400
    assert "rate=-1" in reply.json()["error"]
    assert api("POST", proxied, {"type": "corrupt", "attributes": {"probability": 2}}).status == 400


def test_list_order_upstream_first(api: Api, proxied: str) -> None:
    """GET toxics lists upstream toxics first, then downstream, each in insertion order."""
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        api("POST", proxied, {"type": "noop", "name": name, "stream": stream})
    assert [t["name"] for t in api("GET", proxied).json()] == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in api("GET", "/proxies/p").json()["toxics"]] == ["u1", "u2", "d1", "d2"]


def test_show_update_delete(api: Api, proxied: str) -> None:
    """Only the supplied attributes change; toxicity only if present; name/type/stream cannot change."""
    api("POST", proxied, {"type": "latency", "attributes": {"latency": 100, "jitter": 10}, "toxicity": 0.5})
    path = f"{proxied}/latency_downstream"
    assert api("GET", path).json()["attributes"] == {"latency": 100, "jitter": 10}
    updated = api("PATCH", path, {"attributes": {"jitter": 3}, "name": "x", "type": "noop", "stream": "upstream"})
    assert updated.status == 200
    assert updated.json() == {
        "attributes": {"latency": 100, "jitter": 3},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
    }
    assert api("POST", path, {"toxicity": 1}).json()["toxicity"] == 1
    assert api("POST", path, b"").status == 400
    assert api("POST", path, {"attributes": {"latency": "slow"}}).status == 400
    assert api("GET", path).json()["attributes"]["latency"] == 100  # a failed update changes nothing
    assert api("POST", f"{proxied}/none", {"toxicity": 1}).json() == {"error": "toxic not found", "status": 404}
    assert api("GET", f"{proxied}/none").status == 404
    assert api("GET", "/proxies/none/toxics/latency_downstream").json()["error"] == "proxy not found"
    deleted = api("DELETE", path)
    assert (deleted.status, deleted.body) == (204, b"")
    assert api("DELETE", path).status == 404


def test_toxicity_is_not_range_checked(api: Api, proxied: str) -> None:
    """Toxicity outside 0..1 is accepted as Toxiproxy does (>= 1 always applies, <= 0 never)."""
    assert api("POST", proxied, {"type": "noop", "toxicity": 7}).json()["toxicity"] == 7
    assert api("POST", proxied, {"type": "noop", "name": "z", "toxicity": -1}).json()["toxicity"] == -1


def test_beyond_toxic_types_are_accepted(api: Api, proxied: str) -> None:
    """corrupt, slow_open, packet_loss and reset_peer.after_bytes are accepted with their defaults."""
    assert api("POST", proxied, {"type": "corrupt"}).json()["attributes"] == {"probability": 0.0, "offset": -1}
    assert api("POST", proxied, {"type": "slow_open"}).json()["attributes"] == {"delay": 0}
    loss = api("POST", proxied, {"type": "packet_loss"}).json()["attributes"]
    assert loss == {"loss_rate": 0.1, "correlation": 0.0}
    reset = api("POST", proxied, {"type": "reset_peer", "attributes": {"after_bytes": 10}}).json()
    assert reset["attributes"] == {"timeout": 0, "after_bytes": 10}


def test_fired_counts_per_toxic_over_the_api(api: Api, proxied: str) -> None:
    """GET /proxies/{name}/fired counts each toxic's firings; the toxic objects keep Toxiproxy's exact shape."""
    api("POST", proxied, {"type": "latency", "name": "slow", "attributes": {"latency": 1}})
    api("POST", proxied, {"type": "reset_peer", "name": "cut", "attributes": {"timeout": 0, "after_bytes": 1 << 30}})
    assert api("GET", "/proxies/p/fired").json() == {"proxy": "p", "toxics": {"slow": 0, "cut": 0}}
    port = int(api("GET", "/proxies/p").json()["listen"].rpartition(":")[2])
    sock = connect(port)
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"
    sock.close()
    fired = api("GET", "/proxies/p/fired").json()["toxics"]
    assert fired["slow"] >= 1  # the echo came back delayed
    assert fired["cut"] == 0  # 4 bytes never reach after_bytes: no reset was sent
    assert "fired" not in api("GET", "/proxies/p/toxics/slow").json()
    assert api("GET", "/proxies/none/fired").status == 404
