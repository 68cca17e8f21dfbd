"""A reused hub root serves nothing from outside it; real clients see honest metadata, tensors and auth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import TargetError
from chaos.targets import FileSpec, HubServer, HubSpec, RepoSpec, generate_repos, model_repo

CLIENT = Path(__file__).with_name("hf_client.py")
REPO = "acme/tiny"
SHARD = "diffusion_pytorch_model.safetensors"


def _spec(dtype: str = "F16") -> HubSpec:
    files = (FileSpec("config.json"), FileSpec(SHARD, size_bytes=40_000, dtype=dtype), FileSpec("README.md"))
    return HubSpec(repos=(RepoSpec(REPO, files),), seed=3)


def _files_under(parent: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(parent.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(parent))] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            found[str(path.relative_to(parent))] = path.read_bytes()
    return found


def _outside(parent: Path, *roots: Path) -> list[str]:
    """Every file or link under ``parent`` that lies in none of ``roots`` (what the server wrote must stay in)."""
    return [
        str(path)
        for path in parent.rglob("*")
        if (path.is_file() or path.is_symlink()) and not any(path.is_relative_to(root) for root in roots)
    ]


def _served(hub: HubServer, path: str) -> bytes:
    with urllib.request.urlopen(f"{hub.url}/{REPO}/resolve/main/{path}", timeout=10) as response:
        data: bytes = response.read()
        return data


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A root generated once, and an outside file of the shard's size holding a secret."""
    root = tmp_path / "root"
    hub = generate_repos(_spec(), root)
    shard = hub.file(REPO, SHARD)
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"S" * shard.size_bytes)
    return root, secret, shard.read_bytes()


def _tamper_symlink(root: Path, secret: Path) -> None:
    (local,) = root.rglob(SHARD)
    local.unlink()
    local.symlink_to(secret)


def _tamper_bytes(root: Path, secret: Path) -> None:
    (local,) = root.rglob(SHARD)
    local.write_bytes(secret.read_bytes())


def _tamper_manifest_path(root: Path, secret: Path) -> None:
    manifest = root / ".chaos-targets.json"
    data = json.loads(manifest.read_text())
    for entry in data["repos"][0]["files"]:
        if entry[0] == SHARD:
            entry[0] = os.path.relpath(secret, root / "models" / REPO / data["repos"][0]["commit"])
    manifest.write_text(json.dumps(data))


def _tamper_parent_link(root: Path, secret: Path) -> None:
    (local,) = root.rglob(SHARD)
    commit_dir = local.parent
    moved = secret.parent / "moved-commit"
    shutil.move(commit_dir, moved)
    (moved / SHARD).write_bytes(secret.read_bytes())
    commit_dir.symlink_to(moved)


@pytest.mark.parametrize("tamper", [_tamper_symlink, _tamper_bytes, _tamper_manifest_path], ids=lambda f: f.__name__)
def test_a_reused_root_never_serves_bytes_it_cannot_prove(
    tmp_path: Path, generated: tuple[Path, Path, bytes], tamper: Any
) -> None:
    """A symlinked file or folder, same-size different bytes, or a manifest path pointing out: the hub serves the
    spec's bytes (regenerated), never the outside file, and writes nothing outside its root."""
    root, secret, expected = generated
    tamper(root, secret)
    outside_before = _files_under(secret.parent)
    with HubServer(_spec(), root=root) as hub:
        assert _served(hub, SHARD) == expected
        assert not hub.file(REPO, SHARD).local_path.is_symlink()
    assert secret.read_bytes() == b"S" * len(expected)
    assert _files_under(secret.parent) == outside_before
    assert _outside(tmp_path, root, secret.parent) == []


def test_a_symlinked_commit_folder_is_refused_and_nothing_outside_changes(
    tmp_path: Path, generated: tuple[Path, Path, bytes]
) -> None:
    """A commit folder swapped for a symlink to outside files of the right names: TargetError, outside untouched."""
    root, secret, _ = generated
    _tamper_parent_link(root, secret)
    outside_before = _files_under(secret.parent)
    with pytest.raises(TargetError, match="a symlink on the way leads outside the root"):
        HubServer(_spec(), root=root)
    assert _files_under(secret.parent) == outside_before
    assert _outside(tmp_path, root, secret.parent) == []


def test_a_symlinked_folder_that_leads_out_of_the_root_is_refused(tmp_path: Path) -> None:
    """A root whose models/ folder is a symlink to elsewhere is one TargetError; nothing is written there."""
    root = tmp_path / "root"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / "models").symlink_to(elsewhere)
    with pytest.raises(TargetError, match="a symlink on the way leads outside the root"):
        HubServer(_spec(), root=root)
    assert list(elsewhere.iterdir()) == []


