"""Every outside name the hub layout joins to a root is checked: revisions, commits, ETags, repository paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from resilience_core import ConfigError, UnsafePathError
from resilience_core.hub import RemoteFile
from resilience_core.hub.layout import Layout
from resilience_core.hub.metadata import validate_revision

COMMIT = "a" * 40
ETAG = "b" * 64


UNSAFE_REVISIONS = ("../../../../escape", "a/../../b", "/abs", "a\\b", "C:x", "a\x00b", "a\nb", ".hidden", "a/.x")


@pytest.mark.parametrize("revision", [*UNSAFE_REVISIONS, "a b", "", "x" * 300])
def test_unsafe_revisions_from_the_caller_are_one_config_error(revision: str) -> None:
    """A revision that would leave refs/ (or is not a name at all) is refused before any request."""
    with pytest.raises(ConfigError) as caught:
        validate_revision(revision)
    assert caught.value.field == "revision"
    assert "fix:" in str(caught.value)


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "release/2026-01", COMMIT])
def test_real_revisions_are_accepted(revision: str) -> None:
    """Branches, tags, PR refs and commit shas pass."""
    assert validate_revision(revision) == revision


@pytest.mark.parametrize("local", [False, True])
def test_the_layout_refuses_outside_names_in_every_join(tmp_path: Path, local: bool) -> None:
    """ETags, commits, revisions and repository paths with '..' (or not hex) raise UnsafePathError naming them."""
    layout = Layout(tmp_path / "cache", "acme/wan", tmp_path / "local" if local else None)
    bad_etag = RemoteFile("model.bin", 10, "../../../../escape")
    bad_path = RemoteFile("../../escape.bin", 10, ETAG, ETAG)
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: layout.blob(bad_etag), "ETag"),
        (lambda: layout.visible(COMMIT, bad_path.path), "repository path"),
        (lambda: layout.lock(bad_path) if local else layout.lock(bad_etag), "lock file" if local else "ETag"),
        (lambda: layout.ref("../../../x"), "revision"),
        (lambda: layout.tree("../../x"), "commit"),
    ]
    if not local:
        calls.append((lambda: layout.visible("../../x", "config.json"), "commit"))
        calls.append((lambda: layout.snapshot_dir("not-a-commit"), "commit"))
    for call, field in calls:
        with pytest.raises(UnsafePathError) as caught:
            call()
        assert field in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_the_layout_still_joins_honest_names_beneath_its_root(tmp_path: Path) -> None:
    """Good names give the huggingface_hub layout, all beneath cache_dir."""
    layout = Layout(tmp_path, "acme/wan")
    remote = RemoteFile("unet/model.safetensors", 10, ETAG, ETAG)
    assert layout.blob(remote) == tmp_path / "models--acme--wan" / "blobs" / ETAG
    assert layout.visible(COMMIT, remote.path) == tmp_path / "models--acme--wan" / "snapshots" / COMMIT / remote.path
    assert layout.ref("refs/pr/1") == tmp_path / "models--acme--wan" / "refs" / "refs" / "pr" / "1"
    assert layout.lock(remote) == tmp_path / ".locks" / "models--acme--wan" / f"{ETAG}.lock"
