"""Real pip installs from the local package index (pypiserver over generated wheels)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.errors import TargetError
from chaos.targets import IndexSpec, PackageIndex, PackageSpec

pytestmark = pytest.mark.integration

SPEC_FILE = Path(__file__).parents[4] / "scenarios" / "index_packages.toml"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    with PackageIndex(SPEC_FILE, root=tmp_path_factory.mktemp("index")) as server:
        yield server


def pip_install(index: PackageIndex, target: Path, *requirements: str) -> subprocess.CompletedProcess[str]:
    """pip install into ``target`` from this index only (--isolated ignores machine pip config)."""
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--disable-pip-version-check", "--no-input"]
    command += ["--index-url", index.url, "--no-cache-dir", "--target", str(target), *requirements]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_pip_installs_a_package_with_its_dependency_chain(index: PackageIndex, tmp_path: Path) -> None:
    """pip resolves wan-app's Requires-Dist chain from the index; installed files equal the wheels' contents."""
    done = pip_install(index, tmp_path / "site", "wan-app")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    installed = sorted(p.name for p in site.glob("*.dist-info"))
    assert installed == [
        "tiny_tensor-1.2.0.dist-info",  # wan-pipeline pins tiny-tensor==1.2.0 although 1.3.0 is newer
        "wan_app-1.0.0.dist-info",
        "wan_pipeline-1.0.0.dist-info",
        "wan_utils-0.2.0.dist-info",  # wan-app asks for >=0.2
    ]
    with zipfile.ZipFile(index.wheel("tiny-tensor", "1.2.0")) as wheel:
        assert (site / "tiny_tensor" / "payload.bin").read_bytes() == wheel.read("tiny_tensor/payload.bin")
    code = "import wan_app, wan_utils; print(wan_app.__version__, wan_utils.__version__, wan_app.REQUIRES)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[:2] == ["1.0.0", "0.2.0"]
    paths = [r.path for r in index.requests]
    assert "/simple/wan-app/" in paths
    assert "/packages/wan_app-1.0.0-py3-none-any.whl" in paths


def test_pinned_older_version_installs(index: PackageIndex, tmp_path: Path) -> None:
    """A pin to an older version is honoured: both versions are on the index."""
    done = pip_install(index, tmp_path / "site", "wan-utils==0.1.0")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "wan_utils-0.1.0.dist-info").is_dir()


def test_unknown_package_fails_cleanly(index: PackageIndex, tmp_path: Path) -> None:
    """A package the index lacks makes pip fail with 'No matching distribution' (no fallback to pypi.org)."""
    done = pip_install(index, tmp_path / "site", "not-on-this-index")
    assert done.returncode != 0
    assert "No matching distribution found for not-on-this-index" in done.stderr
    assert index.requests[-1].status == 404


def test_default_index_serves_simple_pages_and_wheels(tmp_path: Path) -> None:
    """Without a spec the index serves the built-in packages; the simple page links the wheel files."""
    with PackageIndex(root=tmp_path) as default_index:
        assert default_index.url.endswith("/simple/")
        page = urllib.request.urlopen(default_index.url + "wan-core/", timeout=10).read().decode()
        assert "wan_core-1.0.0-py3-none-any.whl" in page
        wheel_url = f"{default_index.base_url}/packages/wan_core-1.0.0-py3-none-any.whl"
        body = urllib.request.urlopen(wheel_url, timeout=10).read()
        assert body == default_index.wheel("wan-core", "1.0.0").read_bytes()
    assert (tmp_path / "packages").is_dir()  # a caller-owned root is kept


def test_index_errors_are_target_errors(tmp_path: Path) -> None:
    """Unknown wheel lookups, a missing spec file and url-before-start raise TargetError."""
    index = PackageIndex(IndexSpec(packages=(PackageSpec("a", "1.0"),)))
    try:
        with pytest.raises(TargetError, match="not started"):
            _ = index.url
        with pytest.raises(TargetError, match=r"has no a 2\.0"):
            index.wheel("a", "2.0")
    finally:
        index.close()
    assert not index.root.exists()
    with pytest.raises(TargetError, match="does not exist"):
        PackageIndex(tmp_path / "absent.toml")
