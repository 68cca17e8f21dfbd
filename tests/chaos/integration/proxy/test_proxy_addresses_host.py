"""Address normalisation that asks the host's network stack (dual-stack IPv6)."""

from __future__ import annotations

import socket

from chaos.proxy.addresses import normalise


def test_normalise_localhost_and_wildcards() -> None:
    """localhost becomes 127.0.0.1; "" and :N become [::]:N on a dual-stack host."""
    assert normalise("localhost:5") == "127.0.0.1:5"
    if socket.has_dualstack_ipv6():
        assert normalise(":5") == "[::]:5"
        assert normalise("0.0.0.0:5") == "[::]:5"
