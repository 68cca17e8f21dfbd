"""Errors raised by :mod:`resilience_core.hub` on its own behalf.

They carry what the categorizer and the recovery strategies need: an HTTP status (``status_code``), a path,
the source URL. Checksum mismatches reuse :class:`resilience_core.errors.IntegrityError`.
"""

from __future__ import annotations

from resilience_core.errors import IntegrityError, ResilienceError

__all__ = ["ChecksumMismatch", "HubHTTPError", "HubProtocolError", "ModelNotFoundError"]


class HubHTTPError(ResilienceError, OSError):
    """A hub or mirror answered with an unexpected HTTP status; ``status_code`` and ``url`` say which."""

    def __init__(self, message: str, *, status_code: int, url: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = status_code
        self.url = url


class ChecksumMismatch(IntegrityError):
    """A file's size or digest differs from what the hub published.

    ``filename`` is the file on disk (already removed when the bytes were a fresh download), ``entry`` the path
    in the repository, ``expected`` and ``actual`` the two values.
    """

    def __init__(self, message: str, *, entry: str, filename: str, expected: str, actual: str) -> None:
        super().__init__(message, entry=entry)
        self.filename = filename
        self.expected = expected
        self.actual = actual


class ModelNotFoundError(ResilienceError, LookupError):
    """The repository, revision or file does not exist on any source; retrying cannot help.

    ``field`` is ``repo_id``, ``revision`` or ``filename``; ``value`` what was asked for.
    """

    def __init__(self, message: str, *, field: str, value: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        # A definitive 404: the categorizer's HTTP rules make it non-retryable.
        self.status_code = 404


class HubProtocolError(ResilienceError, ConnectionError):
    """A server broke the download protocol (a 206 for the wrong range, a short body, a changed ETag).

    It is a ``ConnectionError``: the next attempt starts a fresh connection and usually succeeds.
    """
