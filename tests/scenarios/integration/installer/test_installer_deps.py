"""pip's "(from versions: none)" is told apart: an unreachable index is retryable, a missing package is not."""

from __future__ import annotations

import socket
import subprocess

import pytest

from chaos.targets import PackageIndex
from scenarios.installer.deps import _raise_if_index_unreachable


def _no_versions(project: str) -> subprocess.CalledProcessError:
    output = (
        f"ERROR: Could not find a version that satisfies the requirement {project} (from versions: none)\n"
        f"ERROR: No matching distribution found for {project}\n"
    )
    return subprocess.CalledProcessError(1, ["pip", "install", project], output=output, stderr="")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_index_is_a_connection_error() -> None:
    """With the index down, "no versions" becomes a retryable ConnectionError naming the index page."""
    url = f"http://127.0.0.1:{_closed_port()}/simple/"
    with pytest.raises(ConnectionError, match="unreachable"):
        _raise_if_index_unreachable(_no_versions("wan-utils"), url, timeout_s=2.0)


def test_missing_package_stays_pips_error(index: PackageIndex) -> None:
    """A project the index answers 404 for is really missing: nothing is raised, pip's error stands."""
    _raise_if_index_unreachable(_no_versions("no-such-project"), index.url, timeout_s=5.0)


def test_listed_package_means_a_transient_failure(index: PackageIndex) -> None:
    """If the index lists files for the project pip could not find, the failure was transient."""
    with pytest.raises(ConnectionError, match="lists files"):
        _raise_if_index_unreachable(_no_versions("wan_utils"), index.url, timeout_s=5.0)


def test_other_pip_errors_are_left_alone() -> None:
    """Output without "(from versions: none)" is not probed at all (no network call)."""
    error = subprocess.CalledProcessError(1, ["pip"], output="error: subprocess-exited-with-error", stderr="")
    _raise_if_index_unreachable(error, "http://127.0.0.1:9/simple/", timeout_s=0.1)
