"""Go encoding/json rules for request bodies: first value only, case-insensitive keys, strict integer types."""

from __future__ import annotations

import pytest

from chaos.proxy.jsonbody import BodyError, JsonObject, decode_first


def test_empty_body_is_eof() -> None:
    """An empty or blank body is the error `EOF`, as Go reports it."""
    for body in (b"", b"  \n"):
        with pytest.raises(BodyError, match=r"^EOF$"):
            decode_first(body)


def test_only_first_value_is_read() -> None:
    """Trailing data after the first JSON value is ignored."""
    value = decode_first(b'{"a": 1} {"b"')
    assert isinstance(value, JsonObject)
    assert value.integer("a", 0) == 1


def test_keys_are_case_insensitive_and_last_wins() -> None:
    """`Name` matches `name`; with several matching keys the last one wins."""
    value = decode_first(b'{"name": "x", "NAME": "y"}')
    assert value.string("name", "") == "y"


def test_null_leaves_the_default() -> None:
    """A null field is treated as absent."""
    assert decode_first(b'{"enabled": null}').boolean("enabled", True) is True


@pytest.mark.parametrize("literal", [b"1.5", b"1e3", b"9223372036854775808", b'"1"', b"true"])
def test_integer_fields_are_strict(literal: bytes) -> None:
    """int64 fields refuse fractions, exponents, out-of-range numbers, strings and booleans."""
    with pytest.raises(BodyError, match="int64"):
        decode_first(b'{"v": ' + literal + b"}").integer("v", 0)


def test_nan_and_infinity_are_not_json() -> None:
    """NaN and Infinity, which Python's json accepts, are refused as Go does."""
    with pytest.raises(BodyError):
        decode_first(b'{"v": NaN}')


def test_wrong_types_name_the_field() -> None:
    """A number where a string belongs names the field."""
    with pytest.raises(BodyError, match="field name of type string"):
        decode_first(b'{"name": 5}').string("name", "")
    with pytest.raises(BodyError, match="unexpected EOF"):
        decode_first(b'{"name": ')
