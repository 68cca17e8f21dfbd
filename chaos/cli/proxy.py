"""``resilience proxy serve``: a drop-in for ``toxiproxy-server`` (same flags, same API on :8474).

Imports stay light: the server is imported inside the handler.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from chaos.errors import ProxyError

__all__ = ["load_config", "register"]


def register(subparsers: Any) -> None:
    """Add ``proxy serve`` to the ``resilience`` parser."""
    proxy = subparsers.add_parser("proxy", help="the embedded Toxiproxy-compatible proxy")
    commands = proxy.add_subparsers(dest="proxy_command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the Toxiproxy REST API and its proxies until interrupted",
        description="Serve the Toxiproxy 2.12 REST API (a drop-in for toxiproxy-server).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1; loopback only)")
    serve.add_argument("--port", type=int, default=8474, help="API port (default 8474)")
    serve.add_argument("--config", type=Path, help="JSON array of proxies in the /populate format, loaded at start")
    serve.add_argument("--seed", type=int, help="seed for toxicity rolls, jitter and slicing")
    serve.add_argument("--allow-remote", action="store_true", help="allow an API host other than loopback")
    serve.add_argument("--proxy-metrics", action="store_true", help="serve /metrics with the proxy byte counters")
    serve.set_defaults(func=serve_command)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_config(path: Path) -> list[dict[str, Any]]:
    """The proxies of a populate file; raises ProxyError naming the file, the entry and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProxyError(
            f"--config {str(path)!r}: cannot read it ({error.strerror}); fix: give an existing file"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProxyError(
            f"--config {str(path)!r}: not JSON ({error.msg} at line {error.lineno}); fix: a JSON array of proxies"
        ) from None
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


def _configure_logging(level_name: str) -> None:
    """Log to stderr at ``LOG_LEVEL`` (as toxiproxy-server reads it); an unknown level name means info."""
    level = logging.getLevelName(level_name.upper())
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve_command(args: argparse.Namespace) -> int:
    """Run the server in the foreground until SIGINT or SIGTERM."""
    if not _is_loopback(args.host) and not args.allow_remote:
        raise ProxyError(f"--host {args.host!r} is not loopback; fix: use 127.0.0.1, or pass --allow-remote")
    entries = load_config(args.config) if args.config is not None else []
    _configure_logging(os.environ.get("LOG_LEVEL", "info"))

    from chaos.proxy.model import ApiError
    from chaos.proxy.server import EmbeddedToxiproxy

    try:
        server = EmbeddedToxiproxy(args.host, args.port, seed=args.seed, proxy_metrics=args.proxy_metrics)
    except OSError as error:
        raise ProxyError(f"--host/--port {args.host}:{args.port}: cannot listen ({error.strerror})") from None
    stop = threading.Event()
    try:
        try:
            server.populate(entries)
        except ApiError as error:
            raise ProxyError(f"--config {str(args.config)!r}: {error.message}") from None
        server.start()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        print(f"toxiproxy API listening on {server.url} ({len(entries)} proxies from config)", flush=True)
        stop.wait()
    finally:
        server.stop()
    print("toxiproxy API stopped", file=sys.stderr, flush=True)
    return 0
