"""Path safety: join a name that came from outside (a server, a manifest, a spec, a user) beneath a root.

Every place that builds a filesystem path from an untrusted name goes through :func:`safe_join`. It refuses, with
one :class:`~resilience_core.errors.UnsafePathError` naming the root, the name and the reason:

- names that are not plain text: empty, NUL or other control characters;
- absolute paths (``/etc/passwd``), Windows drive and UNC forms (``C:\\x``, ``C:x``, ``\\\\server\\share``,
  ``//server/share``) and backslash separators;
- ``..`` components, and (unless ``allow_dot``) ``.`` or empty components;
- symlink escapes: the deepest existing ancestor of the joined path is resolved with ``realpath`` and must lie
  inside the root's ``realpath``. A chain ``t -> .`` plus ``s -> t/../outside`` is caught, because the check is
  made on what the kernel would open, not on the text.

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> safe_join(root, "models--acme--wan/blobs/abc").relative_to(root).as_posix()
'models--acme--wan/blobs/abc'
>>> safe_join(root, "../escape")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
resilience_core.errors.UnsafePathError: name '../escape' under '...' is refused: it contains '..'; fix: ...

What it cannot do: a local user who can write inside the root may swap a directory for a symlink between the check
and the use (a TOCTOU race). Roots must not be writable by people you do not trust; see docs/security.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from resilience_core.errors import UnsafePathError

__all__ = ["check_name", "is_beneath", "safe_join"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_name(
    name: object, *, what: str = "name", allow_dot: bool = False, root: str | os.PathLike[str] | None = None
) -> str:
    """Return ``name`` if it is a safe relative POSIX path; else raise UnsafePathError saying why.

    ``what`` names the field in the message (``"tree entry path"``, ``"revision"``); ``root``, when given, is
    named too.
    """
    under = f" under {os.fspath(root)!r}" if root is not None else ""
    if not isinstance(name, str):
        raise UnsafePathError(f"{what} {name!r}{under} must be text", name=str(name), reason="not a string")
    reason = ""
    parts = name.split("/")
    if not name:
        reason = "it is empty"
    elif _CONTROL.search(name):
        reason = "it contains a NUL or control character"
    elif name.startswith(("/", "\\")):
        reason = "it is absolute (or a UNC path)"
    elif _DRIVE.match(name):
        reason = "it names a Windows drive"
    elif "\\" in name:
        reason = "it contains a backslash (a Windows separator)"
    elif ".." in parts:
        reason = "it contains '..'"
    elif not allow_dot and ("" in parts or "." in parts):
        reason = "it is not normalized (an empty or '.' component)"
    if reason:
        raise UnsafePathError(
            f"{what} {name!r}{under} is refused: {reason}; "
            "fix: names from outside must be relative paths inside the root",
            name=name,
            root=os.fspath(root) if root is not None else "",
            reason=reason,
        )
    return name


def is_beneath(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """True when ``path``, with every symlink of its existing part resolved, lies inside ``root`` (or is it)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def safe_join(root: str | os.PathLike[str], name: object, *, what: str = "name", allow_dot: bool = False) -> Path:
    """``root / name`` after :func:`check_name`, refused if symlinks already on disk lead it outside ``root``.

    The returned path is the lexical join (it keeps symlinks that stay inside the root), so callers write where
    they meant to.
    """
    checked = check_name(name, what=what, allow_dot=allow_dot, root=root)
    joined = Path(root) / checked
    if not is_beneath(root, joined):
        raise UnsafePathError(
            f"{what} {checked!r} under {os.fspath(root)!r} is refused: a symlink on the way leads outside the root "
            f"(to {os.path.realpath(joined)!r}); fix: remove the symlink or use a clean root",
            name=checked,
            root=os.fspath(root),
            reason="symlink escape",
        )
    return joined
