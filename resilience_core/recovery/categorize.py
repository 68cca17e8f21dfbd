"""Exception -> :class:`ErrorContext`: what broke and how badly, without importing the libraries that raised it.

Rules match on the names of the classes in the exception's MRO (``"httpx2.ReadError"``,
``"torch.OutOfMemoryError"``), on ``errno``, on an HTTP status found duck-typed on the exception, and on message
patterns. The categorizer walks ``__cause__`` and ``__context__`` (bounded, cycle-safe) and keeps the match with
the highest rule priority; a tie goes to the outermost exception.

>>> ctx = categorize(OSError(28, "No space left on device"))
>>> ctx.failure_type.value, ctx.details["errno"]
('storage_space_insufficient', 28)
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from resilience_core.recovery._plan import Plan
from resilience_core.recovery.matching import Facts, Rule, mro_names, safe_getattr
from resilience_core.recovery.network import host_of, host_of_url, network_cause, tls_reason
from resilience_core.recovery.taxonomy import RETRYABLE_FAILURE_TYPES, ErrorContext, FailureType, Severity

__all__ = ["Categorizer", "Classification", "Rule", "categorize", "default_rules", "mro_names"]

_MAX_CHAIN = 8
_MAX_RAW_MESSAGE = 500
_TYPE_CACHE_LIMIT = 2048
# Which rules a message's text passes is remembered per (plan, text): installers see the same few messages over
# and over (a reset, a timeout). Bounded: at most this many entries, for texts up to this long (about 1 MB).
_MEMO_LIMIT = 1024
_MEMO_TEXT = 1000


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict of :meth:`Categorizer.classify`: a type, a severity and the facts found."""

    failure_type: FailureType
    severity: Severity
    details: Mapping[str, Any]
    rule: Rule | None = None


def _chain(error: BaseException) -> list[BaseException]:
    """The exception, then its causes and contexts, breadth-first, each once, at most ``_MAX_CHAIN``."""
    seen = {id(error)}
    out = [error]
    index = 0
    while index < len(out) and len(out) < _MAX_CHAIN:
        current = out[index]
        index += 1
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None and id(nxt) not in seen and len(out) < _MAX_CHAIN:
                seen.add(id(nxt))
                out.append(nxt)
    return out


_SIZE_UNITS = {"b": 1, "bytes": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6}
_SIZE_UNITS |= {"gb": 10**9, "tib": 1 << 40, "tb": 10**12}
_ALLOCATE = re.compile(r"allocat\w*\s+([\d,.]+)\s*(bytes|[kmgt]i?b|b)\b", re.IGNORECASE)
# torch >= 2.1: "of which 11.06 MiB is free"; older: "; 3.03 GiB free;"
_FREE = re.compile(
    r"of which ([\d,.]+)\s*(bytes|[kmgt]i?b|b) is free|;\s*([\d,.]+)\s*([kmgt]i?b) free\b", re.IGNORECASE
)
_CONSISTENCY = re.compile(r"should be of size (\d+) but has size (\d+)")
_CA_BUNDLE_PATH = re.compile(r"invalid path: (\S+)")
_NETWORK_TYPES = frozenset({FailureType.NETWORK_CONNECTIVITY_LOSS, FailureType.NETWORK_TIMEOUT})
# Failure types whose guidance names a host: the host comes from the URL, else from the client's words.
_HOST_TYPES = _NETWORK_TYPES | {
    FailureType.HTTP_ERROR,
    FailureType.PERMISSION_DENIED,
    FailureType.BANDWIDTH_LIMITATION,
    FailureType.MODEL_DOWNLOAD_FAILURE,
    FailureType.DEPENDENCY_MISSING,
    FailureType.DEPENDENCY_INSTALL_FAILURE,
}


def _size(number: str, unit: str) -> int | None:
    try:
        value = float(number.replace(",", ""))
    except ValueError:
        return None
    return int(value * _SIZE_UNITS.get(unit.lower(), 1))


def _bytes_needed(text: str) -> int | None:
    match = _ALLOCATE.search(text)
    return None if match is None else _size(match.group(1), match.group(2))


def _bytes_free(text: str) -> int | None:
    match = _FREE.search(text)
    if match is None:
        return None
    if match.group(1) is not None:
        return _size(match.group(1), match.group(2))
    return _size(match.group(3), match.group(4))


