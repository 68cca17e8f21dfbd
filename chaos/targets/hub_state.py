"""What the hub and its CDN listener share while serving: the repos, byte counters, the request log, and the
failures and corruptions a test has armed."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from chaos.targets.repos import GeneratedFile, GeneratedHub

__all__ = ["HubState", "PlannedFailure", "RequestRecord"]

_MAX_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the hub (``server="hub"``) or its CDN (``server="cdn"``) answered it."""

    server: str
    method: str
    path: str
    range: str | None
    status: int
    sent_bytes: int
    started_s: float
    authorized: bool = False  # the request carried an Authorization header


class HubState:
    """What the hub and its CDN listener share: the repos, counters, the request log, pending corruptions."""

    def __init__(self, generated: GeneratedHub, tree_page_size: int) -> None:
        self.generated = generated
        self.tree_page_size = tree_page_size
        self.cdn_base_url: str | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._served: dict[tuple[str, str, str], int] = {}
        self._records: deque[RequestRecord] = deque(maxlen=_MAX_RECORDS)
        self._corrupt: dict[tuple[str, str, str], int] = {}
        self._failures: list[PlannedFailure] = []
        self.throttle_bytes_per_s: int | None = None
        self.required_token: str | None = None

    def count(self, file: GeneratedFile, sent_bytes: int) -> None:
        """Add body bytes sent for ``file``."""
        key = (file.repo_type, file.repo_id, file.path)
        with self._lock:
            self._served[key] = self._served.get(key, 0) + sent_bytes

    def served_bytes(self, repo_type: str, repo_id: str, path: str) -> int:
        """Body bytes sent for one file since the last reset."""
        with self._lock:
            return self._served.get((repo_type, repo_id, path), 0)

    def total_served_bytes(self) -> int:
        """Body bytes sent for all files since the last reset."""
        with self._lock:
            return sum(self._served.values())

    def begin(self) -> None:
        """A request started being answered."""
        with self._lock:
            self._in_flight += 1

    def record(self, record: RequestRecord) -> None:
        """Log one answered request (this ends it)."""
        with self._lock:
            self._records.append(record)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is being answered; False if some still is after ``timeout_s``."""
        with self._lock:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    def records(self) -> list[RequestRecord]:
        """The request log, oldest first."""
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        """Zero the counters and the request log."""
        with self._lock:
            self._served.clear()
            self._records.clear()

    def arm_corruption(self, file: GeneratedFile, times: int) -> None:
        """Flip one byte in each of the next ``times`` bodies served for ``file``."""
        with self._lock:
            key = (file.repo_type, file.repo_id, file.path)
            self._corrupt[key] = self._corrupt.get(key, 0) + times

    def take_corruption(self, file: GeneratedFile) -> int | None:
        """The file offset to flip in this body, or None when no corruption is pending."""
        key = (file.repo_type, file.repo_id, file.path)
        with self._lock:
            left = self._corrupt.get(key, 0)
            if left <= 0:
                return None
            self._corrupt[key] = left - 1
        return file.size_bytes // 2

    def arm_failure(self, failure: PlannedFailure) -> None:
        """Answer the next matching requests with an HTTP error instead."""
        with self._lock:
            self._failures.append(failure)

    def take_failure(self, method: str, path: str) -> PlannedFailure | None:
        """The planned failure this request meets (using one of its ``times``), or None."""
        with self._lock:
            for failure in self._failures:
                if failure.path_contains in path and failure.method in ("", method):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None


@dataclass(slots=True)
class PlannedFailure:
    status: int
    times: int
    path_contains: str
    method: str
    retry_after_s: float | None
