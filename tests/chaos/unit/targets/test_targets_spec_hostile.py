"""Hub and index specs from hostile files: unsafe revisions, deep or binary TOML, impossible tensor sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.errors import TargetError
from chaos.targets import HubSpec, IndexSpec
from chaos.targets.spec import revision_problem


def _write(tmp_path: Path, revision: str) -> Path:
    path = tmp_path / "repos.toml"
    quoted = json.dumps(revision)  # a JSON string is a valid TOML basic string
    path.write_text(
        f'[[repos]]\nrepo_id = "acme/tiny"\nrevisions = ["main", {quoted}]\n[[repos.files]]\npath = "config.json"\n'
    )
    return path


@pytest.mark.parametrize(
    "revision",
    [
        "../../../../escape",
        "..",
        "refs/../../x",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden",
        "a/.hidden",
        "x.lock",
        "a b",
        "a\\b",
        "a\r\nX-Injected: yes",
        "a\x00b",
        "caf\u00e9",
        "a" * 201,
        "0123456789abcdef0123456789abcdef01234567",
    ],
)
def test_unsafe_revisions_are_refused_at_load_in_one_line(tmp_path: Path, revision: str) -> None:
    """A revision that could leave refs/ or break a header is one TargetError naming file, key, value and fix."""
    path = _write(tmp_path, revision)
    with pytest.raises(TargetError) as caught:
        HubSpec.from_toml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: repos[0].revisions=")
    assert (repr(revision) if len(revision) < 60 else "...(") in message
    assert " is refused: " in message
    assert "; fix: use a branch or tag name" in message
    assert "\n" not in message.replace(repr(revision), "")


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "release/2026-01", "feature_x", "1.0-rc.2"])
def test_ordinary_branch_and_tag_names_are_accepted(revision: str) -> None:
    """Real-world branch and tag names, slashes included, stay valid."""
    assert revision_problem(revision) == ""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"seed = 1\n" + b"x = " + b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"),
        (b'[[repos]]\nrepo_id = "J\xfcrgen/x"\n', "is not UTF-8 text"),
        (b"# " + b"x" * (5 << 20), "over the limit"),
        (b"[[repos]\n", "is not valid TOML"),
    ],
)
@pytest.mark.parametrize("kind", ["hub", "index"])
def test_hostile_spec_files_are_one_target_error(tmp_path: Path, content: bytes, expected: str, kind: str) -> None:
    """Deep, non-UTF-8, oversized and broken hub or index specs each give one TargetError naming the file."""
    path = tmp_path / "spec.toml"
    path.write_bytes(content)
    loader = HubSpec.from_toml if kind == "hub" else IndexSpec.from_toml
    with pytest.raises(TargetError) as caught:
        loader(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("dtype", "size"), [("F16", 4097), ("BF16", 10_001), ("F32", 4098)])
def test_a_safetensors_size_must_hold_whole_elements(dtype: str, size: int) -> None:
    """With no filler tensor, a shard's size must be a multiple of its dtype's element size."""
    data = {"repos": [{"repo_id": "a/b", "files": [{"path": "m.safetensors", "size_bytes": size, "dtype": dtype}]}]}
    with pytest.raises(TargetError, match=rf"size_bytes={size} must be a multiple of \d for {dtype} tensors"):
        HubSpec.from_dict(data, source="repos.toml")


def test_a_huge_value_is_shortened_in_the_message() -> None:
    """A megabyte-long bad value does not become a megabyte-long error line."""
    data = {"repos": [{"repo_id": "a/b", "files": [{"path": "x.md", "content": "x", "size_bytes": "9" * 1_000_000}]}]}
    with pytest.raises(TargetError) as caught:
        HubSpec.from_dict(data, source="repos.toml")
    assert len(str(caught.value)) < 300
