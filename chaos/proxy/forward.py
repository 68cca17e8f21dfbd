"""Forward-proxy mode (beyond Toxiproxy): a proxy whose upstream is ``connect`` is an HTTP proxy for clients.

A client that honours ``HTTPS_PROXY``/``HTTP_PROXY`` (curl, requests, httpx, pip, huggingface_hub) sends
``CONNECT host:port HTTP/1.1``; the proxy checks the target, dials it, answers ``200 Connection established``
and from then on the tunnelled bytes (TLS included) flow through the proxy's toxics like those of any proxy.
A plain ``GET http://host/path`` (what ``HTTP_PROXY`` gives for ``http://`` URLs) is forwarded with its
request line in origin form and ``Connection: close``, so each request gets its own upstream connection.

Targets: loopback ones always (``127.0.0.0/8``, ``::1``, ``localhost`` and ``*.localhost``, the names dialled
at their loopback addresses only); anything else only when it matches the proxy's allow list (``host:port``
patterns: ``pypi.org:443``, ``*.hf.co:443``). Any other target gets a 403 without being looked up.

The handshake is bounded: a request head of at most :data:`MAX_HEAD_BYTES` within :data:`HEAD_TIMEOUT_S`.
A bad head gets ``400``, an oversized one ``431``, a refused target ``403``, an unreachable one ``502`` or
``504``: each with a one-line body naming the problem and the fix. The proxy's own bytes (the ``200`` reply,
a rewritten request head) do not go through the toxics and are not counted.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chaos.proxy.addresses import AddressError, split_host_port
from chaos.proxy.loop import EventLoop, Timer
from resilience_core.hosts import is_loopback

__all__ = [
    "FORWARD_UPSTREAM",
    "HEAD_TIMEOUT_S",
    "MAX_HEAD_BYTES",
    "AllowList",
    "ForwardError",
    "ForwardRequest",
    "Handshake",
    "allow_problem",
    "parse_head",
]

FORWARD_UPSTREAM = "connect"  # the upstream that makes a proxy a forward proxy; no real host:port reads so
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADER_LINES = 100
MAX_ALLOW_PATTERNS = 256
HEAD_TIMEOUT_S = 30.0
_LINGER_S = 2.0  # after an error reply: read and drop what the client still sends, so it sees the reply
_LINGER_BYTES = 1 << 20
_READ_BYTES = 16 * 1024
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")
_PATTERN_HOST = re.compile(r"\*|\*\.[a-z0-9_.-]+|[a-z0-9_.-]+|\[[0-9a-f:.]+\]")
_PORT = re.compile(r"\*|[0-9]{1,5}")
_HOP_BY_HOP = frozenset(
    {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "upgrade"}
)
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}

AddrInfo = tuple[Any, ...]


class ForwardError(Exception):
    """A request the forward proxy answers with an error status instead of forwarding it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _shown(text: str) -> str:
    """Client text quoted for an error body: at most 80 characters, non-ASCII escaped."""
    return ascii(text[:80])


# -- the allow list ----------------------------------------------------------------------------------------------


def allow_problem(patterns: object) -> str | None:
    """Why ``patterns`` cannot be an allow list (the message of a 400), or None when it can."""
    if not isinstance(patterns, list | tuple):
        return f"allow must be an array of host:port patterns, not {type(patterns).__name__}"
    if len(patterns) > MAX_ALLOW_PATTERNS:
        return f"allow has {len(patterns)} patterns; at most {MAX_ALLOW_PATTERNS}"
    for pattern in patterns:
        if not isinstance(pattern, str):
            return f"allow pattern {pattern!r} must be a string like 'pypi.org:443'"
        try:
            host, port = split_host_port(pattern.lower())
        except AddressError:
            host, port = "", ""
        if ":" in host:
            host = f"[{host}]"
        if not _PATTERN_HOST.fullmatch(host) or not _PORT.fullmatch(port) or (port != "*" and int(port) > 65535):
            return (
                f"allow pattern {_shown(pattern)} is refused: use host:port, where host is a name, '*.' plus a "
                "domain, '*' or an IP literal ([::1] for IPv6) and port is a number or '*', e.g. '*.hf.co:443'"
            )
    return None


