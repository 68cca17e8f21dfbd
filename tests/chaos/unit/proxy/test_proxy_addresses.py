"""host:port parsing and display as Go's net package does it for Toxiproxy's listen addresses."""

from __future__ import annotations

import pytest

from chaos.proxy.addresses import AddressError, split_host_port


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
