"""Snapshot manifests: their shape, the roots a store may touch, and the validation restore relies on (private).

A manifest body is ``{schema, id, label, created, state, roots}``. Each root has an absolute ``path`` and a kind:

- ``{"kind": "dir", "mode": m, "dirs": [[rel, mode], ...], "files": [[rel, size, mode, mtime_ns, ino], ...],
  "symlinks": [[rel, target], ...]}``. File ``k`` of root ``i`` is stored at ``data/<i>/<k>`` (one flat directory
  per root: one directory to make and sync, however deep the tree); a recorded sha256 is a sixth item.
- ``{"kind": "file", "file": [size, mode, mtime_ns, ino]}``, stored at ``data/<i>``.
- ``{"kind": "absent"}``: restore removes whatever is there.

:func:`validate_manifest` checks every value a restore would act on and raises IntegrityError naming the entry:
types and ranges, names (:func:`resilience_core.check_name`), parents listed before their children, duplicates,
symlinks whose target resolves outside the root (resolved through the manifest's own symlinks, as the kernel
would resolve them in the restored tree), and roots the store may not touch (:class:`RootPolicy`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resilience_core.errors import IntegrityError, UnsafePathError
from resilience_core.paths import check_name, is_beneath

__all__ = [
    "ROOT_KINDS",
    "SCHEMA",
    "RootPolicy",
    "check_rel",
    "require",
    "symlink_problem",
    "totals",
    "validate_manifest",
]

SCHEMA = "resilience-core/snapshot@2"
ROOT_KINDS = ("dir", "file", "absent")
_MAX_MODE = 0o7777
_MAX_I64 = 2**63 - 1
_MAX_INO = 2**64 - 1
_MAX_CREATED = 1e11  # Unix seconds, year 5138: a bigger value is not a time
_MAX_LINKS = 40  # Linux MAXSYMLINKS: a lookup following more fails with ELOOP
_MAX_TARGET = 4095  # PATH_MAX less the NUL
_ID_PATTERN = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Names that check_name certainly accepts (no control character, backslash, empty, '.' or '..' component, leading
# drive): most names match and skip the call; anything else is decided by check_name itself.
_PLAIN_NAME = re.compile(r"(?![A-Za-z]:)(?:(?!\.\.?(?:/|\Z))[^\x00-\x1f\x7f\\/]+(?:/|\Z))+(?<!/)\Z")


def require(condition: bool, message: str, entry: str) -> None:
    """Raise IntegrityError(message, entry=entry) unless ``condition``."""
    if not condition:
        raise IntegrityError(message, entry=entry)


@dataclass(frozen=True, slots=True)
class RootPolicy:
    """Which absolute paths a store may snapshot and restore: never the store itself or ``/``, and, when ``roots``
    is given, only those paths or paths beneath them (each checked by realpath, so a symlink cannot lead out)."""

    store: str
    roots: tuple[str, ...] | None = None

    def problem(self, path: object) -> str:
        """Why ``path`` may not be a root ("" when it may)."""
        if not isinstance(path, str):
            return "must be a string"
        if "\x00" in path:
            return "contains a NUL byte"
        if not os.path.isabs(path) or os.path.normpath(path) != path or path.startswith("//"):
            return "must be an absolute, normalized path"
        if path == "/":
            return "is the filesystem root"
        store = self.store
        if store == path or store.startswith(path + "/") or path.startswith(store + "/"):
            return f"overlaps the store {store!r}"
        if self.roots is None:
            return ""
        for allowed in self.roots:
            if path == allowed:
                return ""
            if path.startswith(allowed.rstrip("/") + "/"):
                if is_beneath(allowed, os.path.dirname(path)):
                    return ""
                return f"lies under {allowed!r} only lexically: a symlink on its way leads outside it"
        return f"is not one of the roots this store was opened with ({', '.join(self.roots)})"


def check_rel(rel: object, where: str) -> str:
    """``rel`` if it is a safe relative name (see :func:`resilience_core.check_name`); else IntegrityError."""
    if type(rel) is str and _PLAIN_NAME.match(rel):
        return rel
    try:
        return check_name(rel, what=f"{where}: entry")
    except UnsafePathError as error:
        raise IntegrityError(str(error), entry=str(rel)) from None


def _resolves_outside(rel: str, links: Mapping[str, str]) -> bool:
    """Whether the symlink ``rel`` leads outside the root, following ``links`` (rel -> target) like the kernel.

    Components that are not links count as directories, so a missing one cannot hide a ``..``. A chain longer
    than the kernel follows (a loop) fails with ELOOP there and leads nowhere.
    """
    pending = rel.split("/")
    pending.reverse()
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > _MAX_LINKS:
                return False
            if target.startswith("/"):
                return True
            resolved.pop()
            pending.extend(reversed(target.split("/")))
    return False


def symlink_problem(rel: str, target: object, links: Mapping[str, str]) -> str:
    """Why the symlink ``rel -> target`` may not be in a snapshot ("" when it may); ``links`` holds every symlink."""
    if type(target) is not str or not target or "\x00" in target or len(target) > _MAX_TARGET:
        return f"symlink {rel!r} has no usable target ({target!r:.80})"
    if target.startswith("/") or _resolves_outside(rel, links):
        return f"symlink {rel!r} -> {target!r} escapes the root; use a relative link that stays inside it"
    return ""


def _int_field(value: object, top: int, what: str, where: str, entry: str) -> None:
    if type(value) is not int or not 0 <= value <= top:
        raise IntegrityError(f"{where}: {what}={value!r:.40} must be an int in 0..{top}", entry=entry)


def _check_file(item: object, with_path: bool, where: str, label: str) -> str:
    """Check one file record; return its path ("" for a file root's record)."""
    offset = 1 if with_path else 0
    if type(item) is not list or len(item) not in (4 + offset, 5 + offset):
        raise IntegrityError(f"{where}: {label} must be a list [path, size, mode, mtime_ns, ino]", entry=label)
    rel = check_rel(item[0], where) if with_path else ""
    entry = rel or label
    size, mode, mtime_ns, ino = item[offset : offset + 4]
    # Inlined range checks (the common case): this runs once per file of every restore that parses a manifest.
    if not (type(size) is int and 0 <= size <= _MAX_I64):
        _int_field(size, _MAX_I64, f"{entry!r} size", where, entry)
    if not (type(mode) is int and 0 <= mode <= _MAX_MODE):
        _int_field(mode, _MAX_MODE, f"{entry!r} mode", where, entry)
    if not (type(mtime_ns) is int and 0 <= mtime_ns <= _MAX_I64):
        _int_field(mtime_ns, _MAX_I64, f"{entry!r} mtime_ns", where, entry)
    if not (type(ino) is int and 0 <= ino <= _MAX_INO):
        _int_field(ino, _MAX_INO, f"{entry!r} ino", where, entry)
    if len(item) == 5 + offset:
        digest = item[-1]
        if not (type(digest) is str and _HEX64.fullmatch(digest)):
            raise IntegrityError(f"{where}: {entry!r} sha256={digest!r:.80} must be 64 hex digits", entry=entry)
    return rel


def _parent_ok(rel: str, kinds: Mapping[str, str]) -> bool:
    parent = rel.rpartition("/")[0]
    return not parent or kinds.get(parent) == "dir"


def _check_dir_root(root: Mapping[str, Any], target: str, where: str) -> None:
    _int_field(root.get("mode"), _MAX_MODE, f"root {target!r} mode", where, target)
    lists = {key: root.get(key) for key in ("dirs", "files", "symlinks")}
    for key, items in lists.items():
        require(type(items) is list, f"{where}: root {target!r} {key} must be a list", target)
    kinds: dict[str, str] = {}
    for item in lists["dirs"]:  # type: ignore[union-attr]  # checked to be lists above
        require(type(item) is list and len(item) == 2, f"{where}: dirs entry {item!r:.80} must be [path, mode]", target)
        rel = check_rel(item[0], where)
        require(rel not in kinds, f"{where}: entry {rel!r} appears twice", rel)
        require(_parent_ok(rel, kinds), f"{where}: dir {rel!r} comes before its parent directory", rel)
        _int_field(item[1], _MAX_MODE, f"{rel!r} mode", where, rel)
        kinds[rel] = "dir"
    links: dict[str, str] = {}
    for item in lists["symlinks"]:  # type: ignore[union-attr]
        ok = type(item) is list and len(item) == 2
        require(ok, f"{where}: symlinks entry {item!r:.80} must be [path, target]", target)
        rel = check_rel(item[0], where)
        require(rel not in kinds, f"{where}: entry {rel!r} appears twice", rel)
        require(_parent_ok(rel, kinds), f"{where}: entry {rel!r} does not lie in a listed directory", rel)
        require(type(item[1]) is str, f"{where}: symlink {rel!r} target must be a string", rel)
        kinds[rel] = "symlink"
        links[rel] = item[1]
    for rel, link_target in links.items():
        problem = symlink_problem(rel, link_target, links)
        require(not problem, f"{where}: {problem}", rel)
    for item in lists["files"]:  # type: ignore[union-attr]
        rel = _check_file(item, True, where, target)
        if rel in kinds:
            raise IntegrityError(f"{where}: entry {rel!r} appears twice", entry=rel)
        parent = rel.rpartition("/")[0]
        if parent and kinds.get(parent) != "dir":
            raise IntegrityError(f"{where}: entry {rel!r} does not lie in a listed directory", entry=rel)
        kinds[rel] = "file"


def validate_manifest(data: object, where: str, snapshot_id: str, policy: RootPolicy) -> dict[str, Any]:
    """Check a parsed manifest body; IntegrityError names the first bad entry (``entry`` is its path)."""
    require(type(data) is dict, f"{where}: must be a JSON object", where)
    assert isinstance(data, dict)
    require(data.get("schema") == SCHEMA, f"{where}: schema={data.get('schema')!r:.80}, expected {SCHEMA!r}", where)
    require(data.get("id") == snapshot_id, f"{where}: id {data.get('id')!r:.80} != {snapshot_id!r}", where)
    label, created = data.get("label"), data.get("created", "missing")
    require(type(label) is str and len(label) <= 200, f"{where}: label must be a string of <= 200 characters", where)
    number = isinstance(created, float | int) and not isinstance(created, bool)
    number = number and math.isfinite(created) and 0 <= created <= _MAX_CREATED
    require(number, f"{where}: created={created!r:.40} must be Unix seconds", where)
    require(type(data.get("state")) is dict, f"{where}: state must be a JSON object", "state")
    roots = data.get("roots")
    require(type(roots) is list and bool(roots), f"{where}: roots must be a non-empty list", "roots")
    targets: list[str] = []
    for root in roots:  # type: ignore[union-attr]  # checked just above
        require(type(root) is dict, f"{where}: each root must be an object", "roots")
        target = root.get("path")
        problem = policy.problem(target)
        require(not problem, f"{where}: root {target!r:.200} {problem}; it is refused", str(target))
        for other in targets:
            if other == target or target.startswith(other + "/") or other.startswith(target + "/"):
                raise IntegrityError(f"{where}: roots {other!r} and {target!r} overlap", entry=target)
        targets.append(target)
        kind = root.get("kind")
        require(kind in ROOT_KINDS, f"{where}: root {target!r} kind={kind!r:.40} must be one of {ROOT_KINDS}", target)
        if kind == "file":
            _check_file(root.get("file"), False, where, target)
        elif kind == "dir":
            _check_dir_root(root, target, where)
    return data


def totals(manifest: Mapping[str, Any]) -> tuple[int, int]:
    """(file count, total bytes) of a validated manifest."""
    count = size = 0
    for root in manifest["roots"]:
        if root["kind"] == "file":
            count += 1
            size += root["file"][0]
        elif root["kind"] == "dir":
            files = root["files"]
            count += len(files)
            size += sum([item[1] for item in files])
    return count, size


def is_snapshot_id(name: object) -> bool:
    """Whether ``name`` has the shape of a snapshot id."""
    return type(name) is str and _ID_PATTERN.fullmatch(name) is not None
