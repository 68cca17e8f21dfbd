"""The store key and the seal on every file the snapshot store reads back (private to resilience_core).

A sealed file is ``{"hmac_sha256": "<hex>", "body": {...}}``: HMAC-SHA256, keyed with the store's secret, over the
body's exact stored bytes (verification is one MAC, with no JSON canonicalization). The key is 32 random bytes in
``<store>/key``, created on first use with mode 0600, and refused unless it is a regular file owned by this user
that nobody else can read or write. What that protects against, and what not, is in docs/state-and-logs.md
("Threat model").

Bodies are parsed with :func:`resilience_core.load_json` (size and depth limits) only after the MAC matched.
"""

from __future__ import annotations

import errno
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience_core.documents import load_json
from resilience_core.errors import InputError, IntegrityError, SnapshotError
from resilience_core.state.atomic import atomic_write

__all__ = ["KEY_BYTES", "MAX_SEALED_BYTES", "load_key", "mac_of", "parse", "read_sealed", "seal", "verify"]

KEY_BYTES = 32
MAX_SEALED_BYTES = 256 << 20  # a manifest of ~1.5 million files; snapshot() refuses to write a bigger one
_PREFIX = b'{"hmac_sha256":"'
_MIDDLE = b'","body":'
_MAC_HEX = 64
_BODY_START = len(_PREFIX) + _MAC_HEX + len(_MIDDLE)
_OLD_PREFIX = b'{"checksum":"'  # schema @1: a plain sha256 anyone could recompute


def load_key(store: Path) -> bytes:
    """The store's secret (created on first use); IntegrityError when the key file could have been read or planted."""
    path = store / "key"
    try:
        atomic_write(path, secrets.token_bytes(KEY_BYTES), mode_bits=0o600, exclusive=True)
    except FileExistsError:
        pass  # the usual case: it exists (or another process won the race to create it)
    except OSError as error:
        raise SnapshotError(
            f"cannot create the store key {path}: {error.strerror}; fix: make {store} writable"
        ) from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        why = "it is a symlink" if error.errno == errno.ELOOP else error.strerror
        raise IntegrityError(f"store key {path} cannot be used ({why}); fix: remove the store", entry="key") from None
    try:
        info = os.fstat(fd)
        key = os.read(fd, KEY_BYTES + 1) if stat.S_ISREG(info.st_mode) else b""
    finally:
        os.close(fd)
    problem = ""
    if not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"it is owned by uid {info.st_uid}, not by this user ({os.geteuid()})"
    elif info.st_mode & 0o077:
        problem = f"its mode is {stat.S_IMODE(info.st_mode):04o}: others may read or replace it (it must be 0600)"
    elif len(key) != KEY_BYTES:
        problem = f"it holds {len(key)} bytes, not {KEY_BYTES}"
    if problem:
        raise IntegrityError(
            f"store key {path} is refused: {problem}; snapshots sealed with it cannot be trusted. "
            "Fix: remove the store (or its key, which invalidates every snapshot in it)",
            entry="key",
        )
    return key


def seal(body: Mapping[str, Any], key: bytes) -> bytes:
    """The sealed file's bytes for ``body`` (compact JSON, ASCII only, NaN refused)."""
    raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("ascii")
    return _PREFIX + hmac.digest(key, raw, "sha256").hex().encode("ascii") + _MIDDLE + raw + b"}"


def mac_of(sealed: bytes) -> bytes:
    """The MAC inside bytes :func:`seal` made (what :func:`verify` returns for them)."""
    return sealed[len(_PREFIX) : len(_PREFIX) + _MAC_HEX]


def read_sealed(path: Path, where: str) -> bytes:
    """A sealed file's bytes, refusing symlinks, non-files and files over :data:`MAX_SEALED_BYTES`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise IntegrityError(f"{where}: unreadable ({error.strerror})", entry=where) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IntegrityError(f"{where}: not a regular file", entry=where)
        if info.st_size > MAX_SEALED_BYTES:
            raise IntegrityError(f"{where}: {info.st_size} bytes, over the {MAX_SEALED_BYTES} limit", entry=where)
        with open(fd, "rb", closefd=False) as stream:
            return stream.read(MAX_SEALED_BYTES + 1)
    finally:
        os.close(fd)


def verify(raw: bytes, key: bytes, where: str) -> tuple[bytes, bytes]:
    """Check the seal on ``raw``; return (MAC, body bytes). IntegrityError names ``where`` otherwise."""
    if raw.startswith(_OLD_PREFIX):
        raise IntegrityError(
            f"{where}: sealed by an older version with a plain checksum (no key), so it cannot be trusted; "
            "fix: take a new snapshot",
            entry=where,
        )
    shaped = raw.startswith(_PREFIX) and raw[_BODY_START - len(_MIDDLE) : _BODY_START] == _MIDDLE
    if not (shaped and raw.endswith(b"}")):
        raise IntegrityError(f"{where}: not a sealed snapshot file (damaged or hand-edited)", entry=where)
    mac = raw[len(_PREFIX) : len(_PREFIX) + _MAC_HEX]
    body = raw[_BODY_START:-1]
    if not hmac.compare_digest(hmac.digest(key, body, "sha256").hex().encode("ascii"), mac):
        raise IntegrityError(f"{where}: seal mismatch (altered, or written with another store's key)", entry=where)
    return mac, body


def parse(body: bytes, where: str) -> Any:
    """Parse a verified body with the document limits; IntegrityError (not InputError) names ``where``."""
    try:
        return load_json(body, source=where, max_bytes=MAX_SEALED_BYTES)
    except InputError as error:
        raise IntegrityError(f"{where}: unreadable ({error})", entry=where) from None