class Categorizer:
    """An ordered, extensible set of :class:`Rule` objects; thread-safe.

    >>> cat = Categorizer()
    >>> cat.add_rule(Rule(FailureType.INVALID_PARAMETERS, Severity.HIGH, types=("KeyError",), name="keys"))
    >>> cat.classify(KeyError("steps")).failure_type.value
    'invalid_parameters'
    """

    def __init__(self, rules: Iterable[Rule] | None = None) -> None:
        self._rules: list[Rule] = list(default_rules() if rules is None else rules)
        self._lock = threading.Lock()
        self._plans: dict[tuple[type, int | None, int | None], Plan] = {}
        self._memo: dict[tuple[Plan, str], tuple[Rule, ...]] = {}

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules, in the order they were added."""
        return tuple(self._rules)

    def add_rule(self, rule: Rule) -> None:
        """Add a rule; among matches the highest ``priority`` wins, then the earlier-added rule."""
        with self._lock:
            self._rules.append(rule)
            self._plans = {}
            self._memo = {}

    def _plan_for(self, cls: type, errno: int | None, status: int | None) -> Plan:
        key = (cls, errno, status)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        with self._lock:  # the rules and the cache they fill are taken together: add_rule swaps both
            rules = list(self._rules)
            cache = self._plans
        plan = Plan(cls, rules, errno, status)
        if len(cache) < _TYPE_CACHE_LIMIT:
            cache[key] = plan
        return plan

    def classify(self, error: BaseException) -> Classification:
        """Categorize ``error`` (and its causes); unknown failures keep the raw type and message."""
        best, details = self._decide(error)
        if best is None:
            return Classification(FailureType.UNKNOWN, Severity.MEDIUM, details, None)
        return Classification(best.failure_type, best.severity, details, best)

    def _decide(self, error: BaseException) -> tuple[Rule | None, dict[str, Any]]:
        best: Rule | None = None
        best_facts: Facts | None = None
        all_facts: list[Facts] = []
        single = error.__cause__ is None and error.__context__ is None  # the common case: nothing to walk
        best_priority = -math.inf
        memo = self._memo
        for link in (error,) if single else _chain(error):
            facts = Facts(link)
            all_facts.append(facts)
            plan = self._plan_for(type(link), facts.errno, facts.status)
            facts.full_name = plan.full_name
            rules = plan.rules
            if plan.reads_text:
                text = facts.text()
                if len(text) > _MEMO_TEXT:
                    found = plan.first_match(facts, link, best_priority)
                    if found is not None:
                        best, best_facts, best_priority = found, facts, found.priority
                    continue
                key = (plan, text)
                passing = memo.get(key)
                if passing is None:
                    passing = plan.passing(facts)
                    if len(memo) < _MEMO_LIMIT:
                        memo[key] = passing
                rules = passing
            # Types, errnos, statuses and the text were checked already; only predicates are left.
            for rule in rules:
                if rule.priority <= best_priority:
                    break
                if rule.predicate is not None and not rule.predicate(link):
                    continue
                best, best_facts, best_priority = rule, facts, rule.priority
                break
        return best, self._details(error, all_facts, best, best_facts)

    def categorize(
        self,
        error: BaseException,
        operation: str | None = None,
        *,
        attempt: int = 1,
        elapsed_s: float = 0.0,
        correlation_id: str = "",
        previous_attempts: tuple[ErrorContext, ...] = (),
    ) -> ErrorContext:
        """Build the :class:`ErrorContext` for ``error`` raised during ``operation``."""
        rule, details = self._decide(error)  # no Classification: a frozen dataclass costs ~1 us to build
        # Positional, in field order: a frozen dataclass's __init__ takes keywords noticeably slower.
        return ErrorContext(
            FailureType.UNKNOWN if rule is None else rule.failure_type,
            Severity.MEDIUM if rule is None else rule.severity,
            error,
            operation,
            attempt,
            elapsed_s,
            correlation_id,
            details,
            {},  # system_state
            previous_attempts,
        )

    @staticmethod
    def _details(error: BaseException, chain: list[Facts], rule: Rule | None, matched: Facts | None) -> dict[str, Any]:
        outer = chain[0]
        details: dict[str, Any] = {
            "raw_type": outer.full_name,
            "raw_message": outer.message()[:_MAX_RAW_MESSAGE],
        }
        if len(chain) > 1:
            details["causes"] = tuple(f.full_name for f in chain[1:])
        if rule is not None:
            details["rule"] = rule.name
            if matched is not None and matched.error is not error:
                details["matched_type"] = matched.full_name
                details["matched_message"] = matched.message()[:_MAX_RAW_MESSAGE]
        for facts in chain:
            if facts.errno is not None and "errno" not in details:
                details["errno"] = facts.errno
            if facts.status is not None and "http_status" not in details:
                details["http_status"] = facts.status
                _response_details(facts.response, details)
            if isinstance(facts.error, OSError) and "path" not in details:
                filename = facts.error.filename
                if isinstance(filename, str):
                    details["path"] = filename
        # The URL lives on the outer error, the one that decided, or whichever carried an HTTP status.
        for facts in chain:
            if facts.error is error or facts is matched or facts.status is not None:
                url = _url_of(facts)
                if url:
                    details["url"] = url
                    break
        if rule is None:
            details["retryable"] = FailureType.UNKNOWN in RETRYABLE_FAILURE_TYPES
            return details
        if rule._reads_size:
            text = matched.text() if matched is not None else outer.message()
            needed = _bytes_needed(text)
            if needed is not None:
                details["bytes_needed"] = needed
            free = _bytes_free(text)
            if free is not None:
                details["bytes_free"] = free
        failure_type = rule.failure_type
        if failure_type in _NETWORK_TYPES:
            _network_details(chain, details)
        if failure_type in _HOST_TYPES or "url" in details:
            _host_details(chain, details)
        if rule.name == "hf-consistency-check":
            sizes = _CONSISTENCY.search(matched.text() if matched is not None else "")
            if sizes is not None:
                details["expected_size_bytes"] = int(sizes.group(1))
                details["received_size_bytes"] = int(sizes.group(2))
        details["retryable"] = rule._retryable
        return details


def _network_details(chain: list[Facts], details: dict[str, Any]) -> None:
    cause = network_cause(chain)
    if cause is None:
        return
    details["network_cause"] = cause
    if cause == "tls":
        text = "\n".join(f.text() for f in chain)
        details["tls"] = tls_reason(text)
        if "path" not in details:
            bundle = _CA_BUNDLE_PATH.search(text)
            if bundle is not None:
                details["path"] = bundle.group(1)


def _host_details(chain: list[Facts], details: dict[str, Any]) -> None:
    url = details.get("url")
    found = host_of_url(url) if isinstance(url, str) else None
    if found is None:
        for facts in chain:
            found = host_of(facts.text())
            if found is not None:
                break
    if found is not None:
        details["host"] = found[0]
        if found[1] is not None:
            details["port"] = found[1]


def _response_details(response: object, details: dict[str, Any]) -> None:
    headers = safe_getattr(response, "headers") if response is not None else None
    if headers is None:
        return
    try:
        retry_after = headers.get("Retry-After")
    except Exception:  # noqa: BLE001 -- duck-typed headers may not be a mapping
        return
    if isinstance(retry_after, str) and retry_after.strip().replace(".", "", 1).isdigit():
        details["retry_after_s"] = float(retry_after)


def _url_of(facts: Facts) -> str:
    error = facts.error
    try:
        request = getattr(error, "request", None)
    except Exception:  # noqa: BLE001 -- a broken property must not break categorization
        request = None
    for holder in (facts.response, request, error):
        if holder is None:
            continue
        try:
            url = getattr(holder, "url", None)
        except Exception:  # noqa: BLE001, S112 -- a broken property must not break categorization
            continue
        if url is not None and not isinstance(url, bool):
            text = str(url)
            if "://" in text:
                return text
    return ""


def default_rules() -> list[Rule]:
    """The built-in rules (see DESIGN §4.2 and reference/fault-backends.md §3-4 for the traps they encode)."""
    from resilience_core.recovery.rules import build_default_rules

    return build_default_rules()


_DEFAULT: Categorizer | None = None
_DEFAULT_LOCK = threading.Lock()


def _default_categorizer() -> Categorizer:
    global _DEFAULT  # noqa: PLW0603 -- one shared default, built on first use so import stays cheap
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Categorizer()
    return _DEFAULT


def categorize(error: BaseException, operation: str | None = None) -> ErrorContext:
    """Categorize ``error`` with the default rules.

    >>> categorize(MemoryError()).failure_type.value
    'ram_exhaustion'
    """
    categorizer = _DEFAULT if _DEFAULT is not None else _default_categorizer()
    return categorizer.categorize(error, operation)
