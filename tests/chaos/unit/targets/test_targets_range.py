"""HTTP Range parsing for the local targets."""

from __future__ import annotations

import pytest

from chaos.targets._http import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-", (0, 100)),
        ("bytes=10-19", (10, 10)),
        ("bytes=90-500", (90, 10)),
        ("bytes=-30", (70, 30)),
        ("bytes=-500", (0, 100)),
        ("bytes=0-0", (0, 1)),
        ("items=0-5", None),
        ("bytes=0-5,10-20", None),
        ("bytes=abc-", None),
        ("bytes=20-10", None),
        ("bytes=5", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    """A single range gives (start, length); malformed or multi-range headers mean the whole file."""
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0"])
def test_unsatisfiable_ranges_raise(header: str) -> None:
    """A start at or past the end (or an empty suffix) is unsatisfiable: the server answers 416."""
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)
