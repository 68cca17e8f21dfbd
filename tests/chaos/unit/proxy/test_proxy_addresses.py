"""host:port parsing and display as Go's net package does it for Toxiproxy's listen addresses."""

from __future__ import annotations

import socket

import pytest

from chaos.proxy.addresses import AddressError, normalise, split_host_port


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", "80")), ("[::1]:80", ("::1", "80")), (":80", ("", "80")), ("", ("", ""))],
)
def test_split_host_port(address: str, expected: tuple[str, str]) -> None:
    """Host and port split like net.SplitHostPort; "" means every interface on a free port."""
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [("local373", "missing port in address"), ("::1:80", "too many colons"), ("[::1", "missing ']'")],
)
def test_split_errors(address: str, message: str) -> None:
    """Malformed addresses give Go's messages."""
    with pytest.raises(AddressError, match=message):
        split_host_port(address)


def test_normalise_localhost_and_wildcards() -> None:
    """localhost becomes 127.0.0.1; "" and :N become [::]:N on a dual-stack host."""
    assert normalise("localhost:5") == "127.0.0.1:5"
    if socket.has_dualstack_ipv6():
        assert normalise(":5") == "[::]:5"
        assert normalise("0.0.0.0:5") == "[::]:5"
