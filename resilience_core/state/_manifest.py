"""Snapshot manifests and the filesystem primitives snapshot.py builds on (private to resilience_core).

A manifest is JSON: ``{"checksum": ..., "body": {schema, id, label, created, state, roots}}``; each root has an
absolute target path, a kind ``dir``/``file``/``absent`` and its entries; the checksum is the sha256 of the
body's exact stored bytes. :func:`validate_manifest`
refuses anything a restore could be tricked by: absolute paths, ``..``, entries under a symlink, symlinks escaping
the root, duplicates, a wrong checksum.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii as _json_string  # what json.dumps uses (ensure_ascii)
from typing import TYPE_CHECKING, Any

from resilience_core.errors import IntegrityError
from resilience_core.state.atomic import fsync_path
from resilience_core.state.integrity import check_relative_path

if TYPE_CHECKING:  # the pool module loads on first use only: `import resilience_core` stays lean
    from concurrent.futures import Executor

SCHEMA = "resilience-core/snapshot@1"
ENTRY_TYPES = ("file", "dir", "symlink")
ROOT_KINDS = ("dir", "file", "absent")
_RENAME_EXCHANGE = 2


_FSYNC_WORKERS = 8
_fsync_pool: Executor | None = None
_fsync_pool_lock = threading.Lock()


def _fsync_executor() -> Executor:
    """One long-lived pool: starting threads for every snapshot and restore cost more than the fsyncs saved."""
    global _fsync_pool  # noqa: PLW0603 -- one lazily made pool per process
    with _fsync_pool_lock:
        if _fsync_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _fsync_pool = ThreadPoolExecutor(max_workers=_FSYNC_WORKERS, thread_name_prefix="resilience-fsync")
        return _fsync_pool


def _forget_fsync_pool() -> None:
    # A forked child has none of the parent's threads (and maybe a lock held by one): it makes its own pool.
    global _fsync_pool, _fsync_pool_lock  # noqa: PLW0603 -- reset after fork
    _fsync_pool = None
    _fsync_pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork there is nothing to reset
    os.register_at_fork(after_in_child=_forget_fsync_pool)


def fsync_dirs(paths: list[str]) -> None:
    """fsync many directories (and files) at once: concurrent fsyncs share journal commits (group commit)."""
    if len(paths) <= 2:
        for path in paths:
            fsync_path(path)
        return
    for _ in _fsync_executor().map(fsync_path, paths):
        pass


def fsync_dirs_started(paths: list[str]) -> Callable[[], None]:
    """Start fsyncing ``paths`` in the background; the returned function waits for them (raising what one raised).

    Lets the caller overlap the journal commit with work that does not touch those paths.
    """
    futures = [_fsync_executor().submit(fsync_path, path) for path in paths]

    def wait() -> None:
        for future in futures:
            future.result()

    return wait


def exchange(first: str, second: str) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where the kernel or fs lacks it."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), first, None, second)


def remove_tree(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_SEAL_PREFIX = b'{"checksum":"'
_SEAL_MIDDLE = b'","body":'
_BODY_START = len(_SEAL_PREFIX) + 64 + len(_SEAL_MIDDLE)


def seal(body: Mapping[str, Any]) -> bytes:
    """The manifest file: ``{"checksum": sha256 of the body's exact bytes, "body": {...}}`` (valid JSON).

    Checksumming the stored bytes (not a re-encoding) makes verification one hash, with no JSON canonicalization.
    The bytes are exactly ``json.dumps(body, separators=(",", ":"), allow_nan=False)``; file entries, the bulk of
    a big tree, are formatted directly (a third of the time), everything else goes through json.dumps.
    """
    raw = _encode_last(body, "roots", _encode_root).encode()
    return _SEAL_PREFIX + hashlib.sha256(raw).hexdigest().encode() + _SEAL_MIDDLE + raw + b"}"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _encode_last(obj: Mapping[str, Any], key: str, encode_item: Callable[[Any], str]) -> str:
    """``_dumps(obj)``, with the list under ``key`` (when it is the last key) encoded item by item."""
    items = obj.get(key)
    if not isinstance(obj, dict) or not isinstance(items, list) or next(reversed(obj)) != key:
        return _dumps(obj)
    head = _dumps({k: v for k, v in obj.items() if k != key})
    joined = ",".join([encode_item(item) for item in items])
    return f"{head[:-1]}{',' if len(obj) > 1 else ''}{_dumps(key)}:[{joined}]}}"


def _encode_root(root: object) -> str:
    if not isinstance(root, dict):
        return _dumps(root)
    return _encode_last(root, "entries", _encode_entry)


_FILE_KEYS = ("path", "type", "size", "mode", "mtime_ns", "ino", "share")
_SHARES = frozenset({"hardlink", "reflink", "copy"})


def _encode_entry(entry: object) -> str:
    # The common shape (a file record without sha256), formatted as json.dumps would; any other shape, or a value
    # of another type, goes through json.dumps itself. The checks are few and cheap: this runs once per file.
    if type(entry) is not dict or tuple(entry) != _FILE_KEYS:
        return _dumps(entry)
    path, kind, size, mode, mtime_ns, ino, share = entry.values()
    if kind != "file" or share not in _SHARES or type(path) is not str:
        return _dumps(entry)
    if not (type(size) is type(mode) is type(mtime_ns) is type(ino) is int):
        return _dumps(entry)
    return (
        f'{{"path":{_json_string(path)},"type":"file","size":{size},"mode":{mode},'
        f'"mtime_ns":{mtime_ns},"ino":{ino},"share":"{share}"}}'
    )


def unseal(raw: bytes, where: str) -> dict[str, Any]:
    """Verify the checksum, parse and validate a manifest file's bytes; IntegrityError names what is wrong."""
    shaped = (
        raw.startswith(_SEAL_PREFIX) and raw[_BODY_START - len(_SEAL_MIDDLE) : _BODY_START] == _SEAL_MIDDLE
    ) and raw.endswith(b"}")
    require(shaped, f"{where}: not a snapshot manifest (damaged or hand-edited)", where)
    body = raw[_BODY_START:-1]
    checksum = raw[len(_SEAL_PREFIX) : len(_SEAL_PREFIX) + 64].decode("ascii", "replace")
    require(
        hashlib.sha256(body).hexdigest() == checksum, f"{where}: checksum mismatch (the manifest was altered)", where
    )
    try:
        data = json.loads(body)
    except ValueError as error:
        raise IntegrityError(f"{where}: unreadable ({error})", entry=where) from None
    return validate_manifest(data, where)


# -- manifest validation -----------------------------------------------------------------------------------------


def require(condition: bool, message: str, entry: str) -> None:
    if not condition:
        raise IntegrityError(message, entry=entry)


def check_symlink_target(rel: str, target: object, where: str) -> None:
    require(isinstance(target, str) and bool(target), f"{where}: symlink {rel!r} has no target", rel)
    assert isinstance(target, str)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    escapes = target.startswith("/") or resolved == ".." or resolved.startswith("../")
    require(not escapes, f"{where}: symlink {rel!r} -> {target!r} escapes the root; use a link inside it", rel)


_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_file_fields(item: Mapping[str, Any], rel: str, where: str) -> None:
    # Messages are built only on failure: this runs once per file on every restore.
    for key in ("size", "mode", "mtime_ns", "ino"):
        value = item.get(key)
        if type(value) is not int or value < 0:
            raise IntegrityError(f"{where}: entry {rel!r} field {key}={value!r} must be an int >= 0", entry=rel)
    digest = item.get("sha256")
    if digest is not None and not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
        raise IntegrityError(f"{where}: entry {rel!r} sha256={digest!r} must be 64 hex digits", entry=rel)


def _check_entries(entries: object, target: str, where: str) -> None:
    require(isinstance(entries, list), f"{where}: root {target!r} entries must be a list", target)
    assert isinstance(entries, list)
    symlinks = {e.get("path") for e in entries if isinstance(e, dict) and e.get("type") == "symlink"}
    seen: set[str] = set()
    for item in entries:
        if not isinstance(item, dict):
            raise IntegrityError(f"{where}: entry {item!r} must be an object", entry=str(item))
        rel = check_relative_path(item.get("path"), where=where)
        if rel in seen:
            raise IntegrityError(f"{where}: entry {rel!r} appears twice", entry=rel)
        seen.add(rel)
        if symlinks and "/" in rel:
            parts = rel.split("/")
            for i in range(1, len(parts)):
                if (prefix := "/".join(parts[:i])) in symlinks:
                    raise IntegrityError(f"{where}: entry {rel!r} lies under symlink {prefix!r}", entry=rel)
        kind = item.get("type")
        if kind == "file":
            check_file_fields(item, rel, where)
        elif kind == "symlink":
            check_symlink_target(rel, item.get("target"), where)
        elif kind == "dir":
            mode = item.get("mode")
            if type(mode) is not int or mode < 0:
                raise IntegrityError(f"{where}: entry {rel!r} mode={mode!r} must be an int >= 0", entry=rel)
        else:
            raise IntegrityError(f"{where}: entry {rel!r} type={kind!r} must be one of {ENTRY_TYPES}", entry=rel)


def validate_manifest(data: object, where: str = "manifest.json") -> dict[str, Any]:
    """Check a parsed snapshot manifest; IntegrityError names the first bad entry."""
    require(isinstance(data, dict), f"{where}: must be a JSON object", where)
    assert isinstance(data, dict)
    require(data.get("schema") == SCHEMA, f"{where}: schema={data.get('schema')!r}, expected {SCHEMA!r}", where)
    require(isinstance(data.get("state"), dict), f"{where}: state must be a JSON object", "state")
    roots = data.get("roots")
    require(isinstance(roots, list) and bool(roots), f"{where}: roots must be a non-empty list", "roots")
    seen_roots: set[str] = set()
    for root in roots:  # type: ignore[union-attr]  # checked just above
        require(isinstance(root, dict), f"{where}: each root must be an object", "roots")
        target = root.get("path")
        absolute = isinstance(target, str) and os.path.isabs(target)
        require(absolute, f"{where}: root path {target!r} must be absolute", str(target))
        require(target not in seen_roots, f"{where}: root {target!r} appears twice", str(target))
        seen_roots.add(target)
        kind = root.get("kind")
        require(kind in ROOT_KINDS, f"{where}: root {target!r} kind={kind!r} must be one of {ROOT_KINDS}", target)
        if kind == "file":
            require(isinstance(root.get("file"), dict), f"{where}: file root {target!r} lacks its file record", target)
            check_file_fields(root["file"], target, where)
        elif kind == "dir":
            mode = root.get("mode")
            require(type(mode) is int and mode >= 0, f"{where}: root {target!r} mode={mode!r} must be an int", target)
        _check_entries(root.get("entries", []), target, where)
    return data
