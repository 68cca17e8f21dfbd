"""An injectable clock: every wait in resilience_core goes through here, so tests never sleep.

``set_testing(True)`` (or ``with set_testing():``) switches real waiting off process-wide and caps attempts;
a :class:`FakeClock` gives tests full control of time.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Protocol

__all__ = [
    "Clock",
    "FakeClock",
    "SystemClock",
    "is_testing",
    "set_testing",
    "testing_max_attempts",
]


class Clock(Protocol):
    """What the runtime needs from time: a monotonic reading and a way to wait."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class _TestingState:
    __slots__ = ("enabled", "max_attempts")

    def __init__(self) -> None:
        self.enabled = False
        self.max_attempts = 3


_TESTING = _TestingState()


class set_testing:
    """Switch real waiting off (and cap attempts at ``max_attempts``) for the whole process.

    ``set_testing(True)`` takes effect at once; ``with set_testing(True, max_attempts=2): ...`` restores the
    previous setting on exit.
    """

    def __init__(self, enabled: bool = True, *, max_attempts: int = 3) -> None:
        self._previous = (_TESTING.enabled, _TESTING.max_attempts)
        _TESTING.enabled = enabled
        _TESTING.max_attempts = max_attempts

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _TESTING.enabled, _TESTING.max_attempts = self._previous


def is_testing() -> bool:
    """True while :class:`set_testing` is on."""
    return _TESTING.enabled


def testing_max_attempts() -> int | None:
    """The attempt cap while testing, else None."""
    return _TESTING.max_attempts if _TESTING.enabled else None


class SystemClock:
    """The real clock; its waits become no-ops while :func:`is_testing` is true."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and not _TESTING.enabled:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio  # already loaded by the running event loop; kept out of `import resilience_core`

        if seconds > 0 and not _TESTING.enabled:
            await asyncio.sleep(seconds)
        else:
            await asyncio.sleep(0)


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it and records the wait.

    >>> clock = FakeClock()
    >>> clock.sleep(1.5)
    >>> clock.monotonic(), clock.sleeps
    (1.5, [1.5])
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio  # already loaded by the running event loop

        self.sleep(seconds)
        await asyncio.sleep(0)
