"""The forward proxy's pure parts: request heads, the allow list and its patterns, error replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.proxy.forward import (
    MAX_HEAD_BYTES,
    AllowList,
    ForwardError,
    allow_problem,
    error_reply,
    head_end,
    parse_head,
)


def test_connect_head_gives_the_target_and_the_200_reply() -> None:
    request = parse_head(b"CONNECT [::1]:8443 HTTP/1.0\r\nUser-Agent: x\r\n\r\n", b"\x16\x03")
    assert (request.method, request.host, request.port, request.target) == ("CONNECT", "::1", 8443, "[::1]:8443")
    assert request.to_client == b"HTTP/1.0 200 Connection established\r\n\r\n"
    assert request.to_upstream == b"\x16\x03"  # the client's early bytes go first once the tunnel is up


def test_absolute_get_default_port_and_query_and_body_prefix() -> None:
    request = parse_head(b"POST http://LocalHost/x?y HTTP/1.1\r\nContent-Length: 2\r\nKeep-Alive: 5\r\n\r\n", b"ab")
    assert request.target == "LocalHost:80"
    assert request.to_client == b""
    assert request.to_upstream == (
        b"POST /x?y HTTP/1.1\r\nHost: LocalHost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab"
    )


def test_absolute_get_without_path_asks_for_root() -> None:
    assert parse_head(b"GET http://127.0.0.1:81 HTTP/1.1\r\n\r\n").to_upstream.startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"CONNECT a:1 HTTP/1.1\r\n", 400),  # no blank line
        (b"CONNECT  a:1 HTTP/1.1\r\n\r\n", 400),  # two spaces
        (b"CONNECT a:1 HTTP/1.1 x\r\n\r\n", 400),
        (b"CONN\x01ECT a:1 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT -a-:1 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT a b:1 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT a:1 HTTP/1.1\r\nX\x00: y\r\n\r\n", 400),
        (b"GET http://a/\x7f HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT a:1 HTTP/1.1\r\n" + b"A: b\r\n" * 101 + b"\r\n", 431),
    ],
)
def test_bad_heads_raise_forward_error(head: bytes, status: int) -> None:
    with pytest.raises(ForwardError) as caught:
        parse_head(head)
    assert caught.value.status == status
    assert "\n" not in caught.value.message


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_forward_error(data: bytes) -> None:
    """Whatever a client sends, the parser answers a request or a ForwardError (never another exception)."""
    outcome: object
    try:
        outcome = parse_head(data + b"\r\n\r\n").port
    except ForwardError as error:
        outcome = error.status
    assert outcome in (400, 431) or 0 < int(str(outcome)) <= 65535


def test_head_end_finds_the_blank_line_and_caps_the_size() -> None:
    assert head_end(b"CONNECT a:1 HTTP/1.1\r\n\r\nrest") == 24
    assert head_end(b"CONNECT a:1 HTTP/1.1\r\n") == -1
    assert head_end(b"x" * MAX_HEAD_BYTES) == -1
    with pytest.raises(ForwardError) as caught:
        head_end(b"x" * (MAX_HEAD_BYTES + 1))
    assert caught.value.status == 431


def test_allow_list_matching() -> None:
    allow = AllowList(["huggingface.co:443", "*.hf.co:443", "[::2]:*", "10.0.0.1:8080", "*:22"])
    assert allow.permits("HuggingFace.co.", 443)
    assert not allow.permits("huggingface.co", 80)
    assert not allow.permits("evilhuggingface.co", 443)
    assert allow.permits("cdn-lfs.hf.co", 443)
    assert not allow.permits("hf.co", 443)  # '*.' wants a subdomain
    assert not allow.permits("hf.co.evil.com", 443)
    assert allow.permits("::2", 1)
    assert allow.permits("[::2]", 65535)
    assert allow.permits("10.0.0.1", 8080)
    assert not allow.permits("10.0.0.2", 8080)
    assert allow.permits("anything", 22)
    assert not AllowList().permits("localhost", 80)  # loopback needs no pattern: the handshake checks it


@pytest.mark.parametrize(
    ("patterns", "says"),
    [
        ("pypi.org:443", "allow must be an array"),
        (["pypi.org"], "is refused: use host:port"),
        (["pypi.org:"], "is refused"),
        (["*pypi.org:443"], "is refused"),
        (["pypi.org:443x"], "is refused"),
        (["[zz:443"], "is refused"),
        ([None], "must be a string"),
        (["a:1"] * 257, "at most 256"),
    ],
)
def test_bad_allow_patterns_get_one_line(patterns: object, says: str) -> None:
    problem = allow_problem(patterns)
    assert problem is not None
    assert says in problem
    assert "\n" not in problem
    with pytest.raises(ValueError, match="allow"):
        AllowList(patterns)  # type: ignore[arg-type]  # the bad values are the point


def test_error_reply_is_a_complete_closing_response() -> None:
    assert error_reply(403, "no") == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
        b"Connection: close\r\n\r\nno\n"
    )
