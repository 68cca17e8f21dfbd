"""verify.files: plain downloads against the hub's bytes, strict after success, damage-only after a failure."""

from __future__ import annotations

import pathlib
import shutil

from chaos.scenario.checks import plain_files_problems
from chaos.targets import HubServer, HubSpec, model_repo


def served(tmp_path: pathlib.Path) -> HubServer:
    spec = HubSpec(repos=(model_repo("acme/tiny", shards=1, shard_size_bytes=4096),), seed=1)
    return HubServer(spec, root=tmp_path / "hub")  # generated on disk; never started: no socket


def download(hub: HubServer, into: pathlib.Path) -> list[str]:
    """Copy every served file to ``into`` as a plain downloader would; their repo paths."""
    repo = hub.generated.repo("acme/tiny")
    for path, file in repo.files.items():
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file.local_path, into / path)
    return sorted(repo.files)


def test_a_complete_plain_download_verifies(tmp_path: pathlib.Path) -> None:
    """Every file present with the hub's bytes: no problems."""
    hub = served(tmp_path)
    download(hub, tmp_path / "model")
    assert plain_files_problems(tmp_path / "model", hub, "acme/tiny", "main", required=True) == []


def test_missing_files_count_only_after_a_successful_run(tmp_path: pathlib.Path) -> None:
    """A missing file is a problem when the run claimed success, and what a clean failure leaves otherwise."""
    hub = served(tmp_path)
    paths = download(hub, tmp_path / "model")
    (tmp_path / "model" / "config.json").unlink()
    assert plain_files_problems(tmp_path / "model", hub, "acme/tiny", "main", required=True) == [
        "acme/tiny@main: config.json is missing"
    ]
    assert plain_files_problems(tmp_path / "model", hub, "acme/tiny", "main", required=False) == []
    assert "config.json" in paths


def test_a_half_written_file_is_a_problem_either_way(tmp_path: pathlib.Path) -> None:
    """A truncated or flipped file is damage whatever the exit status."""
    hub = served(tmp_path)
    download(hub, tmp_path / "model")
    weights = tmp_path / "model" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    for required in (True, False):
        [problem] = plain_files_problems(tmp_path / "model", hub, "acme/tiny", "main", required=required)
        assert problem.startswith("acme/tiny@main: diffusion_pytorch_model.safetensors: ")
        assert "bytes on disk" in problem
