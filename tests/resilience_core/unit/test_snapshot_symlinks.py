"""Symlinks in snapshots: escapes are judged by resolution (realpath), not by the text of one link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience_core.errors import SnapshotError
from resilience_core.paths import is_beneath
from resilience_core.state._manifest import check_rel, symlink_problem
from resilience_core.state.snapshot import StateStore


def links_of(root: Path) -> dict[str, str]:
    """Every symlink under ``root``: relative path -> target."""
    return {p.relative_to(root).as_posix(): os.readlink(p) for p in root.rglob("*") if p.is_symlink()}


def test_chain_through_a_dot_link_is_refused_at_snapshot(tmp_path: Path) -> None:
    """``t -> .`` plus ``s -> t/../outside`` looks inside lexically but resolves outside: snapshot refuses it."""
    root = tmp_path / "app"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "t").symlink_to(".")
    (root / "s").symlink_to("t/../outside")
    store = StateStore(tmp_path / "store")
    with pytest.raises(SnapshotError, match=r"'s' -> 't/\.\./outside' escapes the root"):
        store.snapshot([root])
    assert store.list() == []
    assert list((store.root / "tmp").iterdir()) == []


def test_chains_that_stay_inside_and_loops_round_trip(tmp_path: Path) -> None:
    """Links through links that end inside, dangling links and loops (ELOOP: they lead nowhere) are kept."""
    root = tmp_path / "app"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / "f").write_text("f")
    (root / "b").symlink_to("dir")
    (root / "a").symlink_to("b")
    (root / "c").symlink_to("a/../dir/f")
    (root / "dir" / "up").symlink_to("../b/f")
    (root / "dangling").symlink_to("not/there")
    (root / "loop").symlink_to("loop")
    before = links_of(root)
    store = StateStore(tmp_path / "store", roots=[root])
    snap = store.snapshot([root])
    for link in before:
        os.unlink(root / link)
    store.restore(snap.id)
    assert links_of(root) == before
    assert (root / "c").read_text() == "f"


def test_plain_name_shortcut_agrees_with_check_name() -> None:
    """Names the fast path accepts are accepted by check_name too; the rest get check_name's verdict."""
    for name in ["a", "a/b", ".hidden", "...", "a..b", "C", "x/C:y", "ünï/日本"]:
        assert check_rel(name, "m") == name
    for name in ["", ".", "..", "a/..", "./a", "a//b", "a/", "/a", "C:x", "a\\b", "a\tb", "a\x00b"]:
        with pytest.raises(Exception, match=r"refused|must be"):
            check_rel(name, "m")


_PARTS = st.sampled_from([".", "..", "a", "b", "c", "d", "e", "x", "outside"])
_TARGETS = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=st.dictionaries(st.sampled_from(["a", "b", "c", "d/e"]), _TARGETS, min_size=1))
def test_manifest_resolution_never_calls_inside_what_the_kernel_resolves_outside(
    tmp_path_factory: pytest.TempPathFactory, links: dict[str, str]
) -> None:
    """For any small tree of relative symlinks, a link the manifest check accepts is, if the kernel can open it at
    all (no ELOOP, no ENOENT), opened inside the root. The kernel is the oracle: os.path.realpath joins the rest of
    a looping path lexically where the kernel refuses it."""
    base = tmp_path_factory.mktemp("links")
    root = base / "root"
    (root / "d").mkdir(parents=True)
    (base / "outside" / "d").mkdir(parents=True)
    for rel, target in links.items():
        (root / rel).symlink_to(target)
    for rel, target in links.items():
        if symlink_problem(rel, target, links):
            continue
        try:
            fd = os.open(root / rel, os.O_PATH)
        except OSError:
            continue  # ELOOP, ENOENT, ENOTDIR: the link leads nowhere
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        assert opened == str(root) or opened.startswith(f"{root}/"), f"{rel} -> {target} opens {opened}"


def test_snapshot_check_is_also_realpath(tmp_path: Path) -> None:
    """The snapshot refuses what realpath puts outside even where the link chain loops (a -> a/../..)."""
    root = tmp_path / "app"
    root.mkdir()
    (root / "a").symlink_to("a/../..")
    assert not is_beneath(root, root / "a")
    with pytest.raises(SnapshotError, match="escapes the root"):
        StateStore(tmp_path / "store").snapshot([root])
