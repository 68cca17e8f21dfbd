"""The ``resilience`` console script: one argparse front over the subcommands, one module per command.

Each module in ``_COMMAND_MODULES`` exposes ``register(subparsers)``, adding its subcommand(s) with
``set_defaults(func=handler)``; a handler takes the parsed ``argparse.Namespace`` and returns an exit status.
A long-running server also sets ``serves=True``: it then runs with SIGINT and SIGTERM held, and ends by raising
:class:`~chaos.cli.serving.StopRequested` once it stopped (see :mod:`chaos.cli.serving`). Modules must stay light
at import time: heavy imports go inside the handler.

Conventions every command gets from here:

- ``resilience --version``;
- every group's metavar is ``COMMAND``;
- a usage error is one line naming the help of the command that was being parsed, exit 2;
- a ChaosError or ResilienceError is one line, exit 2;
- output to a closed pipe (``resilience faults list | head``) ends quietly with exit 141 (128 + SIGPIPE), the
  status a shell reports for a C tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from chaos.cli.serving import StopRequested, die_of, hold_stop_signals, release_stop_signals
from chaos.errors import ChaosError
from resilience_core.errors import ResilienceError

__all__ = ["build_parser", "main"]

_COMMAND_MODULES = (
    "chaos.cli.run",  # resilience run
    "chaos.cli.init",  # resilience init
    "chaos.cli.plan",  # resilience plan
    "chaos.cli.faults",  # resilience faults list
    "chaos.cli.report",  # resilience report merge
    "chaos.cli.proxy",  # resilience proxy serve
    "chaos.cli.targets",  # resilience hub serve, resilience index serve
    "chaos.cli.monitor",  # resilience monitor serve|check|status
    "chaos.cli.deploy",  # resilience deploy --environment E | --validate-only | --rollback
    "chaos.cli.config",  # resilience config template KIND
    "chaos.cli.models",  # resilience models status|verify|mark-corrupted|ensure|gc|report
)
_METAVAR = "COMMAND"
_PIPE_CLOSED_STATUS = 141


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, then where help is), not the usage block.

    Every parser records its ``prog`` as the default ``cli_prog``; a subcommand's default wins over its
    parent's, so after parsing ``args.cli_prog`` names the deepest command reached (for the help hint).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(cli_prog=self.prog)

    def error(self, message: str) -> NoReturn:
        hint = "" if "fix:" in message else f"; see '{self.prog} --help'"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")

    def add_subparsers(self, **kwargs: Any) -> Any:
        # One metavar for every group, whatever each command module asks for: users read one convention.
        kwargs["metavar"] = _METAVAR
        return super().add_subparsers(**kwargs)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("resilience-chaos")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available subcommand registered (subparsers inherit one-line errors)."""
    parser = _OneLineParser(
        prog="resilience",
        description="Chaos scenarios for ML installers, and the servers they run against.",
    )
    parser.add_argument("--version", action="version", version=f"resilience {_version()} (resilience-chaos)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


_EXTRA_OF = {"pytest": "chaos", "pluggy": "chaos", "hypothesis": "chaos", "rich": "chaos", "pyfakefs": "chaos"}
_EXTRA_OF |= {"huggingface_hub": "hub", "filelock": "hub", "pypiserver": "index", "prometheus_client": "monitor"}


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, extras = parser.parse_known_args(argv)
    if extras:
        prog = getattr(args, "cli_prog", parser.prog)
        # The deepest command reached owns the flags: point at its help, not at the top-level one.
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extras)}; see '{prog} --help'\n")
    return args


def _say(line: str) -> None:
    with contextlib.suppress(OSError):  # stderr itself may be a closed pipe
        print(line, file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line on stderr, never a traceback."""
    # Held before anything is parsed, imported or bound: a server started by this call cannot miss a SIGTERM.
    held = hold_stop_signals()
    try:
        args = _parse(build_parser(), argv)
        if not getattr(args, "serves", False):
            release_stop_signals(held)
            held = None
        return _run(args)
    finally:
        release_stop_signals(held, discard_pending=True)


def _run(args: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace], int | None] = args.func
    where = getattr(args, "cli_prog", "resilience")
    try:
        status = int(handler(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
        return status
    except StopRequested as stop:
        return die_of(stop.signum)
    except BrokenPipeError:
        _silence_stdout()
        return _PIPE_CLOSED_STATUS
    except (ChaosError, ResilienceError) as error:
        _say(f"{where}: error: {error}")
        return 2
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if top not in _EXTRA_OF:
            raise
        extra = _EXTRA_OF[top]
        _say(f"{where}: error: needs {top}, which is not installed; fix: pip install 'resilience-chaos[{extra}]'")
        return 2
    except KeyboardInterrupt:
        return 130