class AllowList:
    """The non-loopback targets a forward proxy may reach: ``host:port`` patterns, matched case-insensitively.

    >>> allow = AllowList(["pypi.org:443", "*.hf.co:443", "localhost:*"])
    >>> allow.permits("PyPI.org", 443), allow.permits("cas-bridge.xethub.hf.co", 443), allow.permits("hf.co", 443)
    (True, True, False)
    >>> allow.permits("pypi.org", 80), allow.permits("localhost", 8080)
    (False, True)
    """

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        problem = allow_problem(patterns if isinstance(patterns, str) else list(patterns))
        if problem:
            raise ValueError(problem)
        self.patterns = tuple(patterns)
        self._rules: list[tuple[str, str]] = []
        for pattern in self.patterns:
            host, port = split_host_port(pattern.lower())
            self._rules.append((host, port))

    def permits(self, host: str, port: int) -> bool:
        """Whether ``host:port`` matches a pattern (loopback targets need none)."""
        host = host.lower().strip("[]").rstrip(".")
        for rule_host, rule_port in self._rules:
            if rule_port not in ("*", str(port)):
                continue
            if rule_host in ("*", host):
                return True
            if rule_host.startswith("*.") and host.endswith(rule_host[1:]):
                return True
        return False


def _loopback_target(host: str) -> bool:
    """A loopback address, or a name reserved for loopback (``localhost``, ``*.localhost``: RFC 6761)."""
    return is_loopback(host) or host.lower().rstrip(".").endswith(".localhost")


def loopback_only(infos: list[AddrInfo]) -> list[AddrInfo]:
    """The resolved addresses that are loopback ones."""
    return [info for info in infos if is_loopback(str(info[4][0]))]


# -- the request head --------------------------------------------------------------------------------------------


