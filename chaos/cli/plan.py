"""``resilience plan``: what each chaos scenario will cost before it runs.

::

    resilience plan scenarios/

For every collected scenario: its gate, the trials a confident verdict needs when every trial recovers and,
under ``trials="auto"``, where the sequential rule stops then and the expected stop at the threshold. Nothing
runs (it is ``pytest --chaos-explain``).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``plan`` to the ``resilience`` parser."""
    plan = subparsers.add_parser("plan", help="the trials each chaos scenario needs for a confident verdict")
    plan.add_argument("paths", nargs="*", default=["scenarios"], help="test files or directories (default: scenarios)")
    plan.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    plan.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    import pytest

    argv = [*args.paths, "--chaos-explain", "-q", "--no-header", "-p", "no:cacheprovider"]
    if args.keyword:
        argv += ["-k", args.keyword]
    status = pytest.main(argv)
    return 0 if status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) else int(status)
