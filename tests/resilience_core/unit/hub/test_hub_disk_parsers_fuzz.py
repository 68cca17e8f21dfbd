"""Fuzz the files the hub client reads back from disk: trees/<commit>.json and the .part.json resume records.

Budget: 100 examples each, Hypothesis deadline 2 s, no example database. Anyone who can write the cache can
edit these files, so any content must give a listing (every path beneath the root) or None, never an
exception, and reading never creates a file.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience_core.hub import RemoteFile
from resilience_core.hub.layout import Layout
from resilience_core.hub.transfer import _resume_offset as resume_offset
from resilience_core.hub.transfer import partial_paths

FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COMMIT = "c" * 40
ETAG = "e" * 64

names = st.sampled_from(["config.json", "../../../x", "/etc/passwd", "a\\b", "a\x00", "", "sub/w.bin", "."])
ids = st.sampled_from([ETAG, "f" * 40, "../x", "", "E" * 64]) | st.text(max_size=8)
sizes = st.one_of(st.integers(-3, 1 << 60), st.sampled_from([True, "12", 1.5, None]))
entry = st.fixed_dictionaries({}, optional={"size": sizes, "blob_id": ids, "lfs_sha256": ids | st.none()})
tree = st.one_of(
    st.fixed_dictionaries({"format_version": st.just(1), "files": st.dictionaries(names, entry | st.integers())}),
    st.recursive(st.none() | st.integers() | st.text(max_size=4), lambda x: st.lists(x) | st.dictionaries(names, x)),
)
junk = st.sampled_from([b"", b"[" * 1000, b"\xff", b"\x00"])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("disk-fuzz")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@FUZZ
@given(tree, junk)
def test_any_tree_file_reads_as_a_safe_listing_or_none(cache: Path, data: Any, prefix: bytes) -> None:
    """A trees/<commit>.json with any content: None, or entries whose visible paths all lie beneath the cache."""
    layout = Layout(cache, "acme/fuzz")
    path = layout.tree(COMMIT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prefix + json.dumps(data).encode())
    before = _files(cache)
    files = layout.read_tree(COMMIT)
    if files is not None:
        for remote in files.values():
            assert layout.visible(COMMIT, remote.path).resolve().is_relative_to(cache.resolve())
            assert layout.blob(remote).resolve().is_relative_to(cache.resolve())
    assert _files(cache) == before


any_json = st.recursive(
    st.none() | st.integers() | st.text(max_size=6), lambda x: st.lists(x) | st.dictionaries(st.text(max_size=6), x)
)
records = st.one_of(
    any_json,
    st.fixed_dictionaries(
        {"etag": st.sampled_from([ETAG, "../x", "f" * 40]), "size_bytes": st.sampled_from([100, 99, "100", True])},
        optional={"format": st.integers(), "url": st.text(max_size=5)},
    ),
)


@FUZZ
@given(records, junk)
def test_any_resume_record_resumes_only_a_matching_partial(cache: Path, data: Any, prefix: bytes) -> None:
    """A .part.json with any content: resume from 0 (partial dropped) unless it names this very ETag and size."""
    blob = cache / "blobs" / ETAG
    blob.parent.mkdir(parents=True, exist_ok=True)
    part, meta = partial_paths(blob)
    part.write_bytes(b"x" * 10)
    meta.write_bytes(prefix + json.dumps(data).encode())
    offset = resume_offset(blob, RemoteFile("w.bin", 100, ETAG, ETAG))
    assert offset in (0, 10)
    if offset == 10:
        assert json.loads(meta.read_bytes()) == data
        assert data["etag"] == ETAG
        assert data["size_bytes"] == 100
