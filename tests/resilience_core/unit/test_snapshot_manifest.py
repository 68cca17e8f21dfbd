"""Tampered manifests are refused with IntegrityError naming the entry, before anything is touched.

Most attacks here are resealed with the store's own key: they model someone who could read the key (or a bug), so
they test the validation behind the seal; an edit without the key fails the seal first.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resilience_core.errors import IntegrityError
from resilience_core.state.snapshot import StateStore

Mutation = Callable[[dict[str, Any]], None]


class Stored:
    """A store (pinned to one tree) with one snapshot of it, plus an outside directory that must survive."""

    def __init__(self, tmp_path: Path) -> None:
        self.tree = tmp_path / "app"
        (self.tree / "sub").mkdir(parents=True)
        (self.tree / "config.json").write_text("{}")
        (self.tree / "sub" / "x.bin").write_text("x")
        (self.tree / "link").symlink_to("config.json")
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "precious").write_text("keep me")
        self.store = StateStore(tmp_path / "store", roots=[self.tree])
        self.id = self.store.snapshot([self.tree]).id
        self.manifest = self.store.root / "snapshots" / self.id / "manifest.json"

    def reseal(self, body: bytes) -> None:
        """Write ``body`` as the manifest, sealed with the store's key."""
        mac = hmac.new((self.store.root / "key").read_bytes(), body, "sha256").hexdigest()
        self.manifest.write_bytes(b'{"hmac_sha256":"' + mac.encode() + b'","body":' + body + b"}")

    def tamper(self, mutate: Mutation, *, reseal: bool = True) -> None:
        """Apply ``mutate`` to the stored body and write it back (resealed, or with the old MAC)."""
        stored = json.loads(self.manifest.read_bytes())
        mutate(stored["body"])
        body = json.dumps(stored["body"], separators=(",", ":")).encode()
        if reseal:
            self.reseal(body)
        else:
            self.manifest.write_bytes(b'{"hmac_sha256":"' + stored["hmac_sha256"].encode() + b'","body":' + body + b"}")

    def untouched(self) -> None:
        """Nothing was restored and nothing outside changed."""
        assert not (self.tree / "config.json").exists(), "nothing was restored"
        assert (self.outside / "precious").read_text() == "keep me"
        assert not Path("/outside").exists()


@pytest.fixture
def stored(tmp_path: Path) -> Stored:
    """The standard tampering target."""
    return Stored(tmp_path)


def root0(m: dict[str, Any]) -> dict[str, Any]:
    """The first root of a manifest body."""
    return m["roots"][0]  # type: ignore[no-any-return]


def file_item(m: dict[str, Any], rel: str = "config.json") -> list[Any]:
    """The files entry of ``rel``."""
    return next(item for item in root0(m)["files"] if item[0] == rel)  # type: ignore[no-any-return]


def repoint(kind: str) -> Mutation:
    """Point the first root at the outside directory, as ``kind``."""

    def mutate(m: dict[str, Any]) -> None:
        root0(m)["path"] = m["outside"]
        root0(m)["kind"] = kind
        del m["outside"]

    return mutate


