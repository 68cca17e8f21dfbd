"""``process.kill``: SIGKILL a subprocess target at a seeded instant, or once it has written N bytes.

The target is found in ``ctx.target``: ``"popen"`` (a :class:`subprocess.Popen`) or ``"pid"``. It is read
again on every poll, so a scenario may start the process inside the ``inject`` block and publish it there::

    with chaos.inject("process.kill", min_s=0.2, max_s=2.0) as fault:
        proc = subprocess.Popen(argv)
        ctx.target["popen"] = proc
        proc.wait()

The instant is drawn uniformly from ``[min_s, max_s]`` with ``ctx.rng`` and counted from the moment the target
is first seen. With ``after_bytes > 0`` the kill comes instead once the files under ``watch_path`` (or
``ctx.target["watch_roots"]``) hold that many bytes in all. ``tree=True`` (the default) also kills the target's
descendants, as an OOM killer or a closed terminal would. ``verify_reverted`` checks that the watcher stopped
and that no process the target spawned is still alive.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from chaos.errors import FaultParamError
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl

__all__ = ["KillProcess", "chaos_add_faults", "tree_bytes"]

_POLL_S = 0.002  # how often the watcher looks at the clock / the watched tree: kills land within ~2 ms


def tree_bytes(roots: list[pathlib.Path]) -> int:
    """Total size in bytes of the regular files under ``roots`` (symlinks not followed; vanishing files skipped)."""
    total = 0
    for root in roots:
        if root.is_file():
            with contextlib.suppress(OSError):
                total += root.stat().st_size
            continue
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _target_pid(target: dict[str, Any]) -> int | None:
    """The target's pid, or None while it is not published or once its Popen was reaped (its pid may be reused)."""
    popen = target.get("popen")
    if popen is not None:
        pid = getattr(popen, "pid", None)
        if pid is None or getattr(popen, "returncode", None) is not None:
            return None
        return int(pid)
    pid = target.get("pid")
    return int(pid) if pid is not None else None


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


