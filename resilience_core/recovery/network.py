"""What kind of network failure it was, and which host: ``details["network_cause"]``, ``["host"]``, ``["tls"]``.

The cause is read from what the exception chain offers: structured facts when there are any (an ``errno``, a
``socket.gaierror``, an ``ssl.SSLError``), else its words ("Name or service not known", "Connection refused",
as a ``requests.ConnectionError`` or pip reports them). When several apply, the most specific wins, in
:data:`NETWORK_CAUSES` order: a wrapper saying "Connection aborted ... Name or service not known" is ``dns``.

>>> from resilience_core.recovery.matching import Facts
>>> network_cause([Facts(ConnectionRefusedError(111, "Connection refused"))])
'refused'
>>> host_of("HTTPSConnectionPool(host='huggingface.co', port=443): Read timed out.")
('huggingface.co', 443)
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from resilience_core.recovery.matching import Facts

__all__ = ["NETWORK_CAUSES", "host_of", "host_of_url", "network_cause", "tls_reason"]

NETWORK_CAUSES: tuple[str, ...] = ("tls", "proxy", "dns", "refused", "unreachable", "timeout", "reset", "closed")
"""Every value ``details["network_cause"]`` takes, most specific first."""

_RANK = {cause: rank for rank, cause in enumerate(NETWORK_CAUSES)}

_BY_ERRNO = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.ECONNABORTED: "reset",
    errno.EPIPE: "reset",
    errno.ENETUNREACH: "unreachable",
    errno.ENETDOWN: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.ETIMEDOUT: "timeout",
}
_BY_TYPE = (
    ("ssl.SSLError", "tls"),
    ("urllib3.exceptions.SSLError", "tls"),
    ("requests.exceptions.SSLError", "tls"),
    ("requests.exceptions.ProxyError", "proxy"),
    ("urllib3.exceptions.ProxyError", "proxy"),
    ("httpx.ProxyError", "proxy"),
    ("httpx2.ProxyError", "proxy"),
    ("socket.gaierror", "dns"),
    ("urllib3.exceptions.NameResolutionError", "dns"),
    ("urllib3.exceptions.NewConnectionError", ""),  # a ConnectTimeoutError by inheritance only: its words decide
    ("ConnectionRefusedError", "refused"),
    ("TimeoutError", "timeout"),
    ("httpx.TimeoutException", "timeout"),
    ("httpx2.TimeoutException", "timeout"),
    ("requests.exceptions.Timeout", "timeout"),
    ("urllib3.exceptions.TimeoutError", "timeout"),
    ("ConnectionResetError", "reset"),
    ("ConnectionAbortedError", "reset"),
    ("BrokenPipeError", "reset"),
    ("http.client.IncompleteRead", "closed"),
    ("http.client.RemoteDisconnected", "closed"),
    ("requests.exceptions.ChunkedEncodingError", "closed"),
    ("httpx.RemoteProtocolError", "closed"),
    ("httpx2.RemoteProtocolError", "closed"),
)
# (cause, cheap lowercase keywords that must occur first, pattern); tried in NETWORK_CAUSES order.
_BY_TEXT = (
    ("tls", ("ssl", "certificate", "tls"), r"ssl|certificate|\btls"),
    ("proxy", ("proxy",), r"proxyerror|cannot connect to proxy|tunnel connection failed|proxy authentication"),
    (
        "dns",
        ("name", "resolv", "getaddrinfo", "nodename", "errno -", "11001", "11004"),
        (
            r"name or service not known|temporary failure in name resolution|nodename nor servname|getaddrinfo failed"
            r"|failed to resolve|could not resolve host|no address associated with hostname|nameresolutionerror"
            r"|\[errno -[235]\]|\[(errno|winerror) 1100[14]\]"
        ),
    ),
    (
        "refused",
        ("refused", "errno 111", "errno 61", "10061"),
        r"connection refused|actively refused|econnrefused|\[(errno|winerror) (111|61|10061)\]",
    ),
    (
        "unreachable",
        ("unreachable", "no route", "errno 113", "errno 101", "errno 65", "10051", "10065"),
        (
            r"network is unreachable|no route to host|ehostunreach|enetunreach"
            r"|\[(errno|winerror) (113|101|65|10051|10065)\]"
        ),
    ),
    (
        "timeout",
        ("timed out", "timeout", "errno 110", "errno 60", "10060"),
        r"timed out|read timeout|connect timeout|etimedout|\[(errno|winerror) (110|60|10060)\]",
    ),
    (
        "reset",
        ("reset", "aborted", "broken pipe", "forcibly closed", "errno 104", "errno 54", "10054"),
        (
            r"connection reset|reset by peer|connection aborted|broken pipe|forcibly closed|econnreset"
            r"|\[(errno|winerror) (104|54|10054)\]"
        ),
    ),
    (
        "closed",
        ("closed", "disconnected", "incomplete", "broken:", "eof"),
        (
            r"remote end closed|server disconnected|peer closed|connection broken:|incompleteread|incomplete read"
            r"|connectionclosed|unexpected eof"
        ),
    ),
)
_TEXT_PATTERNS = tuple((cause, keywords, re.compile(pattern)) for cause, keywords, pattern in _BY_TEXT)

_HOST_PATTERNS = (
    re.compile(r"host='([^']+)', port=(\d+)"),
    re.compile(r"\b[a-z][a-z0-9+.-]*://(\[[0-9a-fA-F:.]+\]|[^/:\s'\"<>()]+)(?::(\d+))?", re.IGNORECASE),
    re.compile(r"Failed to resolve '([^']+)'()"),
    re.compile(r"Connection to ([^\s'\"]+) timed out()"),
    re.compile(r"Could not resolve host: ([^\s'\"]+)()"),
)

_TLS_REASONS = (
    ("ca_bundle", r"suitable TLS CA certificate bundle|CA bundle"),
    ("expired", r"certificate has expired|certificate is not yet valid|not yet valid"),
    ("hostname", r"hostname mismatch|doesn't match|not valid for"),
    ("untrusted", r"self[- ]signed|unable to get (local )?issuer|CERTIFICATE_VERIFY_FAILED|certificate verify failed"),
    ("protocol", r"WRONG_VERSION_NUMBER|PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS|handshake failure"),
    ("no_ssl_module", r"SSL module is not available"),
    ("eof", r"EOF occurred|UNEXPECTED_EOF|SSLEOFError"),
)
_TLS_REASON_PATTERNS = tuple((reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in _TLS_REASONS)


_TYPE_CAUSES: dict[type, str | None] = {}


def _type_cause(facts: Facts) -> str | None:
    cls = type(facts.error)
    if cls in _TYPE_CAUSES:
        return _TYPE_CAUSES[cls]
    names = facts.names
    found = next((cause or None for name, cause in _BY_TYPE if name in names), None)
    if len(_TYPE_CAUSES) < 2048:
        _TYPE_CAUSES[cls] = found
    return found


def network_cause(chain: Sequence[Facts]) -> str | None:
    """The most specific cause the chain shows (one of :data:`NETWORK_CAUSES`), or None when it says nothing."""
    best: str | None = None
    for facts in chain:
        found = _BY_ERRNO.get(facts.errno) if facts.errno is not None else None
        by_type = _type_cause(facts)
        if by_type is not None and (found is None or _RANK[by_type] < _RANK[found]):
            found = by_type
        if found is not None and (best is None or _RANK[found] < _RANK[best]):
            best = found
    if best is not None:
        return best  # an errno or an exception type is a fact; the words are only read when there is none
    for facts in chain:
        lowered = facts.lowered()
        for cause, keywords, pattern in _TEXT_PATTERNS:
            if best is not None and _RANK[cause] >= _RANK[best]:
                break
            for keyword in keywords:
                if keyword in lowered:
                    if pattern.search(lowered) is not None:
                        best = cause
                    break
            if best == cause:
                break
    return best


def host_of(text: str) -> tuple[str, int | None] | None:
    """The host (and port, when given) a URL or a client's message names, or None.

    >>> host_of("https://cdn-lfs.hf.co/repos/x")
    ('cdn-lfs.hf.co', None)
    """
    if not ("://" in text or "host=" in text or "resolve" in text or "onnection to " in text):
        return None
    for pattern in _HOST_PATTERNS:
        match = pattern.search(text)
        if match is not None:
            host = match.group(1).strip("[]")
            port = match.group(2)
            return host, int(port) if port else None
    return None


def host_of_url(url: str) -> tuple[str, int | None] | None:
    """The host and port of ``url`` (None when it has no host)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host, port) if host else None


def tls_reason(text: str) -> str:
    """Why a TLS connection failed, as far as the words say: ``untrusted``, ``expired``, ``hostname``,
    ``ca_bundle``, ``protocol``, ``no_ssl_module``, ``eof``, or ``other``."""
    for reason, pattern in _TLS_REASON_PATTERNS:
        if pattern.search(text) is not None:
            return reason
    return "other"