def test_an_intact_root_is_reused_without_rewriting(generated: tuple[Path, Path, bytes]) -> None:
    """When every file still hashes right, a second server reuses them (same inodes) and serves them."""
    root, _, expected = generated
    (local,) = root.rglob(SHARD)
    inode = local.stat().st_ino
    with HubServer(_spec(), root=root) as hub:
        assert hub.file(REPO, SHARD).local_path.stat().st_ino == inode
        assert _served(hub, SHARD) == expected


def _client(hub: HubServer, hf_home: Path, calls: list[dict[str, Any]], **env: str) -> list[dict[str, Any]]:
    environ = {**os.environ, **hub.client_env(hf_home), **env}
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if name not in env:
            environ.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(CLIENT), json.dumps(calls)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_a_hostile_revision_from_a_real_client_writes_nothing_outside_its_cache(tmp_path: Path) -> None:
    """hf_hub_download/snapshot_download(revision='../../../../escape') get RevisionNotFound; nothing escapes."""
    cache = tmp_path / "a" / "b" / "c" / "d" / "home"
    with HubServer(_spec(), root=tmp_path / "root") as hub:
        calls = [
            {"op": "hf_hub_download", "args": [REPO, "config.json"], "kwargs": {"revision": "../../../../escape"}},
            {"op": "snapshot_download", "args": [REPO], "kwargs": {"revision": "../../../../escape"}},
            {"op": "hf_hub_download", "args": [REPO, "config.json"], "kwargs": {"revision": "%2e%2e/%2e%2e/x"}},
        ]
        results = _client(hub, cache, calls)
    assert [r.get("error") for r in results] == ["RevisionNotFoundError"] * 3, results
    assert _outside(tmp_path, cache, tmp_path / "root") == []


def test_model_info_with_files_metadata_has_sizes_and_lfs(tmp_path: Path) -> None:
    """HfApi.model_info(files_metadata=True) siblings carry size, blob_id and lfs {sha256, size} like the Hub."""
    with HubServer(_spec(), root=tmp_path / "root") as hub:
        from huggingface_hub import HfApi

        info = HfApi(endpoint=hub.url).model_info(REPO, files_metadata=True)
        siblings = {s.rfilename: s for s in info.siblings or ()}
        for path, file in hub.files(REPO).items():
            sibling = siblings[path]
            assert sibling.size == file.size_bytes
            assert sibling.blob_id == file.oid
            if file.lfs:
                assert sibling.lfs is not None
                assert (sibling.lfs.sha256, sibling.lfs.size) == (file.sha256, file.size_bytes)
            else:
                assert sibling.lfs is None
        plain = HfApi(endpoint=hub.url).model_info(REPO)
        assert {s.size for s in plain.siblings or ()} == {None}  # without the flag, names only (as the Hub does)


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("F16", "float16"), ("BF16", "bfloat16"), ("F32", "float32")])
def test_generated_weights_are_honest_about_their_dtype(tmp_path: Path, dtype: str, torch_dtype: str) -> None:
    """Every tensor of a shard has the spec's dtype (no filler tensor) and config.json names the same dtype."""
    safetensors = pytest.importorskip("safetensors")
    repo = generate_repos(_spec(dtype), tmp_path).repos[0]
    with safetensors.safe_open(str(repo.files[SHARD].local_path), "np") as shard:
        dtypes = {name: str(shard.get_slice(name).get_dtype()) for name in shard.keys()}  # noqa: SIM118
    assert set(dtypes.values()) == {dtype}
    assert not [name for name in dtypes if "pad" in name]
    assert json.loads(repo.files["config.json"].read_bytes())["torch_dtype"] == torch_dtype


def test_a_hub_that_requires_a_token_answers_401_without_it(tmp_path: Path) -> None:
    """HubServer(token=...) answers 401 GatedRepo without the header, and serves real clients that send it."""
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=4096),), seed=1)
    with HubServer(spec, root=tmp_path / "root", token="hf_local_secret") as hub:
        call = [{"op": "hf_hub_download", "args": [REPO, "config.json"]}]
        (denied,) = _client(hub, tmp_path / "h1", call)
        assert "GatedRepoError" in denied["mro"]
        (allowed,) = _client(hub, tmp_path / "h2", call, HF_TOKEN="hf_local_secret")
        assert Path(allowed["ok"]).read_bytes() == hub.file(REPO, "config.json").read_bytes()
        assert any(r.authorized and r.status == 200 for r in hub.requests)
