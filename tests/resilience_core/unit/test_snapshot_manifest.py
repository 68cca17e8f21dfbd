"""Every manifest attack is refused with IntegrityError naming the entry, before anything is touched."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resilience_core.errors import IntegrityError
from resilience_core.state.snapshot import StateStore

Mutation = Callable[[dict[str, Any]], None]


def sealed(body: dict[str, Any], *, checksum: str | None = None) -> bytes:
    """The stored manifest format: {"checksum": sha256 of the exact body bytes, "body": ...}."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    digest = checksum or hashlib.sha256(raw).hexdigest()
    return b'{"checksum":"' + digest.encode() + b'","body":' + raw + b"}"


def entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The first root's entries."""
    return manifest["roots"][0]["entries"]  # type: ignore[no-any-return]


def first_file(manifest: dict[str, Any]) -> dict[str, Any]:
    """The first file entry."""
    return next(e for e in entries(manifest) if e["type"] == "file")


ATTACKS: dict[str, tuple[Mutation, str]] = {
    "absolute path": (lambda m: first_file(m).update(path="/etc/passwd"), "/etc/passwd"),
    "dot-dot": (lambda m: first_file(m).update(path="../../outside"), "../../outside"),
    "dot-dot inside": (lambda m: first_file(m).update(path="a/../../x"), "a/../../x"),
    "backslash": (lambda m: first_file(m).update(path="a\\..\\x"), "a\\..\\x"),
    "empty path": (lambda m: first_file(m).update(path=""), ""),
    "duplicate": (lambda m: entries(m).append(dict(first_file(m))), "config.json"),
    "symlink absolute": (
        lambda m: entries(m).append({"path": "evil", "type": "symlink", "target": "/etc"}),
        "evil",
    ),
    "symlink escaping": (
        lambda m: entries(m).append({"path": "sub/evil", "type": "symlink", "target": "../../etc"}),
        "sub/evil",
    ),
    "entry under a symlink": (
        lambda m: entries(m).extend(
            [
                {"path": "inner", "type": "symlink", "target": "."},
                {"path": "inner/x", "type": "dir", "mode": 0o755},
            ]
        ),
        "inner/x",
    ),
    "unknown type": (lambda m: first_file(m).update(type="device"), "config.json"),
    "negative size": (lambda m: first_file(m).update(size=-1), "config.json"),
    "bad sha256": (lambda m: first_file(m).update(sha256="zz"), "config.json"),
}


@pytest.fixture
def stored(tmp_path: Path) -> tuple[StateStore, str, Path]:
    """A store with one snapshot of a small tree; returns (store, id, tree)."""
    tree = tmp_path / "app"
    tree.mkdir()
    (tree / "config.json").write_text("{}")
    (tree / "sub").mkdir()
    store = StateStore(tmp_path / "store")
    return store, store.snapshot([tree]).id, tree


def tamper(store: StateStore, snapshot_id: str, mutate: Mutation, *, seal: bool = True) -> None:
    """Rewrite a stored manifest with ``mutate`` applied."""
    path = store.root / "snapshots" / snapshot_id / "manifest.json"
    stored = json.loads(path.read_bytes())
    manifest = stored["body"]
    mutate(manifest)
    path.write_bytes(sealed(manifest, checksum=None if seal else stored["checksum"]))


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_refused_naming_the_entry(stored: tuple[StateStore, str, Path], attack: str) -> None:
    """A resealed manifest carrying the attack raises IntegrityError whose entry names the bad entry."""
    store, snapshot_id, tree = stored
    mutate, entry = ATTACKS[attack]
    tamper(store, snapshot_id, mutate)
    (tree / "config.json").unlink()
    with pytest.raises(IntegrityError) as info:
        store.restore(snapshot_id)
    assert info.value.entry == entry
    assert not (tree / "config.json").exists(), "nothing was restored"
    assert not Path("/outside").exists()


def test_bad_manifest_checksum_is_refused(stored: tuple[StateStore, str, Path]) -> None:
    """Any edit without a matching checksum is refused as a checksum mismatch naming manifest.json."""
    store, snapshot_id, _ = stored
    tamper(store, snapshot_id, lambda m: m["state"].update(evil=True), seal=False)
    with pytest.raises(IntegrityError, match="checksum mismatch") as info:
        store.restore(snapshot_id)
    assert info.value.entry.endswith("manifest.json")
    assert store.list() == [], "list() skips the damaged snapshot"


def test_unparseable_manifest_is_refused(stored: tuple[StateStore, str, Path]) -> None:
    """A manifest that is not JSON raises IntegrityError, not a JSON traceback."""
    store, snapshot_id, _ = stored
    (store.root / "snapshots" / snapshot_id / "manifest.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="not a snapshot manifest"):
        store.get(snapshot_id)


def test_missing_stored_file_is_refused(stored: tuple[StateStore, str, Path]) -> None:
    """A data file deleted from the store makes restore refuse before touching the tree."""
    store, snapshot_id, _tree = stored
    (store.root / "snapshots" / snapshot_id / "data" / "0" / "config.json").unlink()
    with pytest.raises(IntegrityError, match="missing from the store") as info:
        store.restore(snapshot_id)
    assert info.value.entry == "config.json"
