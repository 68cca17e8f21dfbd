"""safe_join: a name from outside resolves inside its root or is refused, whatever symlinks lie on the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience_core import UnsafePathError, check_name, is_beneath, safe_join


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x", "absolute"),
        ("//server/share", "absolute"),
        ("C:\\Windows", "drive"),
        ("C:relative", "drive"),
        ("a\\..\\b", "backslash"),
        ("../escape", "'..'"),
        ("a/../../b", "'..'"),
        ("a/./b", "normalized"),
        ("a//b", "normalized"),
    ],
)
def test_hostile_names_are_refused_with_the_reason(tmp_path: Path, name: str, reason: str) -> None:
    """Each hostile form gets one UnsafePathError whose message names the value and why it is refused."""
    with pytest.raises(UnsafePathError) as caught:
        safe_join(tmp_path, name, what="tree entry path")
    message = str(caught.value)
    assert repr(name) in message
    assert reason in message
    assert "tree entry path" in message
    assert caught.value.name == name


def test_non_text_is_refused(tmp_path: Path) -> None:
    """A name that is not a string (a JSON number, a list) is refused, not joined."""
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, 5)


def test_plain_names_join_lexically(tmp_path: Path) -> None:
    """Ordinary relative names come back as root / name, also when nothing exists yet."""
    assert safe_join(tmp_path, "models--a--b/blobs/0123") == tmp_path / "models--a--b/blobs/0123"
    assert check_name("./x", allow_dot=True) == "./x"


def test_lexical_chain_escape_is_caught(tmp_path: Path) -> None:
    """t -> . plus s -> t/../outside passes a lexical check but resolves outside: refused."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "t").symlink_to(".")
    (root / "s").symlink_to("t/../../outside")
    with pytest.raises(UnsafePathError, match="symlink"):
        safe_join(root, "s/file")
    assert not is_beneath(root, root / "s")
    assert safe_join(root, "t/file") == root / "t/file"  # a symlink that stays inside is fine


def test_absolute_symlink_out_is_caught(tmp_path: Path) -> None:
    """A directory symlink pointing anywhere outside the root makes every name below it refused."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "cache").symlink_to("/")
    with pytest.raises(UnsafePathError):
        safe_join(root, "cache/etc/passwd")


_SEGMENT = st.sampled_from(["a", "b", "t", "s", "..", ".", "", "\\", "C:", "x\x00", "/"])
_NAMES = st.lists(_SEGMENT, min_size=1, max_size=6).map("/".join)
_LINK_TARGETS = st.sampled_from([".", "..", "../..", "a", "t/..", "/", "/tmp", "b/../..", "s", "a/b"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=_NAMES,
    links=st.dictionaries(st.sampled_from(["t", "s", "a/l", "b"]), _LINK_TARGETS, max_size=3),
    data=st.data(),
)
def test_any_name_over_any_symlink_tree_stays_inside_or_is_refused(
    tmp_path_factory: pytest.TempPathFactory, name: str, links: dict[str, str], data: st.DataObject
) -> None:
    """Property: for any generated name and tree of symlinks, the joined path resolves inside the root or
    safe_join refuses it."""
    base = tmp_path_factory.mktemp("prop")
    root = base / "root"
    (root / "a").mkdir(parents=True)
    (base / "outside").mkdir()
    for link, target in links.items():
        where = root / link
        if not where.exists() and not where.is_symlink():
            where.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, where)
    try:
        joined = safe_join(root, name)
    except UnsafePathError:
        return
    assert os.path.realpath(joined).startswith(os.path.realpath(root) + os.sep) or os.path.realpath(
        joined
    ) == os.path.realpath(root)