OUTSIDE = "<outside>"  # replaced by the real outside path in the test
ATTACKS: dict[str, tuple[Mutation, str]] = {
    # re-pointed roots: delete (absent) or replace (dir) a directory the store was never given
    "root re-pointed, absent": (repoint("absent"), OUTSIDE),
    "root re-pointed, dir": (repoint("dir"), OUTSIDE),
    "root is /": (lambda m: root0(m).update(path="/", kind="absent"), "/"),
    "root relative": (lambda m: root0(m).update(path="rel/app"), "rel/app"),
    "root not normalized": (lambda m: root0(m).update(path=root0(m)["path"] + "/../outside"), "*"),
    "root with NUL": (lambda m: root0(m).update(path=root0(m)["path"] + "\x00x"), "*"),
    "root not a string": (lambda m: root0(m).update(path=5), "5"),
    "root twice": (lambda m: m["roots"].append(dict(root0(m))), "*"),
    "root kind unknown": (lambda m: root0(m).update(kind="device"), "*"),
    "file root lacks file": (lambda m: root0(m).update(kind="file"), "*"),
    # entry paths
    "absolute path": (lambda m: file_item(m).__setitem__(0, "/etc/passwd"), "/etc/passwd"),
    "dot-dot": (lambda m: file_item(m).__setitem__(0, "../../outside"), "../../outside"),
    "dot-dot inside": (lambda m: file_item(m).__setitem__(0, "sub/../../x"), "sub/../../x"),
    "backslash": (lambda m: file_item(m).__setitem__(0, "a\\..\\x"), "a\\..\\x"),
    "control character": (lambda m: file_item(m).__setitem__(0, "a\nb"), "a\nb"),
    "empty path": (lambda m: file_item(m).__setitem__(0, ""), ""),
    "duplicate": (lambda m: root0(m)["files"].append(list(file_item(m))), "config.json"),
    "file under a file": (lambda m: file_item(m).__setitem__(0, "config.json/x"), "config.json/x"),
    "dir before its parent": (lambda m: root0(m)["dirs"].insert(0, ["new/deeper", 0o755]), "new/deeper"),
    "entry under a symlink": (lambda m: file_item(m).__setitem__(0, "link/x"), "link/x"),
    "symlink absolute": (lambda m: root0(m)["symlinks"].append(["evil", "/etc"]), "evil"),
    "symlink escaping": (lambda m: root0(m)["symlinks"].append(["sub/evil", "../../etc"]), "sub/evil"),
    "symlink chain escaping": (
        lambda m: root0(m)["symlinks"].extend([["t", "."], ["s", "t/../outside"]]),
        "s",
    ),
    "symlink target not a string": (lambda m: root0(m)["symlinks"].append(["n", 7]), "n"),
    "symlink target empty": (lambda m: root0(m)["symlinks"].append(["n", ""]), "n"),
    # types, ranges and missing keys
    "size negative": (lambda m: file_item(m).__setitem__(1, -1), "config.json"),
    "size a string": (lambda m: file_item(m).__setitem__(1, "1"), "config.json"),
    "size a bool": (lambda m: file_item(m).__setitem__(1, True), "config.json"),
    "size huge": (lambda m: file_item(m).__setitem__(1, 2**63), "config.json"),
    "mode huge": (lambda m: file_item(m).__setitem__(2, 2**70), "config.json"),
    "mode beyond 7777": (lambda m: file_item(m).__setitem__(2, 0o10000), "config.json"),
    "mtime a float": (lambda m: file_item(m).__setitem__(3, 1.5), "config.json"),
    "ino huge": (lambda m: file_item(m).__setitem__(4, 2**64), "config.json"),
    "bad sha256": (lambda m: file_item(m).append("zz"), "config.json"),
    "file item too short": (lambda m: file_item(m).pop(), "*"),
    "file item not a list": (lambda m: root0(m)["files"].append({"path": "x"}), "*"),
    "files not a list": (lambda m: root0(m).update(files={"a": 1}), "*"),
    "files missing": (lambda m: root0(m).pop("files"), "*"),
    "dirs missing": (lambda m: root0(m).pop("dirs"), "*"),
    "dir mode huge": (lambda m: root0(m)["dirs"][0].__setitem__(1, 10**30), "sub"),
    "dir item too long": (lambda m: root0(m)["dirs"][0].append(1), "*"),
    "root mode missing": (lambda m: root0(m).pop("mode"), "*"),
    "roots empty": (lambda m: m.update(roots=[]), "roots"),
    "roots missing": (lambda m: m.pop("roots"), "roots"),
    "root not an object": (lambda m: m.update(roots=[5]), "roots"),
    "state a list": (lambda m: m.update(state=[1]), "state"),
    "state missing": (lambda m: m.pop("state"), "state"),
    "label an int": (lambda m: m.update(label=5), "*"),
    "created a string": (lambda m: m.update(created="yesterday"), "*"),
    "created negative": (lambda m: m.update(created=-1), "*"),
    "created huge": (lambda m: m.update(created=10**300), "*"),
    "id missing": (lambda m: m.pop("id"), "*"),
    "id of another snapshot": (lambda m: m.update(id="20260101T000000000000Z-00000000"), "*"),
    "schema missing": (lambda m: m.pop("schema"), "*"),
    "body a list": (lambda m: (m.clear(), m.update(x=[])), "*"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_refused_naming_the_entry(stored: Stored, attack: str, caplog: pytest.LogCaptureFixture) -> None:
    """A resealed manifest carrying the attack raises IntegrityError naming the entry; list() skips it."""
    mutate, entry = ATTACKS[attack]

    def with_outside(m: dict[str, Any]) -> None:
        m["outside"] = str(stored.outside)
        mutate(m)
        m.pop("outside", None)

    stored.tamper(with_outside)
    (stored.tree / "config.json").unlink()
    with pytest.raises(IntegrityError) as info:
        stored.store.restore(stored.id)
    expected = str(stored.outside) if entry == OUTSIDE else entry
    if expected != "*":
        assert info.value.entry == expected
    else:
        assert info.value.entry, "the error names an entry"
    stored.untouched()
    with caplog.at_level(logging.WARNING, logger="resilience_core.state.snapshot"):
        assert stored.store.list() == []
    assert "skipping damaged snapshot" in caplog.text


def test_repointed_root_without_the_key_fails_the_seal(tmp_path: Path) -> None:
    """Even a store opened without roots= refuses a re-pointed root written by someone without the key."""
    stored = Stored(tmp_path)
    unpinned = StateStore(stored.store.root)
    stored.tamper(lambda m: root0(m).update(path=str(stored.outside), kind="absent"), reseal=False)
    with pytest.raises(IntegrityError, match="seal mismatch"):
        unpinned.restore(stored.id)
    assert (stored.outside / "precious").exists()


def test_root_into_the_store_is_refused_without_roots(tmp_path: Path) -> None:
    """Without roots=, a manifest may still never name the store itself (or anything inside it)."""
    stored = Stored(tmp_path)
    unpinned = StateStore(stored.store.root)
    stored.tamper(lambda m: root0(m).update(path=str(stored.store.root / "snapshots"), kind="absent"))
    with pytest.raises(IntegrityError, match="overlaps the store"):
        unpinned.restore(stored.id)
    assert unpinned.root.joinpath("snapshots", stored.id).is_dir()


def test_root_under_an_allowed_root_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """A root lexically under an allowed root but reached through a symlink leading out is refused by realpath."""
    stored = Stored(tmp_path)
    (stored.tree / "escape").symlink_to(stored.outside)
    wide = StateStore(stored.store.root, roots=[stored.tree.parent / "app"])
    stored.tamper(lambda m: root0(m).update(path=str(stored.tree / "escape" / "precious"), kind="absent"))
    with pytest.raises(IntegrityError, match="only lexically"):
        wide.restore(stored.id)
    assert (stored.outside / "precious").exists()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda body: body.replace(b'"label":""', b'"label":"\xff\xfe"'), "not UTF-8"),
        (lambda body: body.replace(b'"state":{}', b'"state":' + b"[" * 100 + b"]" * 100), "nests deeper"),
        (lambda body: re.sub(rb'"created":[0-9.]+', b'"created":' + b"9" * 5000, body), "not valid JSON"),
        (lambda body: re.sub(rb'"created":[0-9.]+', b'"created":Infinity', body), "created=inf"),
        (lambda body: b"[]", "must be a JSON object"),
    ],
    ids=["non-UTF-8", "deep", "5000 digits", "Infinity", "a list"],
)
def test_unparseable_resealed_body_is_refused(stored: Stored, edit: Callable[[bytes], bytes], reason: str) -> None:
    """Non-UTF-8, 100-deep, 5000-digit, infinite and non-object bodies raise IntegrityError, never a traceback."""
    body = json.loads(stored.manifest.read_bytes())["body"]
    raw = json.dumps(body, separators=(",", ":")).encode()
    edited = edit(raw)
    assert edited != raw
    stored.reseal(edited)
    with pytest.raises(IntegrityError, match=reason):
        stored.store.restore(stored.id)
    assert stored.store.list() == []


