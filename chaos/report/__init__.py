"""Reports of a chaos run, all rendered from one journal (DESIGN §4.6).

:func:`write_reports` writes ``journal.json``, ``junit.xml``, ``summary.md`` and ``report.html`` into a
directory; plugins add their own files through the ``chaos_report(journal, outdir)`` hook.
"""

from __future__ import annotations

from chaos.report.journal import SCHEMA, build_journal, load_journal
from chaos.report.writer import write_reports

__all__ = ["SCHEMA", "build_journal", "load_journal", "write_reports"]
