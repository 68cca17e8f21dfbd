"""One thread per proxy: an epoll loop with timers and calls posted from other threads.

Every socket, pipe and timer of a proxy's connections is touched by its loop thread only, so the data path takes
no lock and never hands the GIL to another thread between reading a chunk and writing it. Other threads (the
REST API, the in-process API) post work with :meth:`EventLoop.call_soon_threadsafe`, or wait for it with
:meth:`EventLoop.run_sync`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

__all__ = ["EventLoop", "Timer"]

_T = TypeVar("_T")
_MAX_POLL_S = 3600.0
_COMPACT_TIMERS = 512  # epoll takes milliseconds in a C int: a far deadline is reached by polling again
_LOG = logging.getLogger("chaos.proxy.loop")


class Timer:
    """A call scheduled at a monotonic time; :meth:`cancel` makes it a no-op."""

    __slots__ = ("_loop", "callback", "cancelled", "when")

    def __init__(self, loop: EventLoop, when: float, callback: Callable[[], None]) -> None:
        self._loop = loop
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback (the loop drops it at its time, or sooner when many are cancelled)."""
        if not self.cancelled:
            self.cancelled = True
            self._loop.timer_cancelled()


class EventLoop:
    """An epoll reactor run by one daemon thread; handlers get the event mask of their fd."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._epoll = select.epoll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._cancelled = 0
        self._calls: deque[Callable[[], None]] = deque()
        self._wake_lock = threading.Lock()  # the eventfd is never written once closed (its number may be reused)
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- from any thread -------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def in_loop(self) -> bool:
        """Whether the caller is the loop thread."""
        return self._thread is threading.current_thread()

    def start(self) -> None:
        """Start the loop thread."""
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.name}", daemon=True)
        self._thread.start()

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the loop thread, soon."""
        self._calls.append(callback)
        with self._wake_lock:
            if self._wake_fd >= 0:
                os.eventfd_write(self._wake_fd, 1)

    def run_sync(self, callback: Callable[[], _T]) -> _T:
        """Run ``callback`` in the loop thread and return its result (directly when the loop is not running)."""
        if self.in_loop() or not self.is_running():
            return callback()
        done = threading.Event()
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(callback())
            except BaseException as error:  # noqa: BLE001  # handed to the waiting thread, which raises it
                outcome.append(_Failure(error))
            finally:
                done.set()

        self.call_soon_threadsafe(call)
        while not done.wait(0.5):
            if not self.is_running():  # the loop stopped before running it: run it here, nothing else runs now
                return callback()
        result = outcome[0]
        if isinstance(result, _Failure):
            raise result.error
        return result  # type: ignore[return-value]  # outcome holds the callback's own result

    def stop(self) -> None:
        """Stop the loop thread and wait for it; pending calls run first."""
        if self.in_loop():
            self._stopping = True
            return
        self.call_soon_threadsafe(self._request_stop)
        if self._thread is not None:
            self._thread.join()
        self.close()

    def close(self) -> None:
        """Release the epoll and eventfd descriptors (after :meth:`stop`)."""
        with contextlib.suppress(OSError):
            self._epoll.close()
        with self._wake_lock:
            if self._wake_fd >= 0:
                os.close(self._wake_fd)
            self._wake_fd = -1

    # -- from the loop thread -----------------------------------------------------------------------------------

    def add(self, fd: int, events: int, handler: Callable[[int], None]) -> None:
        """Watch ``fd`` for ``events``; ``handler(mask)`` runs when one is ready."""
        self._handlers[fd] = handler
        self._epoll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        """Change the events watched on ``fd``."""
        self._epoll.modify(fd, events)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd`` (before it is closed)."""
        if self._handlers.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` at monotonic time ``when``."""
        timer = Timer(self, when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def timer_cancelled(self) -> None:
        """A timer was cancelled: when most of the heap is cancelled timers, rebuild it without them."""
        self._cancelled += 1
        if self._cancelled > _COMPACT_TIMERS and self._cancelled * 2 > len(self._timers):
            self._timers[:] = [entry for entry in self._timers if not entry[2].cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current event handlers."""
        self._calls.append(callback)

    def _request_stop(self) -> None:
        self._stopping = True

    def _run(self) -> None:
        epoll, handlers, timers, calls = self._epoll, self._handlers, self._timers, self._calls
        wake_fd = self._wake_fd
        while not self._stopping:
            if calls:
                timeout = 0.0
            elif timers:
                timeout = min(max(timers[0][0] - time.monotonic(), 0.0), _MAX_POLL_S)
            else:
                timeout = -1.0
            try:
                events = epoll.poll(timeout)
            except InterruptedError:
                continue
            for fd, mask in events:
                if fd == wake_fd:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(wake_fd)
                    continue
                handler = handlers.get(fd)
                if handler is not None:
                    try:
                        handler(mask)
                    except Exception:  # noqa: BLE001  # one bug must not stop every connection of the proxy
                        _LOG.exception("proxy %s: event handler failed", self.name)
            if timers:
                now = time.monotonic()
                while timers and timers[0][0] <= now:
                    timer = heapq.heappop(timers)[2]
                    if timer.cancelled:
                        self._cancelled -= 1
                    else:
                        timer.cancelled = True  # run once; a late cancel() is a no-op
                        _guarded(timer.callback)
            for _ in range(len(calls)):
                _guarded(calls.popleft())


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _guarded(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001  # the loop serves every connection of the proxy: one bug must not stop them
        _LOG.exception("proxy callback failed")
