"""``resilience run`` (run chaos scenarios through pytest) and ``resilience faults list``.

::

    resilience run scenarios/ --trials 5 --seed 42 -n auto --report reports/
    resilience run scenarios/ --shard 1/2 --seed 42 --report shard1/   # one of two CI jobs
    resilience faults list            # every fault, its parameters, and which backends work here
    resilience faults list --json
    resilience report merge shard1/journal.json shard2/journal.json --out reports/
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import re
import shlex
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["RunProgress", "build_pytest_args", "faults_table", "register"]


def register(subparsers: Any) -> None:
    """Add ``run`` and ``faults`` to the ``resilience`` parser."""
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

    faults = subparsers.add_parser("faults", help="inspect the registered faults")
    actions = faults.add_subparsers(dest="faults_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every fault: summary, parameters, backends usable here")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_faults_list)

    report = subparsers.add_parser("report", help="work with chaos journals")
    report_actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = report_actions.add_parser("merge", help="merge shard journals and write the reports")
    merge.add_argument("journals", nargs="+", help="journal.json files of the shards")
    merge.add_argument("--out", default="reports", help="directory for the merged reports (default: reports)")
    merge.set_defaults(func=_report_merge)


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


def faults_table(manager: Any) -> list[dict[str, Any]]:
    """One entry per registered fault: name, summary, availability, params and backends."""
    return [
        {
            "name": fault_cls.name,
            "summary": fault_cls.summary,
            "unavailable": fault_cls.availability(),
            "plugin": fault_cls.__module__,
            "params": [param.describe() for param in fault_cls.params],
            "backends": fault_cls.backends(),
        }
        for fault_cls in manager.registry
    ]


def _report_merge(args: argparse.Namespace) -> int:
    import pathlib

    from chaos.report import load_journal, write_reports
    from chaos.report.merge import merge_journals

    merged = merge_journals([load_journal(pathlib.Path(path)) for path in args.journals])
    for path in write_reports(merged, pathlib.Path(args.out)):
        print(f"wrote {path}")
    return 0 if all(scenario["passed"] for scenario in merged["scenarios"]) else 1


def _faults_list(args: argparse.Namespace) -> int:
    from chaos.manager import ChaosManager

    manager = ChaosManager.build()
    rows = faults_table(manager)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "available" if row["unavailable"] is None else f"UNAVAILABLE: {row['unavailable']}"
        print(f"{row['name']}  [{state}]  ({row['plugin']})")
        if row["summary"]:
            print(f"    {row['summary']}")
        for line in row["params"]:
            print(f"    - {line}")
        for backend, reason in row["backends"].items():
            print(f"    backend {backend}: {'works here' if reason is None else 'no: ' + reason}")
    if not rows:
        print("no faults registered (are chaos.faults or plugins installed?)")
    if manager.builtin_missing:
        print(f"(built-in modules not present: {', '.join(manager.builtin_missing)})")
    return 0
