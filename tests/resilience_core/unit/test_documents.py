"""Bounded JSON/TOML parsing: hostile documents give one InputError, never a traceback from the parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience_core import InputError, load_json, load_toml, read_document


def test_deep_json_is_refused_before_parsing() -> None:
    """100,000-deep JSON is one InputError naming the source and the limit (no RecursionError)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InputError, match=r"spec\.json nests deeper than 64 levels"):
        load_json(deep, source="spec.json")


def test_deep_toml_is_refused_before_parsing() -> None:
    """100,000-deep TOML arrays are refused the same way."""
    deep = "x = " + "[" * 100_000 + "]" * 100_000
    with pytest.raises(InputError, match="nests deeper"):
        load_toml(deep, source="c.toml")


def test_brackets_inside_strings_do_not_count() -> None:
    """Brackets in strings and comments are text, not nesting."""
    assert load_json('{"a": "[[[[[[[[[[[[[["}', source="x", max_depth=2) == {"a": "[[[[[[[[[[[[[["}
    text = 'a = "[[[[[["\nb = \'{{{{{\'\nc = """\n[[[[[[\n"""\n# [[[[[[[\nd = [1, [2]]\n'
    assert load_toml(text, source="x", max_depth=2)["d"] == [1, [2]]


def test_size_limit_and_encoding() -> None:
    """Over max_bytes, and non-UTF-8, are one-line errors naming the fix."""
    with pytest.raises(InputError, match="over the limit of 10"):
        load_json(b"[" + b"1," * 20 + b"1]", source="big", max_bytes=10)
    with pytest.raises(InputError, match="not UTF-8"):
        load_json(b'{"a": "\xff"}', source="latin1.json")


def test_invalid_syntax_names_the_source() -> None:
    """Plain syntax errors keep the parser's position."""
    with pytest.raises(InputError, match=r"bad\.toml is not valid TOML"):
        load_toml("a = = 1", source="bad.toml")


def test_read_document_reads_only_up_to_the_limit(tmp_path: Path) -> None:
    """A file larger than the limit is refused after reading max_bytes + 1 bytes; a missing one is named."""
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(InputError, match="over the limit"):
        read_document(big, max_bytes=1024)
    with pytest.raises(InputError, match="cannot be read"):
        read_document(tmp_path / "missing.toml")
    (tmp_path / "ok.toml").write_text("[retry]\nmax_retries = 2\n")
    assert read_document(tmp_path / "ok.toml") == {"retry": {"max_retries": 2}}
