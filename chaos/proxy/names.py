"""What a proxy or toxic name, and a listen or upstream address, may contain.

A name appears unescaped in API paths (``/proxies/{name}/toxics/{toxic}``) and in Prometheus labels, so it is
1 to 128 characters from the URL-unreserved set ``A-Z a-z 0-9 . _ ~ -``, and neither ``.`` nor ``..``: every
name that can be created can be shown, addressed and deleted. Toxiproxy accepts any string without ``/``;
names outside this set are refused with a 400 that names the field.

An address is free text for Toxiproxy (a bad one fails when it is bound or dialled), but it must be printable
text: no control characters, no lone surrogates, at most 1024 characters.
"""

from __future__ import annotations

import re

__all__ = ["ADDRESS_MAX_CHARS", "NAME_MAX_CHARS", "address_problem", "name_problem"]

NAME_MAX_CHARS = 128
ADDRESS_MAX_CHARS = 1024
_NAME = re.compile(r"[A-Za-z0-9._~-]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def name_problem(field: str, name: object) -> str | None:
    """Why ``name`` cannot be a proxy or toxic name (the message of a 400), or None when it can."""
    if not isinstance(name, str):
        return f"{field} must be a string, not {type(name).__name__}"
    if _NAME.fullmatch(name) and len(name) <= NAME_MAX_CHARS and name not in (".", ".."):
        return None
    return (
        f"{field} {name[:60]!r} is refused: use 1 to {NAME_MAX_CHARS} characters from A-Z a-z 0-9 . _ ~ - "
        "(not '.' or '..'), so the name can be used in a URL as it is"
    )


def address_problem(field: str, address: object) -> str | None:
    """Why ``address`` cannot be a listen or upstream address, or None when it can (it may still not bind)."""
    if not isinstance(address, str):
        return f"{field} must be a string, not {type(address).__name__}"
    if len(address) > ADDRESS_MAX_CHARS:
        return f"{field} is {len(address)} characters long; at most {ADDRESS_MAX_CHARS}"
    if _UNPRINTABLE.search(address):
        return f"{field} {address[:60]!r} contains a control character or a lone surrogate"
    return None