def test_unparseable_manifest_is_refused(stored: Stored) -> None:
    """A manifest that is not a sealed file raises IntegrityError, not a JSON traceback."""
    stored.manifest.write_text("{not json")
    with pytest.raises(IntegrityError, match="not a sealed snapshot file"):
        stored.store.get(stored.id)


def test_edit_without_the_key_is_refused(stored: Stored) -> None:
    """Any edit that keeps the old MAC is refused as a seal mismatch naming manifest.json."""
    stored.tamper(lambda m: m["state"].update(evil=True), reseal=False)
    with pytest.raises(IntegrityError, match="seal mismatch") as info:
        stored.store.restore(stored.id)
    assert info.value.entry.endswith("manifest.json")
    assert stored.store.list() == [], "list() skips the damaged snapshot"


def test_missing_stored_file_is_refused(stored: Stored) -> None:
    """A data file deleted from the store makes restore refuse before touching the tree."""
    manifest = json.loads(stored.manifest.read_bytes())["body"]
    key = next(k for k, item in enumerate(root0(manifest)["files"]) if item[0] == "config.json")
    (stored.store.root / "snapshots" / stored.id / "data" / "0" / str(key)).unlink()
    (stored.tree / "config.json").unlink()
    with pytest.raises(IntegrityError, match="missing from the store") as info:
        stored.store.restore(stored.id)
    assert info.value.entry == "config.json"
    stored.untouched()


@pytest.mark.parametrize("swap_in", ["file", "symlink"])
def test_data_directory_replaced_is_refused(stored: Stored, swap_in: str) -> None:
    """A root's data directory replaced by a file or a symlink raises IntegrityError (not NotADirectoryError)."""
    data = stored.store.root / "snapshots" / stored.id / "data" / "0"
    data.rename(data.with_name("moved"))
    if swap_in == "file":
        data.write_text("x")
    else:
        data.symlink_to(stored.outside)
    (stored.tree / "config.json").unlink()
    with pytest.raises(IntegrityError, match="store data") as info:
        stored.store.restore(stored.id)
    assert info.value.entry == str(stored.tree)
    stored.untouched()


def test_snapshot_directory_replaced_by_a_symlink_is_skipped(stored: Stored, tmp_path: Path) -> None:
    """A snapshot directory swapped for a symlink is refused by get() and skipped by list()."""
    snapshot_dir = stored.store.root / "snapshots" / stored.id
    snapshot_dir.rename(tmp_path / "elsewhere")
    snapshot_dir.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError, match="not a directory"):
        stored.store.get(stored.id)
    assert stored.store.list() == []
