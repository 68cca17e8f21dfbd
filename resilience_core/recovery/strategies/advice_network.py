"""Advice for network failures: DNS, refused, unreachable, proxy, timeouts, resets, TLS, HTTP status, access.

Each names the host and the setting to change: ``HF_ENDPOINT`` or ``--index-url`` for where to download from,
``timeouts.<operation>_seconds``, ``retry.max_retries``, ``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE`` /
``SSL_CERT_FILE``, ``HF_TOKEN``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from typing import Any

from resilience_core.recovery.strategies._advice_names import (
    MIRROR,
    RETRIES,
    Advice,
    cap,
    file_of,
    host_label,
    is_pip,
    origin,
    repo_of,
    source_setting,
    timeout_setting,
)
from resilience_core.recovery.taxonomy import ErrorContext, FailureType

__all__ = ["http_advice", "network_advice", "permission_advice"]

F = FailureType


def network_advice(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    host = host_label(d)
    source = source_setting(ctx)
    cause = d.get("network_cause")
    if "OfflineModeIsEnabled" in str(d.get("raw_type", "")):
        return (
            "huggingface_hub is in offline mode, so nothing can be downloaded.",
            ("Unset HF_HUB_OFFLINE (or set it to 0) to allow downloads, or install the model files beforehand.",),
        )
    if cause == "tls":
        return _tls(ctx, d, host)
    if cause == "dns":
        name = d.get("host")
        check = f"Check that {name} is spelled right in {source}" if name else f"Check the host name in {source}"
        return (
            f"The name {name} could not be resolved (the DNS lookup failed)."
            if name
            else "A server name could not be resolved (the DNS lookup failed).",
            (
                f"{check}, and that this computer can resolve it (`nslookup {name or '<host>'}`).",
                "Check the internet connection, VPN and DNS settings; behind a proxy set HTTPS_PROXY.",
                f"Retry when the network is back, or {RETRIES}.",
            ),
        )
    if cause == "refused":
        return (
            f"{cap(host)} refused the connection: nothing is listening on that address and port.",
            (
                f"Check that {host} is running, or point {source} at one that is.",
                "A firewall may block the port; behind a proxy set HTTPS_PROXY (and NO_PROXY for local servers).",
                f"Or {MIRROR}.",
            ),
        )
    if cause == "unreachable":
        return (
            f"The network path to {host} is down (no route to the host).",
            (
                "Check the network connection (cable, Wi-Fi, VPN) and that the address is reachable from here.",
                f"Or point {source} at a server this machine can reach.",
                f"Retry when the network is back, or {RETRIES}.",
            ),
        )
    if cause == "proxy":
        return (
            f"The proxy failed the connection to {host}.",
            (
                (
                    "Check HTTPS_PROXY / HTTP_PROXY: address, port, and credentials (a 407 answer means the proxy "
                    "wants user:password in its URL); list local servers in NO_PROXY."
                ),
                f"Or point {source} at a server reachable without the proxy.",
            ),
        )
    if cause == "timeout" or ctx.failure_type is F.NETWORK_TIMEOUT:
        return (
            f"{cap(host)} did not answer within the time limit.",
            (
                f"Raise {timeout_setting(ctx)} in the reliability config if the connection is just slow.",
                f"Check the connection speed and retry later, or {RETRIES}.",
                f"Or {MIRROR}.",
            ),
        )
    if cause == "closed":
        what = f"{cap(host)} closed the connection before the transfer finished."
    elif cause == "reset":
        what = f"The connection to {host} was reset during the transfer."
    else:
        what = f"The connection to {host} was lost."
    steps = [
        "Retry: finished files are kept and partial downloads resume where they stopped.",
        f"If this repeats, {RETRIES}, or {MIRROR}.",
        "A proxy or firewall that cuts long transfers causes this too: check HTTPS_PROXY.",
    ]
    if is_pip(ctx):
        steps.insert(1, "pip >= 25.1 resumes an interrupted download itself with --resume-retries N.")
    return what, tuple(steps)


def _tls(ctx: ErrorContext, d: Mapping[str, Any], host: str) -> Advice:
    reason = d.get("tls")
    pip = " (pip: --cert or PIP_CERT)" if is_pip(ctx) else ""
    bundle = (
        "If a corporate proxy or antivirus inspects HTTPS, export its root CA as a PEM file and point "
        f"REQUESTS_CA_BUNDLE and SSL_CERT_FILE at it{pip}; do not turn verification off."
    )
    clock = "Check the system clock, date and time zone: a wrong date makes valid certificates look expired."
    update = "Update the trusted CA certificates (pip install -U certifi, or the system's ca-certificates package)."
    if reason == "ca_bundle":
        path = d.get("path") or "the configured file"
        return (
            f"The CA bundle {path} does not exist, so no TLS certificate can be checked.",
            (f"Point REQUESTS_CA_BUNDLE / SSL_CERT_FILE at an existing PEM file, or unset them ({path}).", update),
        )
    if reason == "expired":
        return (f"The TLS certificate of {host} is expired or not yet valid.", (clock, bundle, update))
    if reason == "hostname":
        return (
            f"The TLS certificate of {host} is for another name.",
            (f"Check the host name in {source_setting(ctx)}.", bundle),
        )
    if reason == "untrusted":
        return (
            f"The TLS certificate of {host} is not trusted (self-signed or an unknown issuer).",
            (bundle, clock, update),
        )
    if reason == "no_ssl_module":
        return (
            "This Python was built without its ssl module, so it cannot open https:// connections.",
            ("Install a Python build with SSL support (the OpenSSL development files), then recreate the venv.",),
        )
    if reason == "protocol":
        return (
            (
                f"A secure (TLS) connection to {host} could not be set up: this Python or the server speaks an "
                "unsupported protocol."
            ),
            (
                f"Check that {source_setting(ctx)} uses https:// only where the server speaks TLS.",
                "Update Python and pip (an old OpenSSL cannot speak TLS 1.2+), then retry.",
                bundle,
            ),
        )
    return (
        f"The secure (TLS) connection to {host} was broken off.",
        (
            bundle,
            clock,
            f"Retry: a dropped handshake is often transient; if it repeats, {RETRIES}.",
        ),
    )


def http_advice(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    status = d.get("http_status")
    host = host_label(d)
    source = source_setting(ctx)
    if status == 429 or (status is None and ctx.failure_type is F.BANDWIDTH_LIMITATION):
        wait = d.get("retry_after_s")
        pause = (
            f"Wait {wait:g} s (the server's Retry-After) and retry."
            if isinstance(wait, float)
            else ("Wait a few minutes and retry.")
        )
        return (
            f"{cap(host)} is rate-limiting requests" + (" (HTTP 429)." if status else "."),
            (pause, "Set HF_TOKEN to an access token: signed-in requests get a higher rate limit.", f"Or {MIRROR}."),
        )
    if isinstance(status, int) and status >= 500:
        return (
            f"{cap(host)} had a server error (HTTP {status}).",
            (f"Retry later; if it lasts, {RETRIES}.", f"Or {MIRROR}, or point {source} at one."),
        )
    if status == 404:
        target = d.get("url") or host
        return (
            f"{target} was not found (HTTP 404).",
            (
                "Check the repository id, revision and file name in the installer's config.",
                "For a private repository set HF_TOKEN to a token that can read it.",
                f"Check that {source} points at the right server.",
            ),
        )
    if status == 408:
        return (
            f"{cap(host)} gave up waiting for the request (HTTP 408).",
            (f"Retry; if the link is slow, raise {timeout_setting(ctx)}.", f"Or {MIRROR}."),
        )
    if status == 416:
        return (
            f"{cap(host)} refused to resume a partial download (HTTP 416).",
            ("Delete the partial file (*.part, *.incomplete) named in the log and run the installer again.",),
        )
    return (
        f"{cap(host)} answered with an error (HTTP {status}).",
        (f"Check that {source} points at the right server, and the repository id and revision.",),
    )


def permission_advice(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    status = d.get("http_status")
    if isinstance(status, int) or str(d.get("rule", "")).startswith("hf-gated"):
        repo = repo_of(ctx)
        what = repo or d.get("url") or "the model"
        page = f" on {origin(d)}/{repo}" if repo else ""
        return (
            f"{cap(host_label(d))} refused access to {what}" + (f" (HTTP {status})." if status else "."),
            (
                (
                    f"Set HF_TOKEN (or the token this server expects) to one that can read {what} "
                    "(`huggingface-cli login` stores one)."
                ),
                f"For a gated model, accept its terms{page} with the same account.",
                "Check that the token has not expired or been revoked.",
            ),
        )
    path = file_of(ctx) or "the install folder"
    if d.get("errno") == errno.EROFS:
        return (
            f"{path} is on a read-only file system.",
            ("Choose an install folder on a writable disk (install_dir in the installer's config).",),
        )
    parent = os.path.dirname(path) or path
    return (
        f"Permission was denied on {path}.",
        (
            f"Make {parent} writable for this user, or run the installer as the folder's owner.",
            "Or choose another install folder (install_dir in the installer's config).",
        ),
    )