class ForwardRequest:
    """A parsed request head: the target, and what to send to the client and to the upstream once connected."""

    __slots__ = ("host", "method", "port", "to_client", "to_upstream")

    def __init__(self, method: str, host: str, port: int, to_client: bytes, to_upstream: bytes) -> None:
        self.method = method
        self.host = host
        self.port = port
        self.to_client = to_client
        self.to_upstream = to_upstream

    @property
    def target(self) -> str:
        """``host:port`` as dialled (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def head_end(data: bytes | bytearray) -> int:
    """The index just past the blank line that ends the head, or -1; ForwardError(431) when over the cap."""
    end = data.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
    if end >= 0:
        return end + 4
    if len(data) > MAX_HEAD_BYTES:
        raise ForwardError(431, f"the request head is over {MAX_HEAD_BYTES} bytes; fix: send shorter headers")
    return -1


def _host_port(authority: str, default_port: int | None, what: str) -> tuple[str, int]:
    try:
        if default_port is not None and not authority.endswith("]") and ":" not in authority.rsplit("]", 1)[-1]:
            authority = f"{authority}:{default_port}"
        host, port_text = split_host_port(authority)
    except AddressError:
        host, port_text = "", ""
    ip_literal = ":" in host or authority.startswith("[")
    if ip_literal:
        try:
            socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            host = ""
    if not host or not (ip_literal or _HOST_NAME.fullmatch(host)) or not port_text.isdigit():
        raise ForwardError(400, f"{what} {_shown(authority)} is not host:port; fix: e.g. CONNECT pypi.org:443")
    port = int(port_text)
    if not 0 < port <= 65535:
        raise ForwardError(400, f"{what} {_shown(authority)} has port {port}; fix: a port from 1 to 65535")
    return host, port


def parse_head(head: bytes, rest: bytes = b"") -> ForwardRequest:
    """Parse a request head (up to and including its blank line); raises ForwardError(400) when it is bad.

    ``rest`` (bytes the client sent after the head) goes to the upstream first once it is connected.

    >>> request = parse_head(b"CONNECT pypi.org:443 HTTP/1.1\\r\\nHost: pypi.org:443\\r\\n\\r\\n")
    >>> request.method, request.target, request.to_client
    ('CONNECT', 'pypi.org:443', b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')
    >>> head = b"GET http://[::1]:8000/simple/?x=1 HTTP/1.1\\r\\nProxy-Connection: keep-alive\\r\\n\\r\\n"
    >>> parse_head(head).to_upstream
    b'GET /simple/?x=1 HTTP/1.1\\r\\nHost: [::1]:8000\\r\\nConnection: close\\r\\n\\r\\n'
    """
    text = head.decode("latin-1")
    if not text.endswith("\r\n\r\n"):
        raise ForwardError(400, "the request head does not end with a blank line")
    lines = text[:-4].split("\r\n")
    if any("\n" in line or "\r" in line or "\x00" in line for line in lines):
        raise ForwardError(400, "the request head has a bare CR, LF or NUL; fix: end each line with CRLF")
    if len(lines) - 1 > MAX_HEADER_LINES:
        raise ForwardError(431, f"the request has {len(lines) - 1} header lines; at most {MAX_HEADER_LINES}")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise ForwardError(
            400,
            f"bad request line {_shown(lines[0])}; "
            "fix: 'CONNECT host:port HTTP/1.1' or 'GET http://host/path HTTP/1.1'",
        )
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ForwardError(400, f"bad header line {_shown(line)}; fix: 'Name: value'")
        headers.append((name, value.strip(" \t")))
    if method == "CONNECT":
        host, port = _host_port(target, None, "CONNECT target")
        reply = f"{version} 200 Connection established\r\n\r\n".encode()
        return ForwardRequest(method, host, port, reply, rest)
    return _plain_request(method, target, version, headers, rest)


def _plain_request(
    method: str, target: str, version: str, headers: list[tuple[str, str]], rest: bytes
) -> ForwardRequest:
    lowered = target[:8].lower()
    if lowered.startswith("https://"):
        raise ForwardError(400, f"{method} {_shown(target)}: an https:// URL is tunnelled; fix: use CONNECT host:443")
    if not lowered.startswith("http://"):
        raise ForwardError(
            400,
            f"{method} {_shown(target)}: this is a forward proxy; "
            "fix: send an absolute http:// URL or CONNECT host:port",
        )
    try:
        parts = urllib.parse.urlsplit(target)
    except ValueError:
        raise ForwardError(400, f"{method} {_shown(target)} is not a URL") from None
    if parts.username is not None or parts.password is not None:
        raise ForwardError(400, f"{method} {_shown(target)}: user info in the URL is refused; fix: leave it out")
    host, port = _host_port(parts.netloc, 80, "URL authority")
    path = parts.path or "/"
    if not path.startswith("/"):
        raise ForwardError(400, f"{method} {_shown(target)}: the path must start with '/'")
    if parts.query:
        path += "?" + parts.query
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in path):
        raise ForwardError(400, f"{method} {_shown(target)}: the path has a space or a control character")
    connection_names = {
        token.strip().lower() for name, value in headers if name.lower() == "connection" for token in value.split(",")
    }
    authority = f"[{host}]" if ":" in host else host
    if port != 80:
        authority += f":{port}"
    lines = [f"{method} {path} {version}", f"Host: {authority}"]
    lines += [
        f"{name}: {value}"
        for name, value in headers
        if name.lower() not in _HOP_BY_HOP and name.lower() not in connection_names and name.lower() != "host"
    ]
    lines.append("Connection: close")
    return ForwardRequest(method, host, port, b"", ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest)


def error_reply(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` response whose body is ``message`` and a newline."""
    body = (message + "\n").encode("utf-8", "backslashreplace")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


# -- the handshake in the loop -----------------------------------------------------------------------------------


class Dialler(Protocol):
    """What a handshake needs from its listener (:class:`chaos.proxy.listener.Listener`)."""

    name: str
    loop: EventLoop

    @property
    def allow(self) -> AllowList | None: ...

    def open_upstream(
        self,
        target: str,
        deadline: float,
        done: Callable[[socket.socket | str], None],
        alive: Callable[[], bool],
        accept: Callable[[list[AddrInfo]], list[AddrInfo]] | None,
    ) -> None: ...

    def handshake_done(self, handshake: Handshake, upstream: socket.socket | None) -> None: ...


class Handshake:
    """One client of a forward proxy before its tunnel exists: read the head, check, dial, reply (loop thread)."""

    def __init__(self, owner: Dialler, client: socket.socket, seed: int) -> None:
        self.owner = owner
        self.client = client
        self.seed = seed
        self.closed = False
        self._loop = owner.loop
        self._fd = client.fileno()
        self._data = bytearray()
        self._request: ForwardRequest | None = None
        self._upstream: socket.socket | None = None
        self._pending: dict[int, tuple[socket.socket, memoryview]] = {}
        self._watched: set[int] = set()
        self._lingered = 0
        self._timer: Timer | None = None

    def start(self) -> None:
        """Watch the client for its request head."""
        self.client.setblocking(False)
        self._loop.add(self._fd, select.EPOLLIN, self._on_head)
        self._timer = self._loop.call_at(time.monotonic() + HEAD_TIMEOUT_S, self._head_timed_out)

    def close(self) -> None:
        """Drop the client (and an upstream not handed over yet)."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for fd in self._watched:
            self._loop.remove(fd)
        self._loop.remove(self._fd)
        for sock in (self.client, self._upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)  # FIN first, even if unread data makes close() send an RST
                sock.close()
        self.owner.handshake_done(self, None)

    # -- reading the head ---------------------------------------------------------------------------------------

    def _on_head(self, mask: int) -> None:
        if self._request is not None:  # dialling: only a hang-up matters, the rest waits for the tunnel
            if mask & (select.EPOLLHUP | select.EPOLLERR):
                self.close()
            return
        try:
            data = self.client.recv(_READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self._data += data
        try:
            end = head_end(self._data)
            if end < 0:
                return
            self._loop.modify(self._fd, 0)  # what follows the head waits in the kernel until the tunnel exists
            request = parse_head(bytes(self._data[:end]), bytes(self._data[end:]))
            self._data.clear()
            self._check(request)
        except ForwardError as error:
            self._fail(error.status, error.message)
            return
        self._request = request
        self._dial(request)

    def _head_timed_out(self) -> None:
        self._timer = None
        if not self.closed and self._request is None:
            self._fail(408, f"no complete request head within {HEAD_TIMEOUT_S:g} s")

    def _check(self, request: ForwardRequest) -> None:
        if not (self._listed(request) or _loopback_target(request.host)):
            raise ForwardError(403, self._refusal(request))

    def _listed(self, request: ForwardRequest) -> bool:
        allow = self.owner.allow
        return allow is not None and allow.permits(request.host, request.port)

    def _refusal(self, request: ForwardRequest) -> str:
        allow = self.owner.allow
        listed = ", ".join(allow.patterns) if allow is not None and allow.patterns else "none"
        return (
            f"forward proxy {self.owner.name!r}: {request.method} {_shown(request.target)} is refused: only loopback "
            f"targets and the allow list ({listed}) may be reached; fix: add {_shown(request.target)} to the "
            "proxy's allow list"
        )

    # -- dialling -----------------------------------------------------------------------------------------------

    def _dial(self, request: ForwardRequest) -> None:
        self.owner.open_upstream(
            request.target,
            time.monotonic() + HEAD_TIMEOUT_S,
            self._dialled,
            lambda: not self.closed,
            None if self._listed(request) else loopback_only,
        )

    def _dialled(self, result: socket.socket | str) -> None:
        request = self._request
        if self.closed or request is None:
            if isinstance(result, socket.socket):
                result.close()
            return
        if isinstance(result, str):
            target = _shown(request.target)
            messages = {
                "resolve": (502, f"cannot resolve {target}; fix: check the host name"),
                "refused": (403, self._refusal(request)),
                "timeout": (504, f"connecting to {target} timed out"),
            }
            status, message = messages.get(result, (502, f"cannot connect to {target} ({result})"))
            self._fail(status, message)
            return
        self._upstream = result
        result.setblocking(False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock, data in ((self.client, request.to_client), (result, request.to_upstream)):
            if data:
                self._pending[sock.fileno()] = (sock, memoryview(data))
        self._flush()

    def _flush(self) -> None:
        for fd, (sock, pending) in list(self._pending.items()):
            view = pending
            while view:
                try:
                    sent = sock.send(view)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.close()
                    return
                view = view[sent:]
            if view:
                self._pending[fd] = (sock, view)
                self._watch_out(fd)
            else:
                del self._pending[fd]
                if fd in self._watched:
                    self._loop.modify(fd, 0)
        if not self._pending:
            self._hand_over()

    def _watch_out(self, fd: int) -> None:
        if fd not in self._watched:
            self._watched.add(fd)
            self._loop.remove(fd)  # the client's head handler; the upstream is not watched yet
            self._loop.add(fd, select.EPOLLOUT, lambda _mask: self._flush())

    def _hand_over(self) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        self.closed = True
        self._loop.remove(self._fd)
        for fd in self._watched:
            self._loop.remove(fd)
        self._upstream = None
        self.owner.handshake_done(self, upstream)

    # -- refusing -----------------------------------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        """Send the error reply, then read and drop the client's bytes for a moment before closing."""
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(OSError):
            self.client.send(error_reply(status, message))  # small: a fresh socket's buffer takes it whole
            self.client.shutdown(socket.SHUT_WR)
        self._request = None
        self._loop.remove(self._fd)
        self._loop.add(self._fd, select.EPOLLIN, self._on_linger)
        self._timer = self._loop.call_at(time.monotonic() + _LINGER_S, self.close)

    def _on_linger(self, _mask: int) -> None:
        try:
            data = self.client.recv(_READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self._lingered += len(data)
        if not data or self._lingered > _LINGER_BYTES:
            self.close()
