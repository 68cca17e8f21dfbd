"""Hub repo specs: TOML loading, kind inference, and one clear TargetError per bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.errors import TargetError
from chaos.targets.spec import FileSpec, HubSpec, RepoSpec, infer_kind, model_repo


def _spec(**repo: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"repo_id": "acme/tiny", "files": [{"path": "config.json"}]}
    return {"seed": 1, "repos": [{**base, **repo}]}


def test_from_toml_reads_repos_files_and_revisions(tmp_path: Path) -> None:
    """A TOML spec becomes repos with their files, revisions, kinds and sizes."""
    path = tmp_path / "repos.toml"
    path.write_text(
        'seed = 9\n[[repos]]\nrepo_id = "acme/wan"\nrevisions = ["main", "v1"]\n'
        '[[repos.files]]\npath = "config.json"\n'
        '[[repos.files]]\npath = "model.safetensors"\nsize_bytes = 4096\ndtype = "F16"\n'
    )
    spec = HubSpec.from_toml(path)
    assert spec.seed == 9
    assert spec.source == str(path)
    (repo,) = spec.repos
    assert repo == RepoSpec(
        repo_id="acme/wan",
        files=(FileSpec("config.json"), FileSpec("model.safetensors", size_bytes=4096, dtype="F16")),
        revisions=("main", "v1"),
    )


def test_example_scenario_specs_load() -> None:
    """The shipped scenarios/hub_repos.toml is a valid spec with a WAN-like sharded repo."""
    spec = HubSpec.from_toml(Path(__file__).parents[4] / "scenarios" / "hub_repos.toml")
    paths = [f.path for f in spec.repos[0].files]
    assert "config.json" in paths
    assert sum(p.endswith(".safetensors") for p in paths) == 3


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("config.json", "config"),
        ("tokenizer/tokenizer.json", "tokenizer"),
        ("tokenizer_config.json", "tokenizer_config"),
        ("special_tokens_map.json", "special_tokens_map"),
        ("unet/model-00001-of-00002.safetensors", "safetensors"),
        ("model.safetensors.index.json", "safetensors_index"),
        ("scheduler/scheduler_config.json", "json"),
        ("README.md", "text"),
        ("weights.bin", "bytes"),
    ],
)
def test_kind_is_inferred_from_the_path(path: str, kind: str) -> None:
    """Without an explicit kind, the file name decides what content is generated."""
    assert infer_kind(path) == kind


def test_model_repo_has_shards_index_config_and_tokenizer() -> None:
    """model_repo() lays out a sharded diffusers-style repo with its index and tokenizer files."""
    repo = model_repo("acme/wan", shards=3, shard_size_bytes=5000)
    paths = [f.path for f in repo.files]
    assert paths[:4] == [
        "config.json",
        "diffusion_pytorch_model-00001-of-00003.safetensors",
        "diffusion_pytorch_model-00002-of-00003.safetensors",
        "diffusion_pytorch_model-00003-of-00003.safetensors",
    ]
    assert "diffusion_pytorch_model.safetensors.index.json" in paths
    assert "tokenizer/tokenizer.json" in paths


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"seed": "x", "repos": []}, "seed='x'"),
        ({"repos": []}, "repos=[] must be a non-empty list"),
        ({"repos": [], "colour": 1}, "colour is not a known key"),
        (_spec(repo_id="bad id!"), "repos[0].repo_id='bad id!'"),
        (_spec(repo_type="space"), "repos[0].repo_type='space' must be 'model' or 'dataset'"),
        (_spec(revisions=[]), "repos[0].revisions=[] must name at least one branch"),
        (_spec(revisions=["a" * 40]), "would be taken for a commit sha"),
        (_spec(files=[]), "repos[0].files=[] must be a non-empty list"),
        (_spec(files=[{"path": "../etc/passwd"}]), "repos[0].files[0].path='../etc/passwd'"),
        (_spec(files=[{"path": "/abs.bin", "size_bytes": 1}]), "repos[0].files[0].path='/abs.bin'"),
        (_spec(files=[{"path": "x.bin"}]), "repos[0].files[0].size_bytes=None is required for a bytes file"),
        (_spec(files=[{"path": "x.bin", "size_bytes": -1}]), "repos[0].files[0].size_bytes=-1"),
        (_spec(files=[{"path": "m.safetensors", "size_bytes": 10}]), "must be >= 1024 for a safetensors file"),
        (_spec(files=[{"path": "m.safetensors", "size_bytes": 4096, "dtype": "F64"}]), "files[0].dtype='F64'"),
        (_spec(files=[{"path": "config.json", "size_bytes": 5}]), "cannot be set for a config file"),
        (_spec(files=[{"path": "x.json", "kind": "zip"}]), "files[0].kind='zip' must be one of"),
        (_spec(files=[{"path": "x.json", "colour": 1}]), "repos[0].files[0].colour is not a known key"),
        (_spec(files=[{"path": "a.md"}, {"path": "a.md"}]), "files[1].path='a.md' appears twice"),
        (_spec(files=[{"path": "a", "kind": "text"}, {"path": "a/b.md"}]), "is also a folder"),
        (_spec(files=[{"path": "t.json", "kind": "tokenizer", "vocab_size": 2}]), "files[0].vocab_size=2"),
    ],
)
def test_bad_spec_raises_one_error_naming_field_and_value(data: dict[str, Any], needle: str) -> None:
    """Each bad field gives a TargetError whose message names the field path and the bad value."""
    with pytest.raises(TargetError) as caught:
        HubSpec.from_dict(data, source="repos.toml")
    assert needle in str(caught.value)
    assert str(caught.value).startswith("repos.toml:")


def test_duplicate_revision_across_commits_is_rejected() -> None:
    """Two commits of one repo cannot both claim the same branch name."""
    repo = {"repo_id": "acme/tiny", "files": [{"path": "config.json"}]}
    with pytest.raises(TargetError, match=r"repos\[1\]\.revisions='main' is already used by repos\[0\]"):
        HubSpec.from_dict({"repos": [repo, repo]})


def test_missing_and_malformed_toml_files_raise_target_error(tmp_path: Path) -> None:
    """A missing file or broken TOML is one TargetError naming the file and the fix."""
    with pytest.raises(TargetError, match="does not exist; pass --spec"):
        HubSpec.from_toml(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[repos]\n")
    with pytest.raises(TargetError, match="is not valid TOML"):
        HubSpec.from_toml(broken)
