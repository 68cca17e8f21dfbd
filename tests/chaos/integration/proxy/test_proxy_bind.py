"""Binding listen addresses on real sockets, with Go-style errors."""

from __future__ import annotations

import pytest

from chaos.proxy.addresses import AddressError, bind_listener


def test_bind_reports_bound_port_and_go_style_errors() -> None:
    """Binding port 0 reports the real port; a taken port fails with `bind: address already in use`."""
    sock, shown = bind_listener("127.0.0.1:0")
    try:
        assert not shown.endswith(":0")
        with pytest.raises(AddressError, match=f"listen tcp {shown}: bind: address already in use"):
            bind_listener(shown)
    finally:
        sock.close()
