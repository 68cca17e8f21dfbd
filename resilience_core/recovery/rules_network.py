"""The built-in network rules: HTTP clients' exception types, socket errnos, TLS, and the words a wrapped error uses.

A network failure often reaches the installer wrapped: ``RuntimeError("Connection reset by peer")``, a
``requests.ConnectionError`` whose text says ``Read timed out``, pip's output. The message rules below read
those words (guarded by a keyword prefilter, so an unrelated message never runs the regex). TLS rules sit above
the permission band: ``ssl.SSLCertVerificationError`` carries ``errno=1``, which is not ``EPERM`` but the SSL
library's own code. A certificate the client does not trust is never retried blindly (retrying cannot cure it).
Which kind of network failure it was (``details["network_cause"]``) is worked out in :mod:`.network`.
"""

from __future__ import annotations

import errno

from resilience_core.recovery.matching import Rule
from resilience_core.recovery.taxonomy import FailureType as F
from resilience_core.recovery.taxonomy import Severity as S

__all__ = ["build_network_rules"]

_TLS_CERTIFICATE = (
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|self[- ]signed certificate|unable to get (local )?issuer"
    r"|certificate has expired|certificate is not yet valid|hostname mismatch|doesn't match either of"
    r"|SSLCertVerificationError|problem confirming the ssl certificate|suitable TLS CA certificate bundle"
)
_TLS_PROTOCOL = (
    r"WRONG_VERSION_NUMBER|TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE"
    r"|SSL module is not available|sslv3 alert handshake failure"
)
_TLS_TRANSIENT = r"SSLError|SSLEOFError|EOF occurred in violation of protocol|UNEXPECTED_EOF_WHILE_READING|\[SSL: "
_CONNECTION_LOST = (
    r"Connection (reset|refused|aborted)|reset by peer|Broken pipe|Network is unreachable|No route to host"
    r"|Name or service not known|Temporary failure in name resolution|nodename nor servname|getaddrinfo failed"
    r"|Failed to resolve|Could not resolve host|No address associated with hostname"
    r"|Remote end closed connection|Server disconnected|peer closed connection|Connection broken"
    r"|forcibly closed by the remote host|actively refused|ECONNRESET|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH"
    r"|\[(Errno|WinError) (104|111|113|101|-2|-3|-5|54|61|65|10054|10061|10065|10051|11001|11004)\]"
)
# "timed out after N seconds" is subprocess.TimeoutExpired's wording for any hung command, not a network wait.
_TIMED_OUT = (
    r"timed out(?! after [\d.]+ seconds)|read timeout|connect timeout|ETIMEDOUT|deadline exceeded"
    r"|\[(Errno|WinError) (110|60|10060)\]"
)


def build_network_rules() -> list[Rule]:
    """A fresh list of the network, timeout and TLS rules (priorities 93-40, see :mod:`.rules` for the bands)."""
    return [
        # --- TLS: above the permission band (90), since SSL errors carry the SSL library's own errno ---------
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.HIGH,
            message=_TLS_CERTIFICATE,
            priority=93,
            retryable=False,
            name="tls-certificate",
            keywords=("certificate", "ssl", "hostname"),
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.HIGH,
            message=_TLS_PROTOCOL,
            priority=92,
            retryable=False,
            name="tls-protocol",
            keywords=("version", "protocol", "ssl module", "handshake"),
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=(
                "ssl.SSLError",
                "urllib3.SSLError",
                "urllib3.exceptions.SSLError",
                "requests.SSLError",
                "requests.exceptions.SSLError",
            ),
            priority=91,
            name="tls-error",
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            message=_TLS_TRANSIENT,
            priority=91,
            name="tls-message",
            keywords=("ssl", "eof occurred"),
        ),
        # --- exception types of the HTTP clients -------------------------------------------------------------
        # urllib3's NewConnectionError (and NameResolutionError) subclass ConnectTimeoutError for history's sake: a
        # refused or unresolvable connection is not a timeout.
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=("urllib3.NewConnectionError", "urllib3.exceptions.NewConnectionError"),
            priority=53,
            name="http-client-connect",
        ),
        Rule(
            F.NETWORK_TIMEOUT,
            S.MEDIUM,
            types=(
                "httpx.TimeoutException",
                "httpx2.TimeoutException",
                "requests.Timeout",
                "requests.exceptions.Timeout",
                "urllib3.TimeoutError",
                "urllib3.exceptions.TimeoutError",
                "httpcore.TimeoutException",
                "httpcore2.TimeoutException",
            ),
            priority=52,
            name="http-client-timeout",
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=(
                "httpx.NetworkError",
                "httpx.RemoteProtocolError",
                "httpx2.NetworkError",
                "httpx2.RemoteProtocolError",
                "httpcore.NetworkError",
                "httpcore.RemoteProtocolError",
                "httpcore2.NetworkError",
                "httpcore2.RemoteProtocolError",
                "requests.ConnectionError",
                "requests.exceptions.ConnectionError",
                "requests.ChunkedEncodingError",
                "requests.exceptions.ChunkedEncodingError",
                "urllib3.ProtocolError",
                "urllib3.NewConnectionError",
                "urllib3.MaxRetryError",
                "urllib3.exceptions.ProtocolError",
                "urllib3.ProxyError",
                "urllib3.exceptions.ProxyError",
                "huggingface_hub.OfflineModeIsEnabled",
                "http.client.IncompleteRead",
                "http.client.RemoteDisconnected",
                "socket.gaierror",
                "ConnectionError",
                "urllib.error.URLError",
            ),
            priority=50,
            name="network-connectivity",
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            errnos=(
                errno.ECONNRESET,
                errno.ECONNREFUSED,
                errno.ECONNABORTED,
                errno.ENETUNREACH,
                errno.ENETDOWN,
                errno.EHOSTUNREACH,
                errno.EPIPE,
            ),
            priority=48,
            name="network-errno",
        ),
        Rule(F.NETWORK_TIMEOUT, S.MEDIUM, errnos=(errno.ETIMEDOUT,), priority=48, name="timeout-errno"),
        Rule(F.NETWORK_TIMEOUT, S.MEDIUM, types=("TimeoutError",), priority=45, name="timeout"),
        # --- the words of a wrapped network error (RuntimeError("Connection reset by peer"), logs, pip) --------
        # A timeout outranks a loss: "('Connection aborted.', timeout('The write operation timed out'))" waited.
        Rule(
            F.NETWORK_TIMEOUT,
            S.MEDIUM,
            message=_TIMED_OUT,
            priority=44,
            name="timeout-message",
            keywords=("timed out", "timeout", "etimedout", "deadline exceeded", "errno 110", "errno 60", "10060"),
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            message=_CONNECTION_LOST,
            priority=43,
            name="network-message",
            keywords=(
                "connection",
                "reset by peer",
                "broken pipe",
                "unreachable",
                "no route",
                "name or service",
                "name resolution",
                "nodename",
                "getaddrinfo",
                "resolve",
                "server disconnected",
                "peer closed",
                "forcibly closed",
                "actively refused",
                "econn",
                "ehostunreach",
                "enetunreach",
                "errno",
                "winerror",
            ),
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=("httpx.TransportError", "httpx2.TransportError"),
            priority=40,
            name="http-transport",
        ),
    ]
