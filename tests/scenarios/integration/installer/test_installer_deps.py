"""pip in the reference installer: "(from versions: none)" is told apart (an unreachable index is retryable, a
missing package is not), and pip resumes a wheel cut short by a connection reset (``--resume-retries``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.proxy import EmbeddedToxiproxy
from chaos.targets import IndexSpec, PackageIndex, PackageSpec
from resilience_core import categorize
from resilience_core.recovery import PIP_RESUME_SINCE
from resilience_core.recovery.pip_resume import pip_version
from scenarios.installer.deps import _raise_if_index_unreachable, pip_install

WHEEL_PAYLOAD_BYTES = 1_200_000
RESET_AFTER_BYTES = 400_000  # each connection is reset after this many bytes: the wheel needs 3+ connections
RESETS = 2  # then the link heals, so the test does not depend on how many resumes pip allows by default


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
    with pytest.raises(ConnectionError, match="unreachable") as raised:
        _raise_if_index_unreachable(_no_versions("wan-utils"), url, timeout_s=2.0)
    assert f"{url}wan-utils/" in str(raised.value)
    assert categorize(raised.value).details["retryable"] is True


def test_missing_package_stays_pips_error(index: PackageIndex) -> None:
    """A project the index answers 404 for is really missing: the index was asked, nothing is raised."""
    before = len(index.requests)
    assert _raise_if_index_unreachable(_no_versions("no-such-project"), index.url, timeout_s=5.0) is None
    asked = [(r.path, r.status) for r in index.requests[before:]]
    assert asked == [("/simple/no-such-project/", 404)]
    assert categorize(_no_versions("no-such-project")).details["retryable"] is False


def test_listed_package_means_a_transient_failure(index: PackageIndex) -> None:
    """If the index lists files for the project pip could not find, the failure was transient."""
    with pytest.raises(ConnectionError, match="lists files"):
        _raise_if_index_unreachable(_no_versions("wan_utils"), index.url, timeout_s=5.0)


def test_other_pip_errors_are_left_alone() -> None:
    """Output without "(from versions: none)" is not probed at all: nothing connects to the index's port."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/simple/"
        error = subprocess.CalledProcessError(1, ["pip"], output="error: subprocess-exited-with-error", stderr="")
        assert _raise_if_index_unreachable(error, url, timeout_s=0.1) is None
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection is waiting: the index was never asked


# --- pip's own resume behind a resetting link ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """pypiserver serving one wheel of about 1.2 MB (random, so it does not compress)."""
    spec = IndexSpec(packages=(PackageSpec("big-weights", "1.0.0", size_bytes=WHEEL_PAYLOAD_BYTES),))
    with PackageIndex(spec, root=tmp_path_factory.mktemp("big-index")) as index:
        yield index


@pytest.fixture
def resetting_wheel(big_index: PackageIndex) -> Iterator[tuple[str, object]]:
    """The wheel's URL behind a proxy that resets every connection after RESET_AFTER_BYTES; (requirement, proxy).

    pip gets the wheel by its URL through the proxy (and nothing else: the index page goes direct), so every
    reset the proxy counts cut the wheel.
    """
    wheel = big_index.wheel("big-weights", "1.0.0")
    with EmbeddedToxiproxy(seed=5) as server:
        proxy = server.create_proxy("index", upstream=f"127.0.0.1:{big_index.port}")
        proxy.add_toxic("reset_peer", name="cut", attributes={"after_bytes": RESET_AFTER_BYTES})
        yield f"big-weights @ http://{proxy.listen}/packages/{wheel.name}", proxy


needs_resume = pytest.mark.skipif(
    (pip_version() or (0, 0)) < PIP_RESUME_SINCE, reason=f"this pip is older than {PIP_RESUME_SINCE}"
)


@needs_resume
def test_pip_resumes_a_wheel_cut_by_resets(
    big_index: PackageIndex, resetting_wheel: tuple[str, object], tmp_path: Path
) -> None:
    """Real pip with --resume-retries finishes a wheel cut by two resets in one run, asking only for the rest."""
    requirement, proxy = resetting_wheel
    before = len(big_index.requests)
    healed = threading.Event()

    def heal_after_resets() -> None:
        deadline = time.monotonic() + 60
        while proxy.triggered("cut") < RESETS and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.005)
        proxy.remove_toxic("cut")  # type: ignore[attr-defined]
        healed.set()

    watcher = threading.Thread(target=heal_after_resets, daemon=True)
    watcher.start()
    site = tmp_path / "site"
    pip_install((requirement,), index_url=big_index.url, target=site, timeout_s=20, resume_retries=5)
    watcher.join(5)
    assert healed.is_set()
    payload = site / "big_weights" / "payload.bin"
    assert payload.stat().st_size == WHEEL_PAYLOAD_BYTES
    wheel_requests = [r for r in big_index.requests[before:] if r.path.endswith(".whl")]
    statuses = [r.status for r in wheel_requests]
    assert statuses[0] == 200
    assert statuses[1:] == [206] * (len(statuses) - 1)  # after each reset pip asked for the rest, never the whole
    assert len(statuses) >= RESETS + 1


@needs_resume
def test_without_resume_the_same_reset_fails_the_install(
    big_index: PackageIndex, resetting_wheel: tuple[str, object], tmp_path: Path
) -> None:
    """The control: --resume-retries 0 and a link that never heals, pip gives up; the failure reads as the network's.

    pip 26 resumes 5 times by default, so 0 is passed explicitly; the link also cuts every connection after
    100 kB (the 1.2 MB wheel would need 12 connections).
    """
    requirement, proxy = resetting_wheel
    proxy.update_toxic("cut", attributes={"after_bytes": 100_000})  # type: ignore[attr-defined]
    site = tmp_path / "site"
    with pytest.raises(subprocess.CalledProcessError) as failed:
        pip_install((requirement,), index_url=big_index.url, target=site, timeout_s=20, resume_retries=0)
    assert failed.value.cmd[failed.value.cmd.index("--resume-retries") + 1] == "0"
    ctx = categorize(failed.value, "dependency_install")
    assert ctx.failure_type.value == "network_connectivity_loss", ctx.details
    assert ctx.details["retryable"] is True


def test_pip_version_of_another_interpreter_is_asked_with_pip_itself(tmp_path: Path) -> None:
    """For a Python other than this one, the version comes from `python -m pip --version`."""
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    assert pip_version(str(wrapper)) == pip_version()
    assert pip_version(str(tmp_path / "no-such-python")) is None
