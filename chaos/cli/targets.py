"""``resilience hub serve`` and ``resilience index serve``: the local targets as long-running servers.

Both print one line with their URL once they listen (so scripts can wait for it), then serve until SIGINT or
SIGTERM, which they handle like every ``resilience`` server (:mod:`chaos.cli.serving`: one ``stopped`` line on
stderr, then they die of that signal, so the exit status does not depend on when it came). They bind
127.0.0.1; another address needs ``--host ADDR --allow-remote``.
"""

from __future__ import annotations

import argparse
from typing import Any

from chaos.cli.serving import StopRequested, check_bind_host, parse_port, report_stopped, wait_for_stop

__all__ = ["register"]

_ALLOW_REMOTE_HELP = "allow a --host other than loopback (the servers have no authentication)"


def register(subparsers: Any) -> None:
    """Add the ``hub`` and ``index`` command groups to the ``resilience`` parser."""
    hub = subparsers.add_parser("hub", help="a local Hugging Face compatible hub")
    hub_commands = hub.add_subparsers(dest="hub_command", required=True)
    serve = hub_commands.add_parser("serve", help="serve the repos of a spec until interrupted")
    serve.add_argument("--spec", default=None, help="repos TOML file (see docs/targets.md)")
    serve.add_argument(
        "--from-cache",
        default=None,
        metavar="DIR",
        help="serve real files instead: an HF cache, one snapshot, or a plain folder (with --repo)",
    )
    serve.add_argument("--repo", action="append", default=[], metavar="ID", help="repo id to serve from --from-cache")
    serve.add_argument("--revision", default="main", help="with --from-cache: the revision to serve (default main)")
    serve.add_argument("--root", default=None, help="where repos are generated (default: a temporary folder)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=parse_port, default=0, help="hub port (default: a free one)")
    serve.add_argument("--cdn", action="store_true", help="redirect LFS downloads to a second 'CDN' port")
    serve.add_argument("--cdn-port", type=parse_port, default=None, help="CDN port (implies --cdn)")
    serve.add_argument("--allow-remote", action="store_true", help=_ALLOW_REMOTE_HELP)
    serve.set_defaults(func=_serve_hub, serves=True)

    index = subparsers.add_parser("index", help="a local package index (pypiserver over generated wheels)")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    serve = index_commands.add_parser("serve", help="serve the wheels of a spec until interrupted")
    serve.add_argument("--spec", default=None, help="packages TOML file (default: a small built-in set)")
    serve.add_argument("--root", default=None, help="where wheels are built (default: a temporary folder)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=parse_port, default=0, help="port (default: a free one)")
    serve.add_argument("--allow-remote", action="store_true", help=_ALLOW_REMOTE_HELP)
    serve.set_defaults(func=_serve_index, serves=True)


def _serve_hub(args: argparse.Namespace) -> int:
    check_bind_host(args.host, allow_remote=args.allow_remote)
    from chaos.targets.hub import HubServer

    cdn = args.cdn or args.cdn_port is not None
    spec = _hub_spec(args)
    server = HubServer(spec, root=args.root, host=args.host, port=args.port, cdn=cdn, cdn_port=args.cdn_port or 0)
    with server as hub:
        for repo in hub.generated.repos:
            revisions = ",".join(repo.revisions)
            print(f"  {repo.repo_type} {repo.repo_id} @ {revisions} = {repo.commit} ({len(repo.files)} files)")
        cdn_note = f" (cdn {hub.cdn_url})" if hub.cdn_url else ""
        print(f"hub serving on {hub.url}{cdn_note}; set HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1", flush=True)
        signum = wait_for_stop()
    report_stopped("hub", signum)
    raise StopRequested(signum)


def _hub_spec(args: argparse.Namespace) -> Any:
    """The spec ``hub serve`` serves: ``--spec FILE``, or ``--from-cache DIR`` with one ``--repo`` per repo."""
    from chaos.errors import ChaosError
    from chaos.targets.spec import HubSpec, RepoSpec

    if (args.spec is None) == (args.from_cache is None):
        raise ChaosError("hub serve needs --spec FILE or --from-cache DIR (one of them); fix: pass exactly one")
    if args.spec is not None:
        if args.repo:
            raise ChaosError(f"--repo {args.repo[0]!r} goes with --from-cache, not --spec; fix: drop --repo")
        return args.spec
    if not args.repo:
        raise ChaosError(f"--from-cache {args.from_cache!r} needs --repo ID (the repo id to serve it as); fix: add it")
    repos = tuple(
        RepoSpec(repo_id=repo, files=(), revisions=(args.revision,), from_dir=args.from_cache) for repo in args.repo
    )
    return HubSpec(repos=repos, source="--from-cache")


def _serve_index(args: argparse.Namespace) -> int:
    check_bind_host(args.host, allow_remote=args.allow_remote)
    from chaos.targets.index import PackageIndex

    with PackageIndex(args.spec, root=args.root, host=args.host, port=args.port) as index:
        for name, version in index.wheels:
            print(f"  {name} {version}")
        print(f"index serving on {index.url}; pip install --index-url {index.url} ...", flush=True)
        signum = wait_for_stop()
    report_stopped("index", signum)
    raise StopRequested(signum)
