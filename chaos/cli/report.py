"""``resilience report``: render, show, compare and merge chaos journals.

::

    resilience report render reports/journal.json --out site/          # report.html, summary.md, junit.xml
    resilience report render shard*/journal.json --out reports/        # many journals, one report
    resilience report show reports/journal.json                        # a terminal summary
    resilience report diff main/journal.json reports/journal.json      # exit 1 on a regression
    resilience report merge shard1/journal.json shard2/journal.json --out reports/

Every journal read is checked against the journal@1 schema first; a bad one is one line naming the file and
the field, exit 2.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``resilience`` parser."""
    report = subparsers.add_parser("report", help="render, show, diff and merge chaos journals")
    actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")

    render = actions.add_parser("render", help="write report.html, summary.md, junit.xml from journals")
    render.add_argument("journals", nargs="+", help="journal.json files (shards of one run are merged)")
    render.add_argument("--out", default="reports", help="directory for the reports (default: reports)")
    render.set_defaults(func=_render)

    show = actions.add_parser("show", help="print a journal's summary on the terminal")
    show.add_argument("journal", help="a journal.json")
    show.add_argument("--all", action="store_true", help="every failing trial's replay, not the first 5")
    show.set_defaults(func=_show)

    diff = actions.add_parser("diff", help="compare two journals; exit 1 when recovery got worse")
    diff.add_argument("base", help="the journal to compare against (e.g. main's)")
    diff.add_argument("new", help="the journal of the change")
    diff.add_argument("--format", choices=("markdown", "html", "json"), default="markdown", help="default: markdown")
    diff.add_argument("--out", help="write the diff to this file instead of stdout")
    diff.add_argument(
        "--confidence", type=_confidence, default=0.95, help="confidence of the rate test (default: 0.95)"
    )
    diff.add_argument("--test", choices=("fisher", "z"), default="fisher", help="rate test (default: fisher)")
    diff.add_argument("--strict", action="store_true", help="new failure types are regressions too")
    diff.set_defaults(func=_diff)

    merge = actions.add_parser("merge", help="merge shard journals of one run and write the reports")
    merge.add_argument("journals", nargs="+", help="journal.json files of the shards")
    merge.add_argument("--out", default="reports", help="directory for the merged reports (default: reports)")
    merge.set_defaults(func=_merge)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number in (0, 1); fix: pass e.g. --confidence 0.95")
    return value


def _load(path: str) -> dict[str, Any]:
    from chaos.report import load_journal
    from chaos.report.schema import validate_journal

    journal = load_journal(pathlib.Path(path))
    validate_journal(journal, source=f"journal {path}")
    return journal


def _write(journal: dict[str, Any], out: str) -> None:
    from chaos.report import write_reports

    for path in write_reports(journal, pathlib.Path(out)):
        print(f"wrote {path}")


def _render(args: argparse.Namespace) -> int:
    from chaos.report.merge import combine_journals

    _write(combine_journals([_load(path) for path in args.journals]), args.out)
    return 0


def _show(args: argparse.Namespace) -> int:
    from rich.console import Console

    from chaos.report.show import show_journal

    show_journal(_load(args.journal), Console(), replays=None if args.all else 5)
    return 0


def _diff(args: argparse.Namespace) -> int:
    import json

    from chaos.report.diff import diff_journals, diff_to_json, render_diff_markdown

    diff = diff_journals(
        _load(args.base), _load(args.new), confidence=args.confidence, test=args.test, strict=args.strict
    )
    if args.format == "json":
        text = json.dumps(diff_to_json(diff), indent=2) + "\n"
    elif args.format == "html":
        from chaos.report.html import render_diff_html

        text = render_diff_html(diff)
    else:
        text = render_diff_markdown(diff)
    if args.out:
        from resilience_core import atomic_write

        print(f"wrote {atomic_write(pathlib.Path(args.out), text)}")
    else:
        print(text, end="")
    return 1 if diff.regressed else 0


def _merge(args: argparse.Namespace) -> int:
    from chaos.report.merge import merge_journals

    merged = merge_journals([_load(path) for path in args.journals])
    _write(merged, args.out)
    return 0 if all(scenario["passed"] for scenario in merged["scenarios"]) else 1
