"""Categorizer.categorize fills every ErrorContext field from its own argument (it builds the context positionally)."""

from __future__ import annotations

import errno

from resilience_core.recovery.categorize import Categorizer
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, Severity


def test_every_context_field_comes_from_its_argument() -> None:
    """operation, attempt, elapsed_s, correlation_id and previous_attempts land in their own fields."""
    earlier = ErrorContext(FailureType.NETWORK_TIMEOUT, Severity.MEDIUM)
    error = OSError(errno.ENOSPC, "No space left on device")
    ctx = Categorizer().categorize(
        error, "unpack", attempt=3, elapsed_s=1.5, correlation_id="corr-7", previous_attempts=(earlier,)
    )
    assert (ctx.failure_type, ctx.severity, ctx.error) == (FailureType.STORAGE_SPACE_INSUFFICIENT, Severity.HIGH, error)
    assert (ctx.operation, ctx.attempt, ctx.elapsed_s, ctx.correlation_id) == ("unpack", 3, 1.5, "corr-7")
    assert ctx.previous_attempts == (earlier,)
    assert ctx.details["errno"] == errno.ENOSPC
    assert ctx.system_state == {}


def test_unknown_failures_get_unknown_type_and_medium_severity() -> None:
    """An exception no rule knows is UNKNOWN / MEDIUM, with its raw type in details."""
    ctx = Categorizer().categorize(KeyError("nope"))
    assert (ctx.failure_type, ctx.severity) == (FailureType.UNKNOWN, Severity.MEDIUM)
    assert ctx.details["raw_type"] == "builtins.KeyError"
    assert ctx.details["retryable"] is False
