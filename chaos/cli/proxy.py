"""``resilience proxy serve``: a drop-in for ``toxiproxy-server`` (same flags, same API on :8474).

Toxiproxy's own single-dash spellings work as they do for ``toxiproxy-server``: ``-host``, ``-port``,
``-config``, ``-seed``, ``-proxy-metrics`` (``-host=127.0.0.1`` too), next to ``--host`` and friends.

``TOXIPROXY_URL`` (what Toxiproxy's clients and ``toxiproxy-cli`` read to find the server) gives the default
address: with ``TOXIPROXY_URL=http://127.0.0.1:9000`` in the environment, ``resilience proxy serve`` listens
where those clients look. ``-host``/``-port`` win over it; without either, 127.0.0.1:8474. A host that is not
loopback still needs ``--allow-remote``, whichever of the two named it.

Imports stay light: the server is imported inside the handler.
"""

from __future__ import annotations

import argparse
import logging
import os
import urllib.parse
from pathlib import Path
from typing import Any

from chaos.cli.serving import StopRequested, check_bind_host, parse_port, report_stopped, wait_for_stop
from chaos.errors import ProxyError

__all__ = ["FORWARD_NAME", "load_config", "register", "serve_address"]

_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_PORT = 8474
_MAX_CONFIG_BYTES = 4 << 20
FORWARD_NAME = "forward"  # the proxy --forward creates: network.* faults name it like any proxy


def register(subparsers: Any) -> None:
    """Add ``proxy serve`` to the ``resilience`` parser."""
    proxy = subparsers.add_parser("proxy", help="the embedded Toxiproxy-compatible proxy")
    commands = proxy.add_subparsers(dest="proxy_command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the Toxiproxy REST API and its proxies until interrupted",
        description="Serve the Toxiproxy 2.12 REST API (a drop-in for toxiproxy-server). Toxiproxy's "
        "single-dash flags (-host, -port, -config, -seed, -proxy-metrics) are accepted too.",
    )
    serve.add_argument(
        "--host", "-host", default=None, help="API address (default: from TOXIPROXY_URL, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", "-port", type=parse_port, default=None, help="API port (default: from TOXIPROXY_URL, else 8474)"
    )
    serve.add_argument(
        "--config", "-config", type=Path, help="JSON array of proxies in the /populate format, loaded at start"
    )
    serve.add_argument("--seed", "-seed", type=int, help="seed for toxicity rolls, jitter and slicing")
    serve.add_argument("--allow-remote", action="store_true", help="allow an API host other than loopback")
    serve.add_argument(
        "--proxy-metrics", "-proxy-metrics", action="store_true", help="serve /metrics with the proxy byte counters"
    )
    serve.add_argument(
        "--forward",
        metavar="HOST:PORT",
        help="also run an HTTP forward proxy (CONNECT) named 'forward' here: point HTTPS_PROXY/HTTP_PROXY at it",
    )
    serve.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a non-loopback target the forward proxy may reach (repeatable; '*.hf.co:443', 'pypi.org:443')",
    )
    serve.set_defaults(func=serve_command, serves=True)


def serve_address(
    host: str | None, port: int | None, environ: dict[str, str] | os._Environ[str] | None = None
) -> tuple[str, int, str]:
    """``(host, port, source)`` to listen on: the flags, else ``TOXIPROXY_URL``, else 127.0.0.1:8474.

    ``source`` names where the host came from (``--host`` or ``env:TOXIPROXY_URL``) for error messages. A
    ``TOXIPROXY_URL`` that is not ``http://host[:port]`` raises one ProxyError naming it.
    """
    env = os.environ if environ is None else environ
    url = env.get("TOXIPROXY_URL", "").strip()
    env_host, env_port = _DEFAULT_HOST, _DEFAULT_PORT
    if url and (host is None or port is None):
        env_host, env_port = _parse_toxiproxy_url(url)
    source = "--host" if host is not None or not url else "env:TOXIPROXY_URL"
    return (host if host is not None else env_host), (port if port is not None else env_port), source


def _parse_toxiproxy_url(url: str) -> tuple[str, int]:
    problem = ""
    host, port = "", 0
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port if parts.port is not None else 80
    except ValueError as error:
        problem = f"it is not a URL ({error})"
    else:
        if parts.scheme != "http":
            problem = "the scheme must be http:// (the Toxiproxy API has no TLS)"
        elif not host:
            problem = "it names no host"
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            problem = "it has a path or query; the API lives at the root"
    if problem or any(ord(c) < 0x21 for c in url):
        problem = problem or "it contains a space or a control character"
        raise ProxyError(
            f"env:TOXIPROXY_URL={url!r} cannot say where to listen: {problem}; "
            "fix: set it like http://127.0.0.1:8474, or pass -host and -port"
        )
    return host, port


