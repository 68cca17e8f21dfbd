"""``resilience deploy``: write an environment's reliability config and flags, validate them, or roll back.

::

    resilience deploy --environment production --dir /opt/app     # snapshot, then write the presets
    resilience deploy --validate-only --dir /opt/app               # every check, with the fix for each
    resilience deploy --rollback --dir /opt/app                    # back to before the last deploy

Exit status: 0 done (validation: every check passed); 1 validation found problems; 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``deploy`` to the ``resilience`` parser."""
    deploy = subparsers.add_parser("deploy", help="deploy, validate or roll back the reliability configuration")
    what = deploy.add_mutually_exclusive_group(required=True)
    what.add_argument("--environment", choices=("development", "testing", "production"), help="deploy its presets")
    what.add_argument("--validate-only", action="store_true", help="check config, flags, paths, permissions, probes")
    what.add_argument("--rollback", action="store_true", help="restore the state before the last deploy")
    deploy.add_argument("--dir", default=".", help="where reliability_config.json and feature_flags.json live")
    deploy.add_argument("--json", action="store_true", help="one JSON document on stdout")
    deploy.set_defaults(func=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from resilience_core.deploy import deploy, rollback, validate

    if args.rollback:
        undone = rollback(args.dir)
        data: dict[str, Any] = {
            "rolled_back": undone.snapshot_id,
            "undid": undone.environment,
            "restored": undone.restored,
        }
        text = (
            f"rolled back the {undone.environment} deploy: restored {', '.join(undone.restored)} ({undone.snapshot_id})"
        )
        code = 0
    elif args.validate_only:
        findings = validate(args.dir)
        problems = [f for f in findings if not f.ok]
        data = {"ok": not problems, "findings": [f.to_dict() for f in findings]}
        lines = [
            f"{'ok  ' if f.ok else 'FAIL'} {f.name}: {f.detail}" + (f"; fix: {f.fix}" if f.fix else "")
            for f in findings
        ]
        text = "\n".join([*lines, f"{len(problems)} problem(s)"])
        code = 1 if problems else 0
    else:
        result = deploy(args.environment, args.dir)
        problems = [f for f in validate(args.dir) if not f.ok]
        data = {
            "environment": result.environment,
            "snapshot": result.snapshot_id,
            "written": list(result.written),
            "problems": [f.to_dict() for f in problems],
        }
        text = (
            f"deployed {result.environment}: wrote {', '.join(result.written)}; rollback snapshot {result.snapshot_id}"
        )
        text += "".join(f"\nFAIL {f.name}: {f.detail}; fix: {f.fix}" for f in problems)
        code = 1 if problems else 0
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)
    return code
