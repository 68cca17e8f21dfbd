"""``resilience run``: run chaos scenarios through pytest, with a progress bar on a terminal.

::

    resilience run scenarios/ --trials 5 --seed 42 -n auto --report reports/
    resilience run scenarios/ --shard 1/2 --seed 42 --report shard1/   # one of two CI jobs
    resilience run chaos.toml --report reports/                      # a scenario file (chaos*.toml)

A scenario file, or a directory holding some, is checked in full before pytest starts: a bad file stops the
run with one line naming the file, the line, the key and the fix (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pathlib
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["RunProgress", "build_pytest_args", "register"]


def register(subparsers: Any) -> None:
    """Add ``run`` to the ``resilience`` parser."""
    run = subparsers.add_parser("run", help="run chaos scenarios (pytest with the chaos plugin)")
    run.add_argument(
        "paths",
        nargs="*",
        default=["scenarios"],
        help="test files, scenario files (chaos*.toml) or directories (default: scenarios)",
    )
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
    _check_scenario_files(args.paths)


def _check_writable(report: pathlib.Path, given: str) -> None:
    """The report directory must be creatable and writable now, not found unwritable after every trial ran."""
    from chaos.errors import ChaosError

    try:
        report.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ChaosError(f"--report={given!r} cannot be created ({reason}); fix: pass a writable directory") from None
    if not os.access(report, os.W_OK | os.X_OK):
        raise ChaosError(f"--report={given!r} is not writable; fix: pass a writable directory, e.g. --report reports")


def scenario_files(paths: list[str]) -> list[pathlib.Path]:
    """The scenario files (``chaos*.toml``) among ``paths`` and under its directories (hidden dirs skipped)."""
    from chaos.scenario import is_scenario_file

    found: list[pathlib.Path] = []
    for given in paths:
        path = pathlib.Path(given.split("::", 1)[0])
        if path.is_file() and is_scenario_file(path):
            found.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
                found.extend(pathlib.Path(root, name) for name in sorted(files) if is_scenario_file(pathlib.Path(name)))
    return found


def _check_scenario_files(paths: list[str]) -> None:
    """Load every scenario file the run would collect: a bad one is one line (ScenarioError) before any trial.

    A fault name the built-in and entry-point registry does not know is refused here only when no conftest.py
    could define it; otherwise pytest's collection, which loads the conftests, refuses it (one line, before any
    trial)."""
    files = scenario_files(paths)
    if not files:
        return
    from chaos.manager import ChaosManager
    from chaos.scenario import load_scenario

    manager = ChaosManager.build()
    for path in files:
        load_scenario(path, manager=manager, defer_unknown_faults=_conftest_above(path))


def _conftest_above(path: pathlib.Path) -> bool:
    """Whether a conftest.py sits in ``path``'s folder or above it: pytest loads it, and a fault it defines is
    unknown to a registry built outside pytest, so the pre-check leaves unknown names to pytest's collection."""
    return any((folder / "conftest.py").is_file() for folder in path.resolve().parents)


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


class _TerminalLines:
    """Stands in for ``sys.stdout``/``sys.stderr`` while the bar is shown: whole lines go above the bar (their
    colours kept), the line being written (pytest's row of dots) is drawn live just above it."""

    def __init__(self, progress: RunProgress, original: Any) -> None:
        self._progress = progress
        self._original = original
        self._partial = ""
        self.encoding = getattr(original, "encoding", "utf-8")
        self.errors = getattr(original, "errors", "strict")

    def write(self, text: str) -> int:
        from rich.text import Text

        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._progress.console.print(Text.from_ansi(line.rpartition("\r")[2]), soft_wrap=True)
        self._partial = self._partial.rpartition("\r")[2]
        self._progress.show_partial(self._partial)
        return len(text)

    def flush(self) -> None:
        self._progress.progress.refresh()

    def close_line(self) -> None:
        """Print what is left of an unfinished line (the bar is gone by then)."""
        from rich.text import Text

        if self._partial:
            self._progress.console.print(Text.from_ansi(self._partial), soft_wrap=True)
            self._partial = ""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._original.fileno())

    def writable(self) -> bool:
        return True


class RunProgress:
    """A rich progress bar over the collected trials (serial and xdist), drawn on stderr.

    Use :meth:`running` around ``pytest.main``: pytest's terminal output then prints above the bar, whole
    lines at a time with their colours, and the bar draws on a duplicate of the terminal's descriptor, so
    pytest's output capture of a test never swallows a frame of it.
    """

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console, Group
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.text import Text

        self.console = console if console is not None else Console(stderr=True)
        self._partial = Text()
        progress_bar = self

        class _Progress(Progress):
            def get_renderable(self) -> Any:
                table = self.make_tasks_table(self.tasks)
                return Group(progress_bar._partial, table) if progress_bar._partial else table

        self.progress = _Progress(
            TextColumn("[bold]chaos[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[failed]} failing"),
            console=self.console,
            transient=True,
            redirect_stdout=False,  # rich's own redirect prints every flushed "." on a line of its own
            redirect_stderr=False,
            refresh_per_second=4,
        )
        self.task = self.progress.add_task("trials", total=None, failed=0)
        self.failed = 0
        self.total = 0

    def show_partial(self, text: str) -> None:
        """Draw ``text`` (an unfinished output line, ANSI colours allowed) just above the bar."""
        from rich.text import Text

        self._partial = Text.from_ansi(text) if text else Text()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Show the bar, with ``sys.stdout`` and ``sys.stderr`` (where they are terminals) printing above it."""
        saved = sys.stdout, sys.stderr
        proxies = [_TerminalLines(self, stream) if stream is not None and stream.isatty() else None for stream in saved]
        sys.stdout = proxies[0] or saved[0]
        sys.stderr = proxies[1] or saved[1]
        try:
            with self.progress:
                yield
        finally:
            sys.stdout, sys.stderr = saved
            for proxy in proxies:
                if proxy is not None:
                    proxy.close_line()

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


def _terminal_console() -> Any:
    """A rich console on a duplicate of stderr's descriptor: pytest's fd-level capture during a test redirects
    descriptor 2 itself, and the bar must keep drawing on the terminal meanwhile."""
    from rich.console import Console

    terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace", buffering=1)
    return Console(file=terminal, force_terminal=True)


def _run(args: argparse.Namespace) -> int:
    import pytest

    pytest_args = build_pytest_args(args)
    if args.report:
        _check_writable(pathlib.Path(args.report), args.report)
    plugins: list[object] = []
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        progress = RunProgress(_terminal_console())
        plugins.append(progress)
    if progress is None:
        return int(pytest.main(pytest_args, plugins=plugins))
    try:
        with progress.running():
            return int(pytest.main(pytest_args, plugins=plugins))
    finally:
        progress.console.file.close()