def load_config(path: Path) -> list[dict[str, Any]]:
    """The proxies of a populate file; raises ProxyError naming the file, the entry and the fix.

    Read with :func:`resilience_core.read_document`'s limits (4 MiB, 64 levels, UTF-8).
    """
    from resilience_core.documents import read_document
    from resilience_core.errors import InputError

    try:
        value = read_document(path, kind="json", max_bytes=_MAX_CONFIG_BYTES)
    except InputError as error:
        detail = str(error).removeprefix(os.fspath(path)).strip()
        fix = "" if "fix:" in detail else "; fix: a JSON array of proxies"
        raise ProxyError(f"--config {str(path)!r}: {detail}{fix}") from None
    if not isinstance(value, list):
        raise ProxyError(f"--config {str(path)!r}: top level is {type(value).__name__}; fix: a JSON array")
    entries = []
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            raise ProxyError(f"--config {str(path)!r}: proxy {number} is not an object; fix: {{'name':..}}")
        for field in ("name", "upstream"):
            if not isinstance(entry.get(field), str) or not entry[field]:
                raise ProxyError(
                    f"--config {str(path)!r}: proxy {number} {field}={entry.get(field)!r}; fix: a non-empty string"
                )
        if not isinstance(entry.get("listen", ""), str) or not isinstance(entry.get("enabled", True), bool):
            raise ProxyError(f"--config {str(path)!r}: proxy {number} listen must be a string and enabled a boolean")
        entries.append(entry)
    return entries


def _check_forward(listen: str | None, allow: list[str], *, allow_remote: bool) -> None:
    """Check ``--forward``/``--allow`` before anything starts; one ProxyError naming the flag and the fix."""
    if listen is None:
        if allow:
            raise ProxyError(f"--allow {allow[0]!r} needs --forward; fix: add --forward 127.0.0.1:3128")
        return
    from chaos.proxy.addresses import AddressError, split_host_port
    from chaos.proxy.forward import allow_problem

    try:
        forward_host = split_host_port(listen)[0]
    except AddressError as error:
        raise ProxyError(f"--forward {listen!r}: {error}; fix: HOST:PORT, e.g. 127.0.0.1:3128") from None
    check_bind_host(forward_host or "0.0.0.0", allow_remote=allow_remote, source="--forward")  # noqa: S104  # "" binds all
    problem = allow_problem(allow)
    if problem:
        raise ProxyError(f"--allow: {problem}")


def _configure_logging(level_name: str) -> None:
    """Log to stderr at ``LOG_LEVEL`` (as toxiproxy-server reads it); an unknown level name means info."""
    level = logging.getLevelName(level_name.upper())
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve_command(args: argparse.Namespace) -> int:
    """Run the server in the foreground until SIGINT or SIGTERM (then die of it, like every resilience server)."""
    host, port, source = serve_address(args.host, args.port)
    check_bind_host(host, allow_remote=args.allow_remote, source=source)
    entries = load_config(args.config) if args.config is not None else []
    _check_forward(args.forward, args.allow, allow_remote=args.allow_remote)
    _configure_logging(os.environ.get("LOG_LEVEL", "info"))

    from chaos.proxy.model import ApiError
    from chaos.proxy.server import EmbeddedToxiproxy

    try:
        server = EmbeddedToxiproxy(host, port, seed=args.seed, proxy_metrics=args.proxy_metrics)
    except OSError as error:
        raise ProxyError(f"--host/--port {host}:{port}: cannot listen ({error.strerror or error})") from None
    try:
        try:
            server.populate(entries)
        except ApiError as error:
            raise ProxyError(f"--config {str(args.config)!r}: {error.message}") from None
        if args.forward is not None:
            try:
                forward = server.create_forward_proxy(FORWARD_NAME, listen=args.forward, allow=args.allow)
            except ApiError as error:
                raise ProxyError(f"--forward {args.forward!r}: {error.message}") from None
        server.start()
        print(f"toxiproxy API listening on {server.url} ({len(entries)} proxies from config)", flush=True)
        if args.forward is not None:
            print(f"forward proxy {FORWARD_NAME!r} listening on {forward.url} (HTTPS_PROXY={forward.url})", flush=True)
        signum = wait_for_stop()
    finally:
        server.stop()
    report_stopped("toxiproxy API", signum)
    raise StopRequested(signum)
