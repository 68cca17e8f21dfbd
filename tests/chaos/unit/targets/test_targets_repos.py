"""Repo generation: deterministic bytes and commits, real safetensors, Hub-style hashes, reuse of earlier output."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from safetensors import safe_open

from chaos.errors import TargetError
from chaos.targets.repos import generate_repos
from chaos.targets.spec import FileSpec, HubSpec, RepoSpec, model_repo


def _spec(seed: int = 5) -> HubSpec:
    return HubSpec(
        repos=(model_repo("acme/wan", shards=2, shard_size_bytes=50_000, revisions=("main", "v1")),), seed=seed
    )


def test_same_spec_and_seed_give_same_bytes_and_commit(tmp_path: Path) -> None:
    """Two generations of one spec into different roots are byte-identical with the same commit sha."""
    first = generate_repos(_spec(), tmp_path / "a").repos[0]
    second = generate_repos(_spec(), tmp_path / "b").repos[0]
    assert first.commit == second.commit
    assert len(first.commit) == 40
    for path, file in first.files.items():
        assert file.read_bytes() == second.files[path].read_bytes()
        assert file.local_path != second.files[path].local_path


def test_another_seed_changes_bytes_and_commit(tmp_path: Path) -> None:
    """The seed drives content: a different seed gives different shards and a different commit."""
    first = generate_repos(_spec(1), tmp_path / "a").repos[0]
    second = generate_repos(_spec(2), tmp_path / "b").repos[0]
    assert first.commit != second.commit
    shard = "diffusion_pytorch_model-00001-of-00002.safetensors"
    assert first.files[shard].read_bytes() != second.files[shard].read_bytes()


def test_safetensors_shards_are_valid_with_exact_size_and_an_index(tmp_path: Path) -> None:
    """Shards open with the safetensors library, are exactly size_bytes long, and the index maps every tensor."""
    repo = generate_repos(_spec(), tmp_path).repos[0]
    index = json.loads(repo.files["diffusion_pytorch_model.safetensors.index.json"].read_bytes())
    seen: dict[str, str] = {}
    for name in (
        "diffusion_pytorch_model-00001-of-00002.safetensors",
        "diffusion_pytorch_model-00002-of-00002.safetensors",
    ):
        file = repo.files[name]
        data = file.read_bytes()
        assert len(data) == file.size_bytes == 50_000
        (header_len,) = struct.unpack("<Q", data[:8])
        assert header_len % 8 == 0
        header = json.loads(data[8 : 8 + header_len])
        assert header["__metadata__"]["format"] == "pt"
        with safe_open(str(file.local_path), "np") as shard:
            keys = list(shard.keys())
            shapes = {key: shard.get_slice(key).get_shape() for key in keys}
        assert all(shape[1] == 256 for key, shape in shapes.items() if key.endswith(".weight"))
        assert all(len(shape) == 1 for key, shape in shapes.items() if key.endswith(".bias"))
        seen.update(dict.fromkeys(keys, name))
    assert index["weight_map"] == seen
    config = json.loads(repo.files["config.json"].read_bytes())
    assert config["model_type"] == "wan"


def test_hashes_match_what_the_hub_reports(tmp_path: Path) -> None:
    """sha256, git blob sha1, LFS flag, etag and tree oid follow the real Hub's rules."""
    repo = generate_repos(_spec(), tmp_path).repos[0]
    shard = repo.files["diffusion_pytorch_model-00001-of-00002.safetensors"]
    config = repo.files["config.json"]
    for file in (shard, config):
        data = file.read_bytes()
        assert file.sha256 == hashlib.sha256(data).hexdigest()
        assert file.git_sha1 == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert shard.lfs
    assert shard.etag == shard.sha256
    pointer = shard.lfs_pointer
    assert pointer.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + shard.sha256.encode())
    assert shard.oid == hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
    assert not config.lfs
    assert config.etag == config.oid == config.git_sha1


def test_lfs_can_be_forced_and_large_files_are_lfs(tmp_path: Path) -> None:
    """lfs=true marks a small file LFS; a bytes file is LFS by default; lfs=false overrides it."""
    files = (
        FileSpec("notes.txt", lfs=True),
        FileSpec("blob.bin", size_bytes=10),
        FileSpec("raw.bin", size_bytes=10, lfs=False),
    )
    repo = generate_repos(HubSpec(repos=(RepoSpec("acme/x", files),)), tmp_path).repos[0]
    assert [repo.files[p].lfs for p in ("notes.txt", "blob.bin", "raw.bin")] == [True, True, False]


def test_second_generation_reuses_files_and_repairs_changed_ones(tmp_path: Path) -> None:
    """Generating again into the same root reuses intact files, and rewrites when one changed size."""
    first = generate_repos(_spec(), tmp_path)
    shard = first.repos[0].files["diffusion_pytorch_model-00002-of-00002.safetensors"]
    mtime = shard.local_path.stat().st_mtime_ns
    assert generate_repos(_spec(), tmp_path).repos == first.repos
    assert shard.local_path.stat().st_mtime_ns == mtime
    shard.local_path.write_bytes(b"short")
    again = generate_repos(_spec(), tmp_path)
    assert (
        again.repos[0].files[shard.path].read_bytes()
        == generate_repos(_spec(), tmp_path / "fresh").repos[0].files[shard.path].read_bytes()
    )
    assert not list(tmp_path.glob(".staging-*"))


def test_lookups_by_revision_commit_and_clear_errors(tmp_path: Path) -> None:
    """Branches and the full commit sha resolve to one commit; unknown names raise TargetError listing what exists."""
    hub = generate_repos(_spec(), tmp_path)
    repo = hub.repo("acme/wan", "v1")
    assert hub.resolve("acme/wan", repo.commit) is repo
    assert hub.resolve("acme/wan", "nope") is None
    assert hub.commits("acme/other") == []
    with pytest.raises(
        TargetError, match=r"no model repo 'acme/wan' at revision 'nope'; the spec has \['model:acme/wan@main'"
    ):
        hub.repo("acme/wan", "nope")
    with pytest.raises(TargetError, match=r"has no file 'missing\.bin'"):
        hub.file("acme/wan", "missing.bin")


def test_unwritable_root_raises_target_error(tmp_path: Path) -> None:
    """A root that cannot be created is one TargetError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TargetError, match="cannot generate repos under root="):
        generate_repos(_spec(), blocker / "sub")
