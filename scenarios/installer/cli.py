"""``python -m scenarios.installer install|verify|gc|status --config app.toml``: one JSON line on stdout.

Exit status: 0 done; 1 the install failed (rolled back) or verification found problems; 2 bad input (config,
arguments), with one line on stderr naming what to fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from resilience_core.errors import ConfigError
from scenarios.installer.app import InstallFailed, gc_models, install, model_status, verify_models
from scenarios.installer.config import load_config
from scenarios.installer.system import PreflightFailed

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scenarios.installer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("install", "install requirements and models, check the first load, write the manifest"),
        ("verify", "hash every installed model file against the hub's published hashes"),
        ("gc", "remove orphaned partial/temp files and unheld locks from the model cache"),
        ("status", "report the install and each model's state on disk"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--config", required=True, help="the app config (.toml or .json)")
        if name == "gc":
            cmd.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
            cmd.add_argument("--unreferenced", action="store_true", help="also remove blobs no snapshot uses")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "install":
            report = install(config)
            out: object = {"command": "install", "outcome": report.outcome, "manifest": report.manifest}
            code = 0
        elif args.command == "verify":
            models = verify_models(config)
            out = {"command": "verify", "ok": all(m["ok"] for m in models), "models": models}
            code = 0 if all(m["ok"] for m in models) else 1
        elif args.command == "gc":
            out = {"command": "gc", **gc_models(config, dry_run=args.dry_run, unreferenced=args.unreferenced)}
            code = 0
        else:
            out = {"command": "status", **model_status(config)}
            code = 0
    except ConfigError as error:
        print(f"installer: error: {error}", file=sys.stderr)
        return 2
    except (InstallFailed, PreflightFailed) as error:
        print(json.dumps({"command": args.command, "outcome": "failed_clean", "error": str(error)}))
        print(f"installer: {error}", file=sys.stderr)
        return 1
    print(json.dumps(out, default=str))
    return code
