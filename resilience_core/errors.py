"""The exceptions resilience_core raises on its own behalf.

Every one derives from :class:`ResilienceError`, so an installer can catch the whole family in one place.
Messages name the field, the value, where it came from and what to change (STYLE 9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resilience_core.recovery.taxonomy import ErrorContext, RecoveryResult

__all__ = [
    "ConfigError",
    "InputError",
    "IntegrityError",
    "RecoveryFailed",
    "ResilienceError",
    "SnapshotError",
    "UnsafePathError",
]


class ResilienceError(Exception):
    """Root of every error raised by resilience_core itself."""


class ConfigError(ResilienceError, ValueError):
    """A configuration value, key or override is invalid.

    ``field`` is the dotted path (``retry.max_retries``), ``value`` what was given, ``source`` where it came
    from (a file path, ``env:RESILIENCE_RETRY_MAX_RETRIES``, ``argument``) and ``allowed`` the accepted range.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str = "",
        value: object = None,
        source: str = "",
        allowed: str = "",
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.source = source
        self.allowed = allowed


class InputError(ResilienceError, ValueError):
    """A document or a name that came from outside is malformed, too large, too deep or hostile.

    ``source`` names where it came from (a file path, a URL, ``argument``); ``reason`` says what is wrong.
    """

    def __init__(self, message: str, *, source: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.reason = reason


class UnsafePathError(InputError):
    """A name from outside would lead out of its root (``..``, an absolute path, a symlink escape...).

    ``name`` is the name as given, ``root`` the root it was joined to (when known).
    """

    def __init__(self, message: str, *, name: str = "", root: str = "", reason: str = "") -> None:
        super().__init__(message, source=root, reason=reason)
        self.name = name
        self.root = root


class IntegrityError(ResilienceError):
    """A file, manifest or snapshot failed verification; ``entry`` names the offending entry."""

    def __init__(self, message: str, *, entry: str = "") -> None:
        super().__init__(message)
        self.entry = entry


class SnapshotError(ResilienceError):
    """A snapshot could not be taken or restored (the tree is left as it was)."""


class RecoveryFailed(ResilienceError):
    """Every recovery strategy was tried and the operation still failed.

    ``context`` is the last :class:`ErrorContext`, ``result`` the last :class:`RecoveryResult`; the original
    exception is ``__cause__``. ``user_message`` and ``actionable_steps`` are ready to show to a person.
    """

    def __init__(self, context: ErrorContext, result: RecoveryResult) -> None:
        self.context = context
        self.result = result
        self.user_message = result.user_message or result.message
        self.actionable_steps = tuple(result.actionable_steps)
        super().__init__(
            f"{context.operation or 'operation'} failed after {context.attempt} attempt(s): "
            f"{context.failure_type.value} ({context.severity.value}): {self.user_message}"
        )
