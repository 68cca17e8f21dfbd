"""The seal: HMAC-SHA256 under a per-store key file that only this user can read, over the body's exact bytes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from resilience_core.errors import IntegrityError
from resilience_core.state._seal import KEY_BYTES, load_key, mac_of, parse, seal, verify
from resilience_core.state.atomic import atomic_write
from resilience_core.state.snapshot import StateStore

BODY = {"schema": "x", "state": {"ünï": [1, 2.5, None]}, "name": "\udcff-undecodable", "tab": "a\tb"}


def test_new_store_key_is_private(tmp_path: Path) -> None:
    """A new store gets a 32-byte key with mode 0600 owned by this user, in a 0700 store directory."""
    StateStore(tmp_path / "store")
    info = os.lstat(tmp_path / "store" / "key")
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert info.st_size == KEY_BYTES
    assert stat.S_IMODE(os.stat(tmp_path / "store").st_mode) == 0o700


def test_key_is_kept_across_opens(tmp_path: Path) -> None:
    """Reopening a store reads the same key, so its snapshots stay valid."""
    store = tmp_path / "store"
    store.mkdir()
    assert load_key(store) == load_key(store)


def test_exclusive_write_never_replaces(tmp_path: Path) -> None:
    """atomic_write(exclusive=True) creates the file whole, or raises FileExistsError and leaves it as it was."""
    target = tmp_path / "key"
    atomic_write(target, b"first", mode_bits=0o600, exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["key"], "no temp file is left behind"


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda key: os.chmod(key, 0o644), "its mode is 0644"),
        (lambda key: os.chmod(key, 0o620), "its mode is 0620"),
        (lambda key: key.write_bytes(b"short"), "holds 5 bytes"),
        (lambda key: (key.unlink(), key.symlink_to("/dev/null")), "symlink"),
        (lambda key: (key.unlink(), key.mkdir(mode=0o700)), "not a regular file"),
    ],
)
def test_unsafe_key_is_refused(tmp_path: Path, spoil: object, reason: str) -> None:
    """A key others could read or replace (or that is not a plain 32-byte file) makes the store refuse to open."""
    store = tmp_path / "store"
    StateStore(store)
    spoil(store / "key")  # type: ignore[operator]
    with pytest.raises(IntegrityError, match=reason) as info:
        StateStore(store)
    assert info.value.entry == "key"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_key_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A key planted by another user (even with mode 0600) is refused."""
    store = tmp_path / "store"
    StateStore(store)
    os.chown(store / "key", 12345, 12345)
    with pytest.raises(IntegrityError, match="owned by uid 12345"):
        StateStore(store)


def test_seal_bytes_are_compact_json_and_verify() -> None:
    """seal() writes json.dumps's compact ASCII bytes plus their HMAC; verify() returns the MAC and the body."""
    key = os.urandom(KEY_BYTES)
    sealed = seal(BODY, key)
    raw = json.dumps(BODY, separators=(",", ":"), allow_nan=False).encode("ascii")
    assert json.loads(sealed)["body"] == json.loads(raw)
    mac, body = verify(sealed, key, "m")
    assert (mac, body) == (mac_of(sealed), raw)
    assert parse(body, "m") == BODY


def test_another_key_or_any_edit_breaks_the_seal() -> None:
    """The same bytes under another store's key, or one changed byte, fail with a seal mismatch."""
    key = os.urandom(KEY_BYTES)
    sealed = seal(BODY, key)
    with pytest.raises(IntegrityError, match="seal mismatch"):
        verify(sealed, os.urandom(KEY_BYTES), "m")
    edited = sealed.replace(b'"schema":"x"', b'"schema":"y"')
    with pytest.raises(IntegrityError, match="seal mismatch") as info:
        verify(edited, key, "m")
    assert info.value.entry == "m"


def test_plain_checksum_of_older_versions_is_not_trusted() -> None:
    """A schema@1 manifest (plain sha256 anyone can recompute) is refused, with the fix."""
    raw = b'{"a":1}'
    old = b'{"checksum":"' + hashlib.sha256(raw).hexdigest().encode() + b'","body":' + raw + b"}"
    with pytest.raises(IntegrityError, match=r"older version.*take a new snapshot"):
        verify(old, os.urandom(KEY_BYTES), "m")


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"hmac_sha256":"zz","body":{}}', b"\xff" * 200])
def test_garbage_is_refused_as_not_sealed(raw: bytes) -> None:
    """Bytes that are not a sealed file raise IntegrityError, never a parsing traceback."""
    with pytest.raises(IntegrityError, match="not a sealed snapshot file"):
        verify(raw, os.urandom(KEY_BYTES), "m")


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"\xff\xfe{}", "not UTF-8"), (b"[" * 100 + b"]" * 100, "nests deeper"), (b'{"a":' + b"1" * 5000 + b"}", "JSON")],
)
def test_sealed_but_unparseable_body_is_an_integrity_error(body: bytes, reason: str) -> None:
    """Non-UTF-8, too deep or unparseable bodies give IntegrityError (load_json's limits), not InputError."""
    with pytest.raises(IntegrityError, match=reason):
        parse(body, "m")
