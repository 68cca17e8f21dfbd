"""verify_hf_cache and verify_pip on real trees: written by the real `hf` CLI and real pip, then damaged."""

from __future__ import annotations

import fcntl
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from chaos import HubServer, HubSpec, PackageIndex, verify_hf_cache, verify_pip
from chaos.inject import Chaos
from chaos.manager import ChaosManager
from chaos.targets import model_repo
from chaos.trials import Trial

pytestmark = pytest.mark.integration

REPO = "acme/verify"
WEIGHTS = "diffusion_pytorch_model.safetensors"
HF = str(pathlib.Path(sys.executable).with_name("hf"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=50_000),), seed=9)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub")) as server:
        yield server


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    with PackageIndex(root=tmp_path_factory.mktemp("index")) as server:
        yield server


@pytest.fixture
def chaos(tmp_path: pathlib.Path) -> Chaos:
    manager = ChaosManager.build()
    return Chaos(Trial("verify", 0, 1), workdir=tmp_path / "work", make_fault=manager.make_fault)


def _download(chaos: Chaos, hub: HubServer, *args: str) -> None:
    result = chaos.run([HF, "download", REPO, *args], hub=hub, timeout_s=120)
    assert result.ok, result.stderr_tail


def _flip_a_byte(path: pathlib.Path) -> None:
    real = path.resolve()
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0x01
    real.write_bytes(bytes(data))


# -- Hugging Face cache layout -------------------------------------------------------------------------------


def test_hf_cache_download_verifies_then_each_damage_is_found(chaos: Chaos, hub: HubServer) -> None:
    _download(chaos, hub)
    home = chaos.workdir / "hf-home"
    assert verify_hf_cache(home, repos=[REPO], hub=hub) == []
    assert verify_hf_cache(home / "hub", repos=[(REPO, "main")], hub=hub.url) == []  # over HTTP, cache dir

    storage = home / "hub" / ("models--" + REPO.replace("/", "--"))
    commit = hub.commit(REPO)
    weights = storage / "snapshots" / commit / WEIGHTS
    _flip_a_byte(weights)
    problems = verify_hf_cache(home, repos=[REPO], hub=hub)
    assert len(problems) == 1
    assert WEIGHTS in problems[0]
    assert "sha256" in problems[0]

    _flip_a_byte(weights)  # flipped back: the same bytes again
    assert verify_hf_cache(home, repos=[REPO], hub=hub) == []
    leftover = storage / "blobs" / ("0" * 64 + ".incomplete")
    leftover.write_bytes(b"half")
    assert verify_hf_cache(home, repos=[REPO], hub=hub) == [f"unfinished download left: {leftover}"]
    leftover.unlink()

    (storage / "refs" / "main").write_text("f" * 40)
    assert verify_hf_cache(home, repos=[REPO], hub=hub) == [
        f"{REPO}@main: refs/main points at {'f' * 40}, the hub serves {commit}"
    ]
    (storage / "refs" / "main").write_text(commit)

    (storage / "snapshots" / commit / "config.json").unlink()
    assert verify_hf_cache(home, repos=[REPO], hub=hub) == [f"{REPO}@main: config.json is missing"]
    assert verify_hf_cache(home, repos=[REPO], hub=hub, files=[WEIGHTS]) == []


def test_a_held_lock_is_a_problem(chaos: Chaos, hub: HubServer) -> None:
    _download(chaos, hub, "config.json")
    home = chaos.workdir / "hf-home"
    assert verify_hf_cache(home, repos=[REPO], hub=hub, files=["config.json"]) == []
    lock = next((home / "hub" / ".locks").rglob("*.lock"))
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert verify_hf_cache(home, repos=[REPO], hub=hub, files=["config.json"]) == [f"lock still held: {lock}"]


