"""The ``resilience`` console script: one argparse front over the subcommands, one module per command.

Each module in ``_COMMAND_MODULES`` exposes ``register(subparsers)``, adding its subcommand(s) with
``set_defaults(func=handler)``; a handler takes the parsed ``argparse.Namespace`` and returns an exit status.
Modules must stay light at import time: heavy imports go inside the handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from chaos.errors import ChaosError
from resilience_core.errors import ResilienceError

__all__ = ["build_parser", "main"]

_COMMAND_MODULES = (
    "chaos.cli.run",  # resilience run
    "chaos.cli.faults",  # resilience faults list
    "chaos.cli.report",  # resilience report merge
    "chaos.cli.proxy",  # resilience proxy serve
    "chaos.cli.targets",  # resilience hub serve, resilience index serve
    "chaos.cli.monitor",  # resilience monitor serve|check|status
    "chaos.cli.deploy",  # resilience deploy --environment E | --validate-only | --rollback
    "chaos.cli.config",  # resilience config template KIND
    "chaos.cli.models",  # resilience models status|verify|mark-corrupted|ensure|gc|report
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, then where help is), not the usage block."""

    def error(self, message: str) -> NoReturn:
        hint = "" if "fix:" in message else f"; see '{self.prog} --help'"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available subcommand registered (subparsers inherit one-line errors)."""
    parser = _OneLineParser(
        prog="resilience",
        description="Chaos scenarios for ML installers, and the servers they run against.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


_EXTRA_OF = {"pytest": "chaos", "pluggy": "chaos", "hypothesis": "chaos", "rich": "chaos", "pyfakefs": "chaos"}
_EXTRA_OF |= {"huggingface_hub": "hub", "filelock": "hub", "pypiserver": "index", "prometheus_client": "monitor"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line on stderr, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.func
    try:
        return int(handler(args) or 0)
    except (ChaosError, ResilienceError) as error:
        print(f"resilience {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if top not in _EXTRA_OF:
            raise
        extra = _EXTRA_OF[top]
        print(
            f"resilience {args.command}: error: needs {top}, which is not installed; "
            f"fix: pip install 'resilience-chaos[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
