"""What every long-running ``resilience ... serve`` command shares: the loopback guard, the port check, and one
way to stop.

Stopping: :func:`chaos.cli.main.main` blocks SIGINT and SIGTERM before it even parses the command line, and a
serve command keeps them blocked while it builds, binds and prints its URL. Every thread it starts inherits the
mask, so no signal can land in the middle of start-up or in a worker thread. The command then waits for the
signal with :func:`signal.sigwait`: a SIGTERM sent at any moment after ``main()`` began (even before the port was
bound) is pending, not lost, and stops the server as soon as it is up.

Every server stops the same way: its listeners close, one ``... stopped (SIGTERM)`` line goes to stderr, and
then the process dies of that same signal (the default action, re-raised), as a well-behaved Unix program does.
So the exit status is the same whenever the signal came: ``-15`` in ``Popen.returncode`` (143 in a shell) for
SIGTERM, ``-2`` (130) for SIGINT, also when it came while the interpreter was still starting, before ``main()``
could hold anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from chaos.errors import ChaosError
from resilience_core import is_loopback

__all__ = [
    "STOP_SIGNALS",
    "StopRequested",
    "check_bind_host",
    "die_of",
    "hold_stop_signals",
    "parse_port",
    "release_stop_signals",
    "report_stopped",
    "wait_for_stop",
]

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class StopRequested(Exception):  # a request, not an error: the server already stopped cleanly
    """Raised by a serve handler once it stopped cleanly on a signal; ``main()`` then dies of that signal."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


def check_bind_host(host: str, *, allow_remote: bool, source: str = "--host") -> None:
    """Refuse a non-loopback bind address unless ``--allow-remote`` was given (one ChaosError naming the fix)."""
    if not is_loopback(host) and not allow_remote:
        raise ChaosError(
            f"{source} {host!r} is not loopback; these servers have no authentication, so anyone who can reach "
            "the address could use them; fix: bind 127.0.0.1, or pass --allow-remote to expose it on purpose"
        )


def parse_port(text: str) -> int:
    """argparse ``type=`` for a TCP port: an integer in 0..65535 (0 picks a free one)."""
    stripped = text.strip()
    port = int(stripped) if stripped.isascii() and stripped.isdigit() and len(stripped) <= 5 else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port={text!r} must be an integer in 0..65535 (0 picks a free port)")
    return port


def _can_mask() -> bool:
    return hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()


def hold_stop_signals() -> set[int | signal.Signals] | None:
    """Block SIGINT and SIGTERM in this thread; returns the previous mask (None where masks do not apply)."""
    if not _can_mask():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release_stop_signals(previous: set[int | signal.Signals] | None, *, discard_pending: bool = False) -> None:
    """Restore the mask :func:`hold_stop_signals` returned; ``discard_pending`` first consumes stop signals that
    arrived meanwhile (a server that already stopped must not be killed by a second SIGTERM on the way out)."""
    if previous is None:
        return
    if discard_pending:
        while STOP_SIGNALS & signal.sigpending():
            signal.sigwait(STOP_SIGNALS)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def wait_for_stop() -> signal.Signals:
    """Block until SIGINT or SIGTERM (already pending ones count) and return which one came.

    Needs the signals held (see :func:`hold_stop_signals`); where masks do not apply (not the main thread), it
    waits for Ctrl-C instead.
    """
    if not _can_mask():
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        return signal.SIGINT
    return signal.Signals(signal.sigwait(STOP_SIGNALS))


def report_stopped(what: str, signum: signal.Signals) -> None:
    """The one line every server prints on stderr when a signal stopped it."""
    with contextlib.suppress(OSError):  # stderr may be a closed pipe by now
        print(f"{what} stopped ({signum.name})", file=sys.stderr, flush=True)


def die_of(signum: signal.Signals) -> int:
    """End this process by ``signum``'s default action (after flushing stdio); returns ``128 + signum`` only
    where that is impossible (not the main thread, no signal masks)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if _can_mask():
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})  # delivered here: the process ends
    return 128 + int(signum)
