"""Install the app's Python requirements with real pip, from the configured index, into ``site-packages``.

pip runs as a subprocess with ``--retries 0``: retrying is the runtime's job (operation
``dependency_install``), so every failure is categorized from pip's own output (network, hash mismatch, no
matching distribution) and recovered or reported the same way as everything else. Where the installed pip has
it (pip >= 25.1), ``--resume-retries`` lets pip itself finish a download cut short with a ``Range`` request, so
a connection reset mid-wheel costs the rest of that wheel, not a whole new ``pip install``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from resilience_core.recovery import pip_resume_args

__all__ = ["pip_install"]


def pip_install(
    requirements: tuple[str, ...], *, index_url: str, target: Path, timeout_s: float, resume_retries: int = 5
) -> str:
    """Run ``pip install --target`` for ``requirements``; returns pip's stdout.

    ``resume_retries``: how many times pip may resume one interrupted download (``--resume-retries``, passed
    only when this Python's pip has it; 0 never passes it).

    Raises ``subprocess.CalledProcessError`` (with pip's stdout and stderr attached) when pip fails, and
    ``subprocess.TimeoutExpired`` when it runs longer than 30 network timeouts; ``ConnectionError`` when pip
    found no versions because the index itself is unreachable.
    """
    target.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-cache-dir",
        "--upgrade",
        "--retries",
        "0",
        *pip_resume_args(resume_retries),
        "--timeout",
        f"{timeout_s:g}",
        "--target",
        os.fspath(target),
        "--index-url",
        index_url,
        *requirements,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # the index comes from the app config, not the user's pip.conf
    try:
        completed = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s * 30, env=env, check=True)
    except subprocess.CalledProcessError as error:
        failed = error
    else:
        return completed.stdout
    # Outside the except block: the categorizer walks __context__ too, and pip's error must not decide.
    _raise_if_index_unreachable(failed, index_url, timeout_s)
    raise failed


def _raise_if_index_unreachable(error: subprocess.CalledProcessError, index_url: str, timeout_s: float) -> None:
    """pip with ``--retries 0`` reports an unreachable index exactly like a missing package ("from versions:
    none"). Ask the index for that project's page: unreachable, or listing files after all, means the failure
    was the network's (raised as ``ConnectionError``, so it is retried); a 404 means the package is missing."""
    import re
    import urllib.error
    import urllib.request

    output = f"{error.stdout}{error.stderr}"
    found = re.search(r"No matching distribution found for ([A-Za-z0-9._-]+)", output)
    if "(from versions: none)" not in output or found is None:
        return
    project = re.sub(r"[-_.]+", "-", found.group(1)).lower()
    page = f"{index_url.rstrip('/')}/{project}/"
    try:
        with urllib.request.urlopen(page, timeout=timeout_s) as response:  # the config's http(s) index
            listed = b"href" in response.read()
    except urllib.error.HTTPError as status:
        if status.code == 404:
            return  # the index does not have it: a real "missing"
        raise ConnectionError(f"package index page {page} answered {status.code}; pip found no versions") from status
    except OSError as probe:
        raise ConnectionError(f"package index {page} is unreachable ({probe}); pip found no versions") from probe
    if listed:
        raise ConnectionError(f"pip found no versions of {project}, yet {page} lists files: a transient failure")
