"""Bounded parsing of JSON and TOML documents that came from outside (configs, specs, manifests, journals).

Every file input of the project is read through here, so a hostile or broken file gives one
:class:`~resilience_core.errors.InputError` naming the source and the limit, never a ``RecursionError``, a
``MemoryError`` or a ``UnicodeDecodeError`` traceback:

- at most ``max_bytes`` are read (default 16 MiB; a bigger file is refused before it is parsed);
- the text must be UTF-8;
- containers may nest at most ``max_depth`` levels (default 64). Depth is checked by a linear scan of the text
  before the parser runs, so a 100,000-deep ``[[[[...`` costs one pass, not a stack overflow.

>>> load_json(b'{"retry": {"max_retries": 5}}', source="argument")
{'retry': {'max_retries': 5}}
>>> load_json(b"[" * 100 + b"]" * 100, source="deep.json")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
resilience_core.errors.InputError: deep.json nests deeper than 64 levels (100); fix: flatten the document
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from resilience_core.errors import InputError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "load_json", "load_toml", "read_document"]

DEFAULT_MAX_BYTES = 16 << 20
DEFAULT_MAX_DEPTH = 64

# Brackets outside strings decide the depth. JSON has one string form; TOML has four (basic, literal and
# their multi-line forms) plus comments. The scanners skip strings and comments and count the rest.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_TOML_TOKENS = re.compile(
    rb'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]', re.DOTALL
)
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


def _depth(data: bytes, tokens: re.Pattern[bytes]) -> int:
    depth = deepest = 0
    for match in tokens.finditer(data):
        token = match.group()
        if len(token) != 1:
            continue  # a string or a comment
        if token[0] in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif token[0] in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


def _checked_text(data: bytes, source: str, *, max_bytes: int, max_depth: int, tokens: re.Pattern[bytes]) -> str:
    if len(data) > max_bytes:
        raise InputError(
            f"{source} is {len(data)} bytes, over the limit of {max_bytes}; fix: pass a smaller file",
            source=source,
            reason="too large",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source} is not UTF-8 text (byte {error.start}: {data[error.start : error.start + 1]!r}); "
            "fix: save the file as UTF-8",
            source=source,
            reason="not UTF-8",
        ) from None
    deepest = _depth(data, tokens)
    if deepest > max_depth:
        raise InputError(
            f"{source} nests deeper than {max_depth} levels ({deepest}); fix: flatten the document",
            source=source,
            reason="too deep",
        )
    return text


def load_json(
    data: bytes | str, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse JSON ``data`` within the limits; InputError naming ``source`` otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    text = _checked_text(raw, source, max_bytes=max_bytes, max_depth=max_depth, tokens=_JSON_TOKENS)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InputError(f"{source} is not valid JSON: {error}", source=source, reason="invalid JSON") from None


def load_toml(
    data: bytes | str, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """Parse TOML ``data`` within the limits; InputError naming ``source`` otherwise."""
    import tomllib

    raw = data.encode("utf-8") if isinstance(data, str) else data
    text = _checked_text(raw, source, max_bytes=max_bytes, max_depth=max_depth, tokens=_TOML_TOKENS)
    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError) as error:
        raise InputError(f"{source} is not valid TOML: {error}", source=source, reason="invalid TOML") from None


def read_document(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Read and parse a ``.json`` or ``.toml`` file (``kind`` forces one) within the limits.

    Reads at most ``max_bytes + 1`` bytes, so a huge or endless file (``/dev/zero``) is refused without being read.
    """
    file = Path(path)
    source = os.fspath(file)
    chosen = kind or ("toml" if file.suffix.lower() == ".toml" else "json")
    try:
        with open(file, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise InputError(
            f"{source} cannot be read: {error.strerror or error}; fix: pass an existing, readable file",
            source=source,
            reason="unreadable",
        ) from None
    if chosen == "toml":
        return load_toml(data, source=source, max_bytes=max_bytes, max_depth=max_depth)
    return load_json(data, source=source, max_bytes=max_bytes, max_depth=max_depth)
