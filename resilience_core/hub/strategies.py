"""The strategies :func:`ensure_model` plans first for its own calls; the runtime's plan follows them.

- ``hub-resume``: a download that made progress before it broke resumes at once, for free;
- ``hub-source``: mirror fallback over the sources this call was given (``params["sources"]``);
- ``hub-repair``: a file that failed its hash is removed, so the next attempt fetches a good copy;
- ``hub-disk``: the runtime's free-disk-space strategy, aimed at this repository's cache folders.

``hub-resume`` in detail: a connection reset 40 MB into a shard is not the same failure as a server that
refuses every connection: the bytes are on disk and the next ``Range`` request continues from them. Planned
first for the network failure types of ``model_download`` calls, it asks for an immediate attempt that does
not count against the call's attempt limit whenever the failed attempt wrote new bytes. An attempt that wrote
nothing falls through to the usual plan (breaker, source fallback, retry with backoff), which does count.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from resilience_core.hub.errors import ChecksumMismatch
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.disk import FreeDiskSpaceStrategy
from resilience_core.recovery.strategies.source import SourceFallbackStrategy
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = [
    "RESUMABLE_FAILURE_TYPES",
    "HubDiskStrategy",
    "HubSourceStrategy",
    "Progress",
    "QuarantineRepairStrategy",
    "ResumeStrategy",
]

RESUMABLE_FAILURE_TYPES = (
    FailureType.NETWORK_CONNECTIVITY_LOSS,
    FailureType.NETWORK_TIMEOUT,
    FailureType.BANDWIDTH_LIMITATION,
    FailureType.HTTP_ERROR,
)


@dataclass
class Progress:
    """Bytes written by one download call; passed in ``params["progress"]`` so the strategy can see it."""

    written_bytes: int = 0
    _seen_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, count: int) -> None:
        """Record ``count`` more bytes written to the partial file."""
        with self._lock:
            self.written_bytes += count

    def take_advance(self) -> int:
        """Bytes written since the previous call of this method."""
        with self._lock:
            advance = self.written_bytes - self._seen_bytes
            self._seen_bytes = self.written_bytes
            return advance


class ResumeStrategy:
    """Resume immediately after a network failure that interrupted a download making progress."""

    name = "hub-resume"

    def can_handle(self, ctx: ErrorContext) -> bool:
        """Network-type failures of a ``model_download`` call."""
        return ctx.operation == "model_download" and ctx.failure_type in RESUMABLE_FAILURE_TYPES

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        """Succeed (resume now, attempt not counted) when bytes were written; else hand over."""
        progress = attempt.params.get("progress")
        advance = progress.take_advance() if isinstance(progress, Progress) else 0
        if advance <= 0:
            return RecoveryResult(False, self.name, message="no bytes written since the last attempt")
        # Progress refunds the attempt: a download that keeps moving must not run out of attempts.
        attempt.max_attempts += 1
        return RecoveryResult(
            True,
            self.name,
            message=f"{advance} new bytes on disk; resuming with a Range request",
            system_changes={"resumed_after_bytes": progress.written_bytes if isinstance(progress, Progress) else 0},
        )


class QuarantineRepairStrategy:
    """``hub-repair``: remove a file that failed its hash, so the next attempt downloads a good copy.

    A fresh download that failed its hash has already been discarded; a file found corrupt on disk is removed
    here (the blob, or the local_dir file; a symlink is removed, not followed). At most ``max_repairs`` times per
    file and call.
    """

    name = "hub-repair"

    def __init__(self, *, max_repairs: int = 2) -> None:
        self.max_repairs = max_repairs

    def can_handle(self, ctx: ErrorContext) -> bool:
        """Checksum mismatches raised by the hub code."""
        return isinstance(ctx.error, ChecksumMismatch)

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        """Delete the corrupt file and ask for another attempt."""
        error = ctx.error
        if not isinstance(error, ChecksumMismatch):  # pragma: no cover -- can_handle filtered it
            return RecoveryResult(False, self.name, message="not a checksum mismatch")
        counts: dict[str, int] = attempt.scratch.setdefault(self.name, {})
        if counts.get(error.entry, 0) >= self.max_repairs:
            return RecoveryResult(False, self.name, message=f"{error.entry} failed its hash {self.max_repairs} times")
        counts[error.entry] = counts.get(error.entry, 0) + 1
        # Only the file itself: a symlink in its place is removed, never followed (its target may lie outside the
        # cache, planted by someone else; ensure_model's own files are never symlinks where it checks them).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(error.filename)
        return RecoveryResult(
            True,
            self.name,
            message=f"removed the corrupt {error.entry}; it will be downloaded again",
            system_changes={"repaired": error.entry},
        )


class HubSourceStrategy:
    """Switch ``params["endpoint"]`` to the next of ``params["sources"]`` after repeated failures."""

    name = "hub-source"

    def __init__(self, *, switch_after_failures: int = 2) -> None:
        self.switch_after_failures = switch_after_failures
        self._probe = SourceFallbackStrategy(("http://probe",), switch_after_failures=switch_after_failures)

    def can_handle(self, ctx: ErrorContext) -> bool:
        """The failure types (and retryability) the built-in source strategy handles."""
        return self._probe.can_handle(ctx)

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        """Delegate to a source strategy built from this call's own source list."""
        sources = attempt.params.get("sources") or ()
        if not isinstance(sources, (list, tuple)) or len(sources) < 2:
            return RecoveryResult(False, self.name, message="this call has no alternative source")
        inner = SourceFallbackStrategy(sources, switch_after_failures=self.switch_after_failures)
        return inner.recover(ctx, attempt)


class HubDiskStrategy:
    """``hub-disk``: free space under the call's ``params["cleanup_roots"]`` with the runtime's disk strategy.

    ``params["keep"]`` (a ``Path -> bool`` callable) vetoes removals (the partial files this call resumes
    from); ``params["bytes_needed"]`` is how much must be free afterwards.
    """

    name = "hub-disk"

    def __init__(self, *, stale_age_s: float = 3600.0) -> None:
        self.stale_age_s = stale_age_s

    def can_handle(self, ctx: ErrorContext) -> bool:
        """Disk-full failures."""
        return ctx.failure_type is FailureType.STORAGE_SPACE_INSUFFICIENT

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        """Delegate to :class:`FreeDiskSpaceStrategy` over this call's roots."""
        roots = attempt.params.get("cleanup_roots") or ()
        keep = attempt.params.get("keep")
        needed = attempt.params.get("bytes_needed", 0)
        if not isinstance(roots, (list, tuple)) or not roots:
            return RecoveryResult(False, self.name, message="this call names no folder to clean")
        inner = FreeDiskSpaceStrategy(
            roots=[Path(r) for r in roots],
            stale_age_s=self.stale_age_s,
            bytes_needed=int(needed) if isinstance(needed, int) else 0,
            keep=keep if callable(keep) else None,
        )
        return inner.recover(ctx, attempt)
