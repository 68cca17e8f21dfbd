"""Let pip resume an interrupted download itself: ``--resume-retries`` where the installed pip has it.

pip 25.1 added ``--resume-retries N``: when a download stops short, pip asks for the rest with an HTTP ``Range``
request, up to N times, instead of failing (and the next attempt starting again from byte 0). The runtime still
retries the whole ``pip install`` when pip gives up; with this option each of those attempts wastes less. An
older pip rejects the option, so it is only passed when the pip that will run has it.

>>> parse_pip_version("pip 26.3 from /venv/lib/python3.11/site-packages/pip (python 3.11)")
(26, 3)
>>> resume_args((25, 0)), resume_args((25, 1), retries=3), resume_args((26, 3), retries=0)
((), ('--resume-retries', '3'), ('--resume-retries', '0'))
"""

from __future__ import annotations

import os
import re
import sys

__all__ = ["PIP_RESUME_SINCE", "parse_pip_version", "pip_resume_args", "pip_version", "resume_args"]

PIP_RESUME_SINCE: tuple[int, int] = (25, 1)
"""The first pip release with ``--resume-retries``."""

_VERSION = re.compile(r"(?:^|\bpip\s+)(\d+)\.(\d+)")


def parse_pip_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from ``pip --version`` output or a bare version string (``"25.1.1"``), or None."""
    match = _VERSION.search(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match is not None else None


def pip_version(python: str | None = None, *, timeout_s: float = 30.0) -> tuple[int, int] | None:
    """The (major, minor) version of the pip that ``python -m pip`` runs, or None when it has none.

    For this interpreter (``python`` None or ``sys.executable``) it is read from the installed metadata; for
    another one, from ``python -m pip --version``.
    """
    # importlib.metadata and subprocess load here, not at `import resilience_core` (they cost milliseconds).
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        from importlib import metadata

        try:
            return parse_pip_version(metadata.version("pip"))
        except metadata.PackageNotFoundError:
            return None
    import subprocess

    try:
        completed = subprocess.run(
            [python, "-m", "pip", "--version"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_pip_version(completed.stdout) if completed.returncode == 0 else None


def resume_args(version: tuple[int, int] | None, *, retries: int = 5) -> tuple[str, ...]:
    """``("--resume-retries", str(retries))`` when ``version`` has the option, else nothing.

    ``retries=0`` is passed explicitly: newer pips resume by default, so leaving the flag out would not switch
    resuming off.
    """
    if version is None or version < PIP_RESUME_SINCE:
        return ()
    return ("--resume-retries", str(max(0, retries)))


def pip_resume_args(retries: int = 5, *, python: str | None = None) -> tuple[str, ...]:
    """The pip arguments that make the installed pip resume interrupted downloads (empty for an older pip).

    >>> cmd = [sys.executable, "-m", "pip", "install", *pip_resume_args(5), "wan-app"]  # doctest: +SKIP
    """
    return resume_args(pip_version(python), retries=retries)
