"""``resilience hub serve`` and ``resilience index serve``: the local targets as long-running servers.

Both print one line with their URL once they listen (so scripts can wait for it), then serve until
interrupted. They bind 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``hub`` and ``index`` command groups to the ``resilience`` parser."""
    hub = subparsers.add_parser("hub", help="a local Hugging Face compatible hub")
    hub_commands = hub.add_subparsers(dest="hub_command", required=True, metavar="SUBCOMMAND")
    serve = hub_commands.add_parser("serve", help="serve the repos of a spec until interrupted")
    serve.add_argument("--spec", required=True, help="repos TOML file (see docs/targets.md)")
    serve.add_argument("--root", default=None, help="where repos are generated (default: a temporary folder)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="hub port (default: a free one)")
    serve.add_argument("--cdn", action="store_true", help="redirect LFS downloads to a second 'CDN' port")
    serve.add_argument("--cdn-port", type=_port, default=None, help="CDN port (implies --cdn)")
    serve.set_defaults(func=_serve_hub)

    index = subparsers.add_parser("index", help="a local package index (pypiserver over generated wheels)")
    index_commands = index.add_subparsers(dest="index_command", required=True, metavar="SUBCOMMAND")
    serve = index_commands.add_parser("serve", help="serve the wheels of a spec until interrupted")
    serve.add_argument("--spec", default=None, help="packages TOML file (default: a small built-in set)")
    serve.add_argument("--root", default=None, help="where wheels are built (default: a temporary folder)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    serve.set_defaults(func=_serve_index)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port={text!r} must be an integer in 0..65535 (0 picks a free port)")
    return port


def _serve_hub(args: argparse.Namespace) -> int:
    from chaos.targets.hub import HubServer

    _stop_on_sigterm()
    cdn = args.cdn or args.cdn_port is not None
    server = HubServer(args.spec, root=args.root, host=args.host, port=args.port, cdn=cdn, cdn_port=args.cdn_port or 0)
    with server as hub:
        for repo in hub.generated.repos:
            revisions = ",".join(repo.revisions)
            print(f"  {repo.repo_type} {repo.repo_id} @ {revisions} = {repo.commit} ({len(repo.files)} files)")
        cdn_note = f" (cdn {hub.cdn_url})" if hub.cdn_url else ""
        print(f"hub serving on {hub.url}{cdn_note}; set HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1", flush=True)
        _wait_forever()
    return 0


def _serve_index(args: argparse.Namespace) -> int:
    from chaos.targets.index import PackageIndex

    _stop_on_sigterm()
    with PackageIndex(args.spec, root=args.root, host=args.host, port=args.port) as index:
        for name, version in index.wheels:
            print(f"  {name} {version}")
        print(f"index serving on {index.url}; pip install --index-url {index.url} ...", flush=True)
        _wait_forever()
    return 0


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the servers clean up on the way out (set before the URL is printed:
    whoever reads it may stop us at once)."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def _wait_forever() -> None:
    """Block until Ctrl-C or SIGTERM."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
        raise