def test_nothing_downloaded_is_a_problem(tmp_path: pathlib.Path, hub: HubServer) -> None:
    assert verify_hf_cache(tmp_path / "absent", repos=[REPO], hub=hub) == [
        f"{tmp_path / 'absent'}: no such folder (nothing was downloaded)"
    ]
    (tmp_path / "empty").mkdir()
    problems = verify_hf_cache(tmp_path / "empty", repos=[REPO], hub=hub)
    assert f"{REPO}@main: config.json is missing" in problems


# -- --local-dir layout --------------------------------------------------------------------------------------


def test_local_dir_download_verifies_then_damage_is_found(chaos: Chaos, hub: HubServer, tmp_path: pathlib.Path) -> None:
    local = tmp_path / "local"
    _download(chaos, hub, "--local-dir", str(local))
    assert verify_hf_cache(local, repos=[REPO], hub=hub) == []
    _flip_a_byte(local / WEIGHTS)
    problems = verify_hf_cache(local, repos=[REPO], hub=hub)
    assert [WEIGHTS in problem for problem in problems] == [True]
    _flip_a_byte(local / WEIGHTS)

    partial = local / ".cache" / "huggingface" / "download" / "x.incomplete"
    partial.write_bytes(b"x")
    assert verify_hf_cache(local, repos=[REPO], hub=hub) == [f"unfinished download left: {partial}"]
    partial.unlink()

    metadata = local / ".cache" / "huggingface" / "download" / "config.json.metadata"
    lines = metadata.read_text().splitlines()
    metadata.write_text("\n".join(["e" * 40, *lines[1:]]) + "\n")
    problems = verify_hf_cache(local, repos=[REPO], hub=hub)
    assert problems == [
        f"{REPO}@main: config.json metadata names commit {['e' * 40]}, the hub serves {hub.commit(REPO)}"
    ]


# -- pip ---------------------------------------------------------------------------------------------------


def _pip_target(chaos: Chaos, index: PackageIndex, target: pathlib.Path, *requirements: str) -> None:
    argv = [sys.executable, "-m", "pip", "install", "--target", str(target), *requirements]
    result = chaos.run(argv, index=index, timeout_s=180)
    assert result.ok, result.stderr_tail


def test_pip_target_verifies_then_wrong_version_and_damage_are_found(
    chaos: Chaos, index: PackageIndex, tmp_path: pathlib.Path
) -> None:
    site = tmp_path / "site"
    _pip_target(chaos, index, site, "wan-app==1.0.0")
    assert verify_pip(site, ["wan-app==1.0.0", "wan-core>=1.0", "wan-utils==0.2.0"]) == []
    assert verify_pip(site, ["wan-utils==0.1.0"]) == ["wan-utils 0.2.0 is installed, 'wan-utils==0.1.0' is required"]
    assert verify_pip(site, ["absent-pkg"]) == [f"absent-pkg is not installed in {site}"]

    module = next(path for path in (site / "wan_core").iterdir() if path.suffix in (".py", ".bin"))
    module.write_bytes(module.read_bytes()[:-1])
    problems = verify_pip(site, ["wan-app==1.0.0"])
    assert len(problems) == 1
    assert "does not match its RECORD hash" in problems[0]

    (site / "~an_utils").mkdir()
    assert f"pip temporary folder left: {site / '~an_utils'}" in verify_pip(site, [])
    with pytest.raises(ValueError, match="is not a requirement"):
        verify_pip(site, ["wan app ==="])


def test_pip_venv_verifies_and_pip_check_finds_a_missing_dependency(
    chaos: Chaos, index: PackageIndex, tmp_path: pathlib.Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = chaos.run([str(venv / "bin" / "python"), "-m", "pip", "install", "wan-app"], index=index, timeout_s=180)
    assert result.ok, result.stderr_tail
    assert verify_pip(venv, ["wan-app==1.0.0"]) == []
    site = next((venv / "lib").glob("python*/site-packages"))
    for removed in site.glob("wan_core*"):
        shutil.rmtree(removed) if removed.is_dir() else removed.unlink()
    problems = verify_pip(venv, ["wan-app==1.0.0"])
    assert problems == ["pip check: wan-app 1.0.0 requires wan-core, which is not installed."]
