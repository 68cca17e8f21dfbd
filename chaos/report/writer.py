"""Write every report of a journal into a directory, and hand the summary to GitHub Actions when there.

::

    from chaos.report import write_reports

    write_reports(journal, pathlib.Path("reports"))  # journal.json, junit.xml, summary.md, report.html

Files are written with :func:`resilience_core.atomic_write`: readers never see half a file, and the mode
follows the umask (0644 under the usual 022), like any file a tool writes.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from chaos.report.github import publish
from chaos.report.html import render_html
from chaos.report.journal import write_json_atomic
from chaos.report.junit import render_junit
from chaos.report.markdown import render_markdown
from resilience_core import atomic_write

__all__ = ["REPORT_FILES", "write_reports"]

REPORT_FILES = ("journal.json", "junit.xml", "summary.md", "report.html")


def write_reports(
    journal: Mapping[str, Any],
    outdir: pathlib.Path,
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> list[pathlib.Path]:
    """Write :data:`REPORT_FILES` into ``outdir`` and return their paths.

    Under GitHub Actions (``environ`` defaults to ``os.environ``) ``summary.md`` is also appended to
    ``$GITHUB_STEP_SUMMARY`` and failed scenarios are printed to ``stream`` (default stdout) as ``::error``
    annotations.
    """
    markdown = render_markdown(journal)
    paths = [
        write_json_atomic(outdir / "journal.json", journal),
        atomic_write(outdir / "junit.xml", render_junit(journal)),
        atomic_write(outdir / "summary.md", markdown),
        atomic_write(outdir / "report.html", render_html(journal)),
    ]
    publish(
        journal,
        markdown,
        environ=os.environ if environ is None else environ,
        stream=sys.stdout if stream is None else stream,
    )
    return paths
