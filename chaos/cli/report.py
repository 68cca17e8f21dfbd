"""``resilience report``: work with chaos journals.

::

    resilience report merge shard1/journal.json shard2/journal.json --out reports/
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``resilience`` parser."""
    report = subparsers.add_parser("report", help="work with chaos journals")
    report_actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = report_actions.add_parser("merge", help="merge shard journals and write the reports")
    merge.add_argument("journals", nargs="+", help="journal.json files of the shards")
    merge.add_argument("--out", default="reports", help="directory for the merged reports (default: reports)")
    merge.set_defaults(func=_report_merge)


def _report_merge(args: argparse.Namespace) -> int:
    import pathlib

    from chaos.report import load_journal, write_reports
    from chaos.report.merge import merge_journals

    merged = merge_journals([load_journal(pathlib.Path(path)) for path in args.journals])
    for path in write_reports(merged, pathlib.Path(args.out)):
        print(f"wrote {path}")
    return 0 if all(scenario["passed"] for scenario in merged["scenarios"]) else 1
