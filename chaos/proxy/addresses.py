"""``host:port`` strings parsed, resolved and shown the way Go's ``net`` package does for Toxiproxy."""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["AddressError", "bind_listener", "resolve", "resolve_upstream", "show"]


class AddressError(OSError):
    """An address that cannot be parsed, resolved or bound; the message reads like Go's."""


def split_host_port(address: str) -> tuple[str, str]:
    """Split like Go's ``net.SplitHostPort``: ``[::1]:80``, ``host:80``, ``:80``; ``""`` is every interface."""
    if address == "":
        return "", ""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise AddressError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1 :]
        if not rest.startswith(":"):
            raise AddressError(f"address {address}: missing port in address")
        return host, rest[1:]
    colon = address.rfind(":")
    if colon < 0:
        raise AddressError(f"address {address}: missing port in address")
    host, port = address[:colon], address[colon + 1 :]
    if ":" in host:
        raise AddressError(f"address {address}: too many colons in address")
    return host, port


def _port(port: str) -> int:
    if port == "":
        return 0
    if port.isdigit():
        value = int(port)
        if value > 65535:
            raise AddressError(f"address {port}: invalid port")
        return value
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        raise AddressError(f"lookup tcp/{port}: unknown port") from None


def resolve(address: str) -> tuple[socket.AddressFamily, str, int]:
    """(family, ip, port) for a listen address; ``""``/``0.0.0.0``/``::`` mean every interface (dual-stack)."""
    host, port_text = split_host_port(address)
    port = _port(port_text)
    if host in ("", "0.0.0.0", "::"):  # noqa: S104  # Toxiproxy semantics: the user asked for every interface
        if socket.has_dualstack_ipv6():
            return socket.AF_INET6, "::", port
        return socket.AF_INET, "0.0.0.0", port  # noqa: S104  # as above, without IPv6
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise AddressError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # Go prefers IPv4 (localhost -> 127.0.0.1)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, str(sockaddr[0]), port


def show(family: socket.AddressFamily, ip: str, port: int) -> str:
    """An address as Go's ``Addr.String()`` prints it: ``127.0.0.1:80`` or ``[::]:80``."""
    return f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"


def normalise(address: str) -> str:
    """The address as it would be shown once bound (port 0 stays 0); raises AddressError."""
    return show(*resolve(address))


def bind_listener(address: str) -> tuple[socket.socket, str]:
    """A listening socket for ``address`` and the bound address as Toxiproxy reports it."""
    try:
        family, ip, port = resolve(address)
    except AddressError as error:
        raise AddressError(f"listen tcp: {error}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # Go sets it on every listener
        if family == socket.AF_INET6 and ip == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((ip, port))
        sock.listen(512)
    except OSError as error:
        sock.close()
        reason = (error.strerror or str(error)).lower()
        raise AddressError(f"listen tcp {show(family, ip, port)}: bind: {reason}") from None
    bound = sock.getsockname()
    return sock, show(family, str(bound[0]), int(bound[1]))


def resolve_upstream(address: str, *, numeric_only: bool) -> list[tuple[Any, ...]]:
    """The addresses to dial for an upstream ``host:port``, IPv4 first (Go's order); raises OSError.

    With ``numeric_only`` a host name is not looked up (gaierror): the loop thread must never block on DNS.
    """
    host, port_text = split_host_port(address)
    flags = socket.AI_NUMERICHOST if numeric_only else 0
    infos = socket.getaddrinfo(host or "127.0.0.1", _port(port_text), type=socket.SOCK_STREAM, flags=flags)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos
