"""The proxy's event loop: calls from other threads, timers in order, cancelled timers compacted, bugs contained."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.proxy.loop import EventLoop


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    running = EventLoop("test")
    running.start()
    yield running
    running.stop()


def test_run_sync_returns_the_result_and_raises_the_error(loop: EventLoop) -> None:
    """run_sync runs in the loop thread and hands back its result, or its exception."""
    assert loop.run_sync(lambda: threading.current_thread().name) == "proxy-test"
    with pytest.raises(ZeroDivisionError):
        loop.run_sync(lambda: 1 // 0)


def test_timers_run_in_time_order_and_cancelled_ones_do_not(loop: EventLoop) -> None:
    """Due timers run earliest first; a cancelled one never runs."""
    ran: list[str] = []
    past = time.monotonic() - 10

    def arm() -> None:
        loop.call_at(past + 2, lambda: ran.append("second"))
        loop.call_at(past + 1, lambda: ran.append("first"))
        loop.call_at(past, lambda: ran.append("cancelled")).cancel()

    loop.run_sync(arm)
    loop.run_sync(lambda: None)  # one more turn: the due timers have run
    assert ran == ["first", "second"]


def test_many_cancelled_timers_do_not_pile_up(loop: EventLoop) -> None:
    """Far timers that are cancelled (a re-armed idle deadline per chunk) are dropped from the heap."""
    far = time.monotonic() + 86_400

    def churn() -> int:
        for _ in range(10_000):
            loop.call_at(far, lambda: None).cancel()
        return len(loop._timers)  # the heap size is the property under test

    assert loop.run_sync(churn) <= 1024


def test_a_failing_handler_does_not_stop_the_loop(loop: EventLoop, caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a handler is logged; the loop keeps serving the next events."""
    read_fd, write_fd = os.pipe()
    try:

        def broken(_mask: int) -> None:
            os.read(read_fd, 1)
            raise RuntimeError("bug")

        loop.run_sync(lambda: loop.add(read_fd, select.EPOLLIN, broken))
        os.write(write_fd, b"x")
        loop.run_sync(lambda: None)
        assert loop.run_sync(lambda: 42) == 42
        assert "event handler failed" in caplog.text
        loop.run_sync(lambda: loop.remove(read_fd))
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_run_sync_after_stop_runs_in_the_caller() -> None:
    """Once the loop has stopped, run_sync still runs the call (in the caller: nothing else runs any more)."""
    stopped = EventLoop("gone")
    stopped.start()
    stopped.stop()
    assert stopped.run_sync(lambda: "ran") == "ran"
    stopped.call_soon_threadsafe(lambda: None)  # a late post to a closed loop is ignored, not an error