class KillProcess(Fault):
    """Kill a subprocess target (and by default its descendants) at a seeded instant or after N bytes."""

    name = "process.kill"
    targets_process = True
    summary = "SIGKILL the subprocess target at a seeded instant in [min_s, max_s] or after N bytes written."
    params = (
        Param("min_s", float, 0.0, "earliest kill instant after the target is first seen", minimum=0.0),
        Param("max_s", float, 1.0, "latest kill instant after the target is first seen", minimum=0.0),
        Param("after_bytes", int, 0, "kill once watch_path holds this many bytes (0: use the instant)", minimum=0),
        Param("watch_path", str, "", "file or directory counted for after_bytes; empty: ctx.target['watch_roots']"),
        Param("signal", str, "SIGKILL", "signal to send", choices=("SIGKILL", "SIGTERM", "SIGINT")),
        Param("tree", bool, True, "also kill the target's descendants (False leaves them: a leaky variant)"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.values["max_s"] < self.values["min_s"]:
            message = (
                f"process.kill.max_s={self.values['max_s']!r} must be >= min_s={self.values['min_s']!r}; "
                "fix: raise max_s or lower min_s"
            )
            raise FaultParamError(message, fault=self.name, field="max_s", value=self.values["max_s"])
        self.backend = "bytes-watch" if self.values["after_bytes"] else "timer"
        self.killed_pids: list[int] = []
        self.descendants: list[int] = []
        self._started: dict[int, float] = {}  # pid -> create_time, so a reused pid is not taken for residue
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def availability(cls) -> str | None:
        """None where psutil (to find and kill the target's descendants) is installed."""
        try:
            import psutil  # noqa: F401  # probing only
        except ImportError:
            return "psutil is not installed (pip install psutil)"
        return None

    def _watch_roots(self, ctx: FaultContext) -> list[pathlib.Path]:
        if self.values["watch_path"]:
            return [pathlib.Path(self.values["watch_path"])]
        return [pathlib.Path(root) for root in ctx.target.get("watch_roots") or ()]

    def _kill(self, ctx: FaultContext, pid: int, reason: str, at_s: float, started: float | None) -> None:
        import psutil

        try:
            process = psutil.Process(pid)
            if started is not None and process.create_time() != started:
                return  # the target exited and its pid now names another process: never kill that one
            children = process.children(recursive=True)
            ours = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
        except psutil.Error:
            return  # already gone: the step finished before the instant, so the fault did not fire
        if pid in ours:
            # A scenario that published the harness's own pid (or an ancestor's) would kill the test run.
            ctx.note("process.kill.refused", pid=pid, reason="the pid is this harness process or its ancestor")
            return
        self.descendants = [child.pid for child in children]
        for child in children:
            with contextlib.suppress(psutil.Error):
                self._started[child.pid] = child.create_time()
        signum = signal.Signals[self.values["signal"]]
        victims = [process, *children] if self.values["tree"] else [process]
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.send_signal(signum)
                self.killed_pids.append(victim.pid)
        if pid in self.killed_pids:
            self.triggered = True
            ctx.note(
                "process.kill",
                pid=pid,
                signal=self.values["signal"],
                reason=reason,
                at_s=round(at_s, 4),
                killed=list(self.killed_pids),
                descendants=list(self.descendants),
            )

    def _watch(self, ctx: FaultContext, delay_s: float) -> None:
        after_bytes = self.values["after_bytes"]
        roots = self._watch_roots(ctx)
        seen_at: float | None = None
        started: float | None = None
        # Real time on purpose: the watcher races a real subprocess, not the harness clock.
        while not self._stop.is_set():
            pid = _target_pid(ctx.target)
            if pid is not None:
                now = time.monotonic()
                if seen_at is None:
                    seen_at, started = now, _create_time(pid)
                if after_bytes:
                    written = tree_bytes(roots)
                    if written >= after_bytes:
                        self._kill(ctx, pid, f"{written} bytes written >= {after_bytes}", now - seen_at, started)
                        return
                elif now - seen_at >= delay_s:
                    self._kill(ctx, pid, f"instant {delay_s:.4f} s", now - seen_at, started)
                    return
            self._stop.wait(_POLL_S)

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Start the watcher that kills the target; leaving the block stops it (a kill already sent stays sent)."""
        delay_s = ctx.rng.uniform(self.values["min_s"], self.values["max_s"])
        if self.values["after_bytes"] and not self._watch_roots(ctx):
            message = (
                "process.kill.watch_path='' and the scenario gave no watch_roots; "
                "fix: pass watch_path='/dir/being/written' with after_bytes"
            )
            raise FaultParamError(message, fault=self.name, field="watch_path", value="")
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(ctx, delay_s), name="chaos-process-kill", daemon=True
        )
        self._watcher.start()
        try:
            yield
        finally:
            self._stop.set()
            self._watcher.join(timeout=5.0)
            self._await_deaths()
            if not self.triggered:
                ctx.note(
                    "process.kill.not_triggered", delay_s=round(delay_s, 4), after_bytes=self.values["after_bytes"]
                )

    def _await_deaths(self, limit_s: float = 2.0) -> None:
        """Give signalled descendants a moment to die: signal delivery is asynchronous."""
        import psutil

        deadline = time.monotonic() + limit_s
        for pid in self.killed_pids:
            while time.monotonic() < deadline:
                try:
                    if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                        break
                except psutil.Error:
                    break
                time.sleep(0.002)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: the watcher still running, or a descendant of the killed target still alive."""
        import psutil

        residue = []
        if self._watcher is not None and self._watcher.is_alive():
            residue.append("process.kill: the watcher thread is still running")
        for pid in self.descendants:
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(pid)
                same = child.create_time() == self._started.get(pid, child.create_time())
                if same and child.status() != psutil.STATUS_ZOMBIE:
                    residue.append(f"process.kill: descendant pid {pid} ({child.name()}) of the killed target is alive")
        return residue


@hookimpl(trylast=True)
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``process.kill``."""
    registry.register(KillProcess)
