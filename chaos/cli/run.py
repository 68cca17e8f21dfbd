"""``resilience run``: run chaos scenarios through pytest, with a progress bar on a terminal.

::

    resilience run scenarios/ --trials 5 --seed 42 -n auto --report reports/
    resilience run scenarios/ --shard 1/2 --seed 42 --report shard1/   # one of two CI jobs
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import re
import shlex
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["RunProgress", "build_pytest_args", "register"]


def register(subparsers: Any) -> None:
    """Add ``run`` to the ``resilience`` parser."""
    run = subparsers.add_parser("run", help="run chaos scenarios (pytest with the chaos plugin)")
    run.add_argument("paths", nargs="*", default=["scenarios"], help="test files or directories (default: scenarios)")
    # The --chaos-* spellings are accepted too: users paste the pytest flags they see in replay commands.
    run.add_argument(
        "--trials", "--chaos-trials", type=_integer("--trials", "5"), help="trials per scenario, overriding the markers"
    )
    run.add_argument(
        "--seed", "--chaos-seed", type=_integer("--seed", "42"), help="run seed (default: random, printed)"
    )
    run.add_argument("-n", dest="workers", help="pytest-xdist workers: a number or 'auto'")
    run.add_argument("--report", "--chaos-report", default="reports", help="report directory (default: reports)")
    run.add_argument("--shard", "--chaos-shard", metavar="I/N", help="run shard I of N of every scenario's trials")
    run.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    run.add_argument(
        "--pytest", dest="pytest_args", default="", help="extra pytest arguments as one string: --pytest='-x -q'"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    run.set_defaults(func=_run)


def _integer(flag: str, example: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; fix: pass e.g. {flag} {example}") from None

    return parse


def _check_values(args: argparse.Namespace) -> None:
    """Bad values stop here with one line naming the flag, before pytest starts (ChaosError: exit 2)."""
    from chaos.errors import ChaosError

    if args.trials is not None and args.trials < 1:
        raise ChaosError(f"--trials={args.trials} must be >= 1; fix: pass e.g. --trials 5")
    if args.seed is not None and args.seed < 0:
        raise ChaosError(f"--seed={args.seed} must be an integer >= 0; fix: pass e.g. --seed 42")
    if args.workers is not None:
        workers = str(args.workers)
        if workers not in ("auto", "logical") and not workers.isdigit():
            raise ChaosError(f"-n={workers!r} must be a number of workers or 'auto'; fix: pass e.g. -n auto")
        if importlib.util.find_spec("xdist") is None:
            raise ChaosError(f"-n {workers} needs pytest-xdist, which is not installed; fix: pip install pytest-xdist")
    shard = args.shard
    if shard is not None:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
        if match is None or not 1 <= int(match[1]) <= int(match[2]):
            raise ChaosError(f"--shard={shard!r} must be I/N with 1 <= I <= N; fix: pass e.g. --shard 1/2")
    if args.report:
        report = pathlib.Path(args.report)
        for candidate in (report, *report.absolute().parents):
            if candidate.exists():
                if not candidate.is_dir():
                    where = "is a file" if candidate == report else f"is under the file {str(candidate)!r}"
                    raise ChaosError(
                        f"--report={args.report!r} {where}, not a directory; fix: pass e.g. --report reports"
                    )
                break


def build_pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line ``resilience run`` uses; a bad value raises ChaosError naming the flag."""
    _check_values(args)
    try:
        extra = shlex.split(args.pytest_args)
    except ValueError as error:
        from chaos.errors import ChaosError

        message = f"--pytest={args.pytest_args!r} cannot be split ({error}); fix: quote it, e.g. --pytest='-x -q'"
        raise ChaosError(message) from None
    pytest_args = [*args.paths, "-p", "no:cacheprovider", "-ra"]
    if args.trials is not None:
        pytest_args.append(f"--chaos-trials={args.trials}")
    if args.seed is not None:
        pytest_args.append(f"--chaos-seed={args.seed}")
    if args.workers:
        pytest_args += ["-n", str(args.workers)]
    if args.report:
        pytest_args.append(f"--chaos-report={args.report}")
    if args.shard:
        pytest_args.append(f"--chaos-shard={args.shard.replace(' ', '')}")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    pytest_args += extra
    return pytest_args


class RunProgress:
    """A rich progress bar over the collected trials (serial and xdist), drawn on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]chaos[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[failed]} failing"),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("trials", total=None, failed=0)
        self.failed = 0
        self.total = 0

    def pytest_collection_finish(self, session: Any) -> None:
        self.progress.update(self.task, total=len(session.items))

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.total:
            self.total = len(ids)
            self.progress.update(self.task, total=self.total)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.failed += 1
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.progress.update(self.task, advance=1, failed=self.failed)


def _run(args: argparse.Namespace) -> int:
    import pytest

    pytest_args = build_pytest_args(args)
    plugins: list[object] = []
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        progress = RunProgress()
        plugins.append(progress)
    if progress is None:
        return int(pytest.main(pytest_args, plugins=plugins))
    with progress.progress:
        return int(pytest.main(pytest_args, plugins=plugins))
