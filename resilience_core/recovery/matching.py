"""A categorizer :class:`Rule`, and the facts about one exception that rules are matched against.

The facts are read once per exception and only as far as a rule asks: MRO names, ``errno``, an HTTP status
duck-typed from ``.response.status_code`` / ``.status_code`` / ``.status``, and the message text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resilience_core.recovery.taxonomy import RETRYABLE_FAILURE_TYPES, FailureType, Severity

__all__ = ["Facts", "Rule", "full_name", "mro_names", "safe_getattr"]

_MAX_TEXT = 20_000
_TYPE_CACHE_LIMIT = 2048

_MEMORY_TYPES = frozenset({FailureType.VRAM_EXHAUSTION, FailureType.RAM_EXHAUSTION})  # details get bytes_needed


@dataclass(frozen=True, slots=True)
class Rule:
    """One way to recognise a failure. Every condition given must hold; at least one must be given.

    ``types`` are MRO names, either ``module.qualname`` (``"httpx2._exceptions.ReadError"``) or the short
    ``package.qualname`` (``"httpx2.ReadError"``); builtins also match by bare name (``"MemoryError"``).
    ``message`` is a case-insensitive regex searched in ``str(error)`` (plus ``output``/``stderr`` when the
    exception carries them, as ``subprocess.CalledProcessError`` does). ``keywords`` are cheap lowercase
    substrings, one of which must occur before the regex runs at all (regexes over long messages are the
    slowest part of categorizing). ``retryable`` overrides the failure type's default in
    ``details["retryable"]``.

    >>> Rule(FailureType.LOCK_CONTENTION, types=("filelock.Timeout",), name="filelock")  # doctest: +ELLIPSIS
    Rule(...)
    """

    failure_type: FailureType
    severity: Severity = Severity.MEDIUM
    types: tuple[str, ...] = ()
    errnos: tuple[int, ...] = ()
    statuses: tuple[int, ...] = ()
    message: str | None = None
    predicate: Callable[[BaseException], bool] | None = None
    priority: int = 50
    retryable: bool | None = None
    name: str = ""
    keywords: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _statuses: frozenset[int] = field(init=False, repr=False, compare=False, default=frozenset())
    _retryable: bool = field(init=False, repr=False, compare=False, default=False)
    _reads_size: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        if not (self.types or self.errnos or self.statuses or self.message or self.predicate):
            raise ValueError(
                f"Rule {self.name or self.failure_type.value!r} has no condition; "
                "give at least one of types, errnos, statuses, message, predicate"
            )
        if self.message is not None:
            object.__setattr__(self, "_pattern", re.compile(self.message, re.IGNORECASE))
        object.__setattr__(self, "_statuses", frozenset(self.statuses))
        # Worked out once here rather than for every exception the rule decides.
        retryable = self.failure_type in RETRYABLE_FAILURE_TYPES if self.retryable is None else self.retryable
        object.__setattr__(self, "_retryable", retryable)
        object.__setattr__(self, "_reads_size", self.failure_type in _MEMORY_TYPES)
        object.__setattr__(self, "keywords", tuple(k.lower() for k in self.keywords))

    def matches(self, error: BaseException, facts: Facts) -> bool:
        """True when every condition of this rule holds for ``error``."""
        if self.types and facts.names.isdisjoint(self.types):
            return False
        if self.errnos and facts.errno not in self.errnos:
            return False
        if self._statuses and facts.status not in self._statuses:
            return False
        if self.keywords:
            lowered = facts.lowered()
            for keyword in self.keywords:
                if keyword in lowered:
                    break
            else:
                return False
        if self._pattern is not None and self._pattern.search(facts.text()) is None:
            return False
        return not (self.predicate is not None and not self.predicate(error))


_TYPE_NAMES: dict[type, frozenset[str]] = {}


def mro_names(cls: type) -> frozenset[str]:
    """Every name a rule may use for ``cls``: full, short (``package.qualname``) and bare builtin names."""
    cached = _TYPE_NAMES.get(cls)
    if cached is not None:
        return cached
    names: set[str] = set()
    for klass in cls.__mro__:
        module = getattr(klass, "__module__", "") or ""
        qualname = getattr(klass, "__qualname__", klass.__name__)
        names.add(f"{module}.{qualname}")
        names.add(f"{module.partition('.')[0]}.{qualname}")
        if module == "builtins":
            names.add(qualname)
    result = frozenset(names)
    if len(_TYPE_NAMES) < _TYPE_CACHE_LIMIT:
        _TYPE_NAMES[cls] = result
    return result


def full_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Facts:
    """What one exception in the chain offers to rules; the message text is built only when a rule asks."""

    __slots__ = ("_lower", "_message", "_text", "errno", "error", "full_name", "response", "status")

    def __init__(self, error: BaseException) -> None:
        self.error = error
        errno = getattr(error, "errno", None)
        self.errno = errno if isinstance(errno, int) else None
        try:  # one guard for the common case; properties that raise are rare (httpx's unset `.request`)
            self.response = getattr(error, "response", None)
        except Exception:  # noqa: BLE001 -- a broken property must not break categorization
            self.response = None
        self.status = _http_status(error, self.response)
        self.full_name = ""  # set by the categorizer from its per-type cache
        self._message: str | None = None
        self._text: str | None = None
        self._lower: str | None = None

    @property
    def names(self) -> frozenset[str]:
        """The MRO names of the error's type (what ``Rule.types`` matches against)."""
        return mro_names(type(self.error))

    def lowered(self) -> str:
        if self._lower is None:
            self._lower = self.text().lower()
        return self._lower

    def message(self) -> str:
        """``str(error)``, computed once."""
        if self._message is None:
            self._message = str(self.error)
        return self._message

    def text(self) -> str:
        if self._text is None:
            text = self.message()
            for attr in ("output", "stderr"):
                value = getattr(self.error, attr, None)
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                if isinstance(value, str) and value:
                    text = f"{text}\n{value[-_MAX_TEXT:]}"
            self._text = text
        return self._text


def safe_getattr(obj: object, name: str) -> Any:
    # Some exception properties raise instead of returning None (httpx's `.request` when unset).
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 -- a broken property must not break categorization
        return None


def _http_status(error: BaseException, response: object) -> int | None:
    for holder in (response, error):
        if holder is None:
            continue
        try:
            value = getattr(holder, "status_code", None)
            if value is None:
                value = getattr(holder, "status", None)
        except Exception:  # noqa: BLE001, S112 -- a broken property must not break categorization
            continue
        if type(value) is int and 100 <= value <= 599:
            return value
    return None
