"""Running a black-box command under every armed fault: the machinery behind :meth:`chaos.Chaos.run`.

A trial arms its faults with ``chaos.inject(...)`` blocks and runs the user's command inside them::

    with chaos.inject("disk.full", path=str(cache), target={"kind": "subprocess"}), \\
         chaos.inject("network.reset_peer", proxy="hub", after_bytes=65536):
        result = chaos.run(["hf", "download", "acme/tiny", "--local-dir", str(cache)], hub="hub")
    chaos.settle(result, chaos.verify_hf_cache(cache, repos=["acme/tiny"], hub=chaos_hub))

**How each armed fault reaches the command**, in this order (a fault's class attributes decide, never its name):

1. ``wrap_command`` of every armed fault declaring ``wraps_command``, in ascending ``command_order``: the disk
   namespace (``disk.full``, order 10) wraps the command line first, then the VRAM shim (``vram.exhaust``,
   order 20) adds its environment, which the namespace wrapper passes on. A plugin fault picks its own order.
2. The process starts in its own session (so a timeout reaches all it spawned).
3. Every armed fault declaring ``targets_process`` (``process.kill``: the kill schedule) gets the started
   :class:`subprocess.Popen` in ``ctx.target["popen"]`` for as long as the run lasts.

**The rerun rule.** A run ended by a ``targets_process`` fault that fired (the process was killed) is run again
once when ``rerun="once"`` (the default), as a user re-running their installer would; the fault that killed it
has fired and is not given the rerun's process. ``rerun="never"`` keeps the killed run as the result. The
result's top-level fields are those of the last run; ``runs`` keeps every run.

**Output** is read as it comes and only the last ``tail_bytes`` (8 KiB) of each stream are kept; the trial's
journal gets one ``command.run`` note per run with the exit status, the duration, the faults fired by then and
the last lines of both streams.

**The outcome of a command trial** (:func:`outcome`, applied by :meth:`chaos.Chaos.settle`):

- exit 0 and the steady-state checks found nothing -> ``recovered``;
- anything half-written (a check found a problem) -> ``failed_dirty``, whatever the exit status;
- a non-zero exit with a clean tree and a message on stderr -> ``failed_clean``;
- a non-zero exit with nothing on stderr -> ``failed_dirty`` too: the user is left without a message, which
  ``failed_clean`` requires; so is a run that outlived ``timeout_s`` (a hang, killed by the harness).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from resilience_core.recovery.taxonomy import Outcome

if TYPE_CHECKING:
    from chaos.fault import Fault, FaultContext
    from chaos.trials import Trial

__all__ = [
    "DEFAULT_TAIL_BYTES",
    "DEFAULT_TIMEOUT_S",
    "RERUN_RULES",
    "CommandFailed",
    "CommandResult",
    "CommandRun",
    "forward_env",
    "hub_env",
    "index_env",
    "outcome",
    "proxy_url",
    "run_command",
    "settle",
]

DEFAULT_TAIL_BYTES = 8192
DEFAULT_TIMEOUT_S = 600.0
RERUN_RULES = ("once", "never")
_NOTE_LINES = 40  # lines of each stream's tail written into the journal note
_READ_BYTES = 65536
_DRAIN_S = 5.0  # how long descendants may keep the pipes open once the process is gone
_IDLE_S = 0.05  # a quiet command is looked at this often (exited? past the deadline?)


class CommandFailed(AssertionError):  # a failed trial body, not a harness error: the plugin classifies it
    """A command trial did not recover: ``result`` is the command's, ``problems`` what the checks found."""

    def __init__(self, message: str, *, result: CommandResult, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.result = result
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class CommandRun:
    """One start of the command: its status, duration, output tails and what happened to it."""

    argv: tuple[str, ...]
    returncode: int
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    timed_out: bool
    killed: bool
    fired: tuple[str, ...]  # the armed faults that had fired by the end of this run

    def note(self, index: int, wrapped: Sequence[str]) -> dict[str, Any]:
        """The journal note of this run."""
        return {
            "run": index,
            "argv": list(self.argv),
            "wrapped": list(wrapped) != list(self.argv),
            "returncode": self.returncode,
            "duration_s": round(self.duration_s, 4),
            "timed_out": self.timed_out,
            "killed": self.killed,
            "fired": list(self.fired),
            "stdout": self.stdout_tail.splitlines()[-_NOTE_LINES:],
            "stderr": self.stderr_tail.splitlines()[-_NOTE_LINES:],
        }


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What :meth:`chaos.Chaos.run` did. Top-level fields are the last run's, except ``duration_s`` (all runs),
    ``killed`` (any run was killed by a fault) and ``fired`` (every fault that fired in any run)."""

    argv: tuple[str, ...]
    returncode: int
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    timed_out: bool
    killed: bool
    fired: tuple[str, ...]
    runs: tuple[CommandRun, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the last run exited 0 in time."""
        return self.returncode == 0 and not self.timed_out

    @property
    def message(self) -> str:
        """The last non-empty line the command wrote to stderr ('' when it wrote none)."""
        lines = [line.strip() for line in self.stderr_tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def outcome(self, problems: Sequence[str] = ()) -> Outcome:
        """The outcome rule (see the module doc) for this result and the steady-state ``problems``."""
        return outcome(self, problems)


def outcome(result: CommandResult, problems: Sequence[str] = ()) -> Outcome:
    """``recovered``, ``failed_clean`` or ``failed_dirty`` for a command trial (the rule in the module doc)."""
    if problems or result.timed_out:
        return Outcome.FAILED_DIRTY
    if result.ok:
        return Outcome.RECOVERED
    return Outcome.FAILED_CLEAN if result.message else Outcome.FAILED_DIRTY


def settle(trial: Trial, result: CommandResult, problems: Sequence[str] = ()) -> Outcome:
    """Apply the outcome rule to ``trial`` in the terms :func:`chaos.trials.classify` reads, and return it.

    ``recovered``: nothing to do. ``failed_dirty``: the problems (or, for a silent failure, that the command
    left no message) become the trial's residue and CommandFailed is raised. ``failed_clean``: the command's
    last stderr line becomes the trial's user message and CommandFailed is raised. The pytest plugin then
    classifies the trial as usual (residue -> failed_dirty, a body error -> failed_clean).
    """
    found = list(problems)
    trial.note("command.verify", {"problems": found, "returncode": result.returncode, "fired": list(result.fired)})
    decided = outcome(result, found)
    if decided == Outcome.RECOVERED:
        return decided
    status = "timed out" if result.timed_out else f"exited {result.returncode}"
    command = " ".join(result.argv)
    if decided == Outcome.FAILED_DIRTY:
        if found:
            residue = found
        elif result.timed_out:
            residue = [f"command {command!r} timed out after {result.duration_s:.1f} s: it hung and was killed"]
        else:
            residue = [f"command {command!r} {status} and wrote nothing to stderr: the user gets no message"]
        trial.residue.extend(f"command: {item}" for item in residue)
        raise CommandFailed(f"{command!r} {status}; left: {'; '.join(residue)}", result=result, problems=found)
    trial.user_message = result.message
    raise CommandFailed(f"{command!r} {status}: {result.message}", result=result, problems=found)


# -- routing -----------------------------------------------------------------------------------------------------

# Inherited variables that would send a client elsewhere than the served hub / index, or read the machine's state.
_HUB_DROPPED = (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "TRANSFORMERS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
)
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def proxy_url(listen: str, *, path: str = "") -> str:
    """``http://host:port`` + ``path`` for a proxy's ``listen`` address (a wildcard host becomes 127.0.0.1).

    >>> proxy_url("[::]:8080", path="/simple/")
    'http://127.0.0.1:8080/simple/'
    """
    from chaos.proxy.addresses import split_host_port

    host, port = split_host_port(listen)
    if host in ("", "::", "0.0.0.0"):  # noqa: S104  # a wildcard bind is dialled on loopback
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def _host_of(url: str) -> str:
    import urllib.parse

    return urllib.parse.urlsplit(url).hostname or ""


def _no_proxy(env: dict[str, str], url: str) -> None:
    """Keep a loopback target off any HTTP proxy the machine configures (a CI's corporate proxy)."""
    host = _host_of(url)
    if host not in _LOOPBACK_NAMES and not host.startswith("127."):
        return
    for key in ("NO_PROXY", "no_proxy"):
        names = [name for name in env.get(key, "").split(",") if name]
        names.extend(name for name in (*_LOOPBACK_NAMES, host) if name not in names)
        env[key] = ",".join(names)


def forward_env(url: str) -> dict[str, str]:
    """What :meth:`chaos.proxy.ProxyHandle.proxy_env` gives for a forward proxy at ``url`` (for a proxy known
    only by its address, over REST): both cases of ``HTTPS_PROXY``/``HTTP_PROXY`` and an empty ``NO_PROXY``."""
    names = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
    return {**dict.fromkeys(names, url), "NO_PROXY": "", "no_proxy": ""}


def hub_env(url: str, *, hf_home: str | os.PathLike[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables that point huggingface_hub (library and ``hf`` CLI) at the hub ``url``, and those to drop.

    ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET=1`` (the local hub speaks plain HTTP), telemetry, progress bars and
    implicit tokens off, ``HF_HOME`` (so the cache, the token and the locks are the trial's own).
    """
    env = {
        "HF_ENDPOINT": url.rstrip("/"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_ETAG_TIMEOUT": "10",
        "HF_HOME": os.fspath(hf_home),
    }
    return env, _HUB_DROPPED


def index_env(url: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables that make pip install from the index ``url`` only, and the prefix of those to drop.

    ``PIP_INDEX_URL``, ``PIP_TRUSTED_HOST`` (plain HTTP), ``PIP_NO_CACHE_DIR`` (every trial downloads),
    ``PIP_CONFIG_FILE=os.devnull`` (pip then reads no pip.conf at all: ``--isolated`` semantics, so the machine's
    config cannot add an index), no version check, no prompts. Every inherited ``PIP_*`` variable is dropped
    (a ``PIP_EXTRA_INDEX_URL`` would add an index as surely as a pip.conf).
    """
    env = {
        "PIP_INDEX_URL": url,
        "PIP_TRUSTED_HOST": _host_of(url),
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    return env, ("PIP_",)


def routed_env(
    base: Mapping[str, str],
    *,
    hub_url: str | None,
    index_url: str | None,
    hf_home: str | os.PathLike[str],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``base`` routed to ``hub_url`` and ``index_url`` (either may be None), then ``extra`` on top."""
    env = dict(base)
    if hub_url is not None:
        values, dropped = hub_env(hub_url, hf_home=hf_home)
        for key in dropped:
            env.pop(key, None)
        env.update(values)
        _no_proxy(env, hub_url)
    if index_url is not None:
        values, prefixes = index_env(index_url)
        for key in [key for key in env if key.startswith(prefixes)]:
            del env[key]
        env.update(values)
        _no_proxy(env, index_url)
    env.update(extra or {})
    return env


# -- running ---------------------------------------------------------------------------------------------------


# Terminal escapes: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), other escapes (ESC, intermediates,
# final); and the C0 controls but \t \n \r.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)


class _Tail:
    """The last ``limit`` bytes of one stream."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data = bytearray()

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > 2 * self._limit:
            del self._data[: len(self._data) - self._limit]

    def text(self) -> str:
        """The tail as text, without terminal escape sequences (colours, cursor moves: tools such as the ``hf``
        CLI write them), which would otherwise reach the journal and the reports."""
        data = bytes(self._data[-self._limit :]) if self._limit else b""
        return _ESCAPES.sub("", data.decode("utf-8", errors="replace"))


def _feed(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError, ValueError):
        stream.write(data)
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class _Armed:
    """One armed fault and its context, as :class:`chaos.Chaos` keeps them while their block runs."""

    fault: Fault
    ctx: FaultContext


def command_faults(armed: Sequence[_Armed]) -> tuple[list[_Armed], list[_Armed]]:
    """The armed faults that wrap the command (in ``command_order``) and those given its process."""
    wrappers = sorted((a for a in armed if type(a.fault).wraps_command), key=lambda a: type(a.fault).command_order)
    targeted = [a for a in armed if type(a.fault).targets_process]
    return wrappers, targeted


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    armed: Sequence[_Armed],
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    input: bytes | str | None = None,  # noqa: A002  # the name subprocess.run uses
    rerun: str = "once",
    tail_bytes: int = DEFAULT_TAIL_BYTES,
    on_run: Callable[[int, CommandRun, list[str]], None] | None = None,
) -> CommandResult:
    """Run ``argv`` with every fault in ``armed`` applied (see the module doc); the rerun rule follows a kill."""
    if rerun not in RERUN_RULES:
        raise ValueError(f"rerun={rerun!r} is not a rerun rule; fix: use one of {', '.join(RERUN_RULES)}")
    if not argv or not all(isinstance(arg, str | os.PathLike) for arg in argv):
        raise ValueError(f"argv={list(argv)!r} must be a non-empty list of strings; fix: e.g. ['sh', 'install.sh']")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s={timeout_s!r} must be > 0; fix: e.g. timeout_s=600")
    command = [os.fspath(arg) for arg in argv]
    data = input.encode() if isinstance(input, str) else input
    runs: list[CommandRun] = []
    spent: set[int] = set()  # ids of process-targeting faults that fired: not given a rerun's process
    fired_any: list[str] = []
    while True:
        wrappers, targeted = command_faults(armed)
        wrapped, full_env = list(command), dict(env)
        for item in wrappers:
            wrapped, full_env = item.fault.wrap_command(wrapped, full_env)
        given = [item for item in targeted if id(item.fault) not in spent]
        before = {id(item.fault): item.fault.fired_now() for item in given}
        run = _run_once(
            command, wrapped, full_env, cwd=cwd, timeout_s=timeout_s, data=data, tail_bytes=tail_bytes, given=given
        )
        fired = [item.fault.name for item in armed if item.fault.fired_now()]
        killers = [item for item in given if item.fault.fired_now() and not before[id(item.fault)]]
        killed = bool(killers) and run.returncode != 0
        run = CommandRun(
            tuple(command), run.returncode, run.duration_s, run.stdout_tail, run.stderr_tail, run.timed_out,
            killed, tuple(fired),
        )  # fmt: skip
        runs.append(run)
        fired_any.extend(name for name in fired if name not in fired_any)
        if on_run is not None:
            on_run(len(runs) - 1, run, wrapped)
        spent.update(id(item.fault) for item in killers)
        if not (killed and rerun == "once" and len(runs) == 1):
            break
    last = runs[-1]
    return CommandResult(
        argv=tuple(command),
        returncode=last.returncode,
        duration_s=sum(r.duration_s for r in runs),
        stdout_tail=last.stdout_tail,
        stderr_tail=last.stderr_tail,
        timed_out=last.timed_out,
        killed=any(r.killed for r in runs),
        fired=tuple(fired_any),
        runs=tuple(runs),
    )


def _run_once(
    command: list[str],
    wrapped: list[str],
    env: dict[str, str],
    *,
    cwd: str | os.PathLike[str] | None,
    timeout_s: float,
    data: bytes | None,
    tail_bytes: int,
    given: Sequence[_Armed],
) -> CommandRun:
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            wrapped,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:  # no such program, not executable: the run failed, and says why
        message = f"cannot start {command[0]!r}: {error.strerror or error}"
        return CommandRun(tuple(command), 127, time.monotonic() - started, "", message, False, False, ())
    if data is not None and process.stdin is not None:
        threading.Thread(target=_feed, args=(process.stdin, data), name="chaos-command-input", daemon=True).start()
    for item in given:
        item.ctx.target["popen"] = process
    try:
        out, err, timed_out = _collect(process, started + timeout_s, tail_bytes)
    finally:
        for item in given:
            if item.ctx.target.get("popen") is process:
                del item.ctx.target["popen"]
    return CommandRun(
        tuple(command), int(process.returncode), time.monotonic() - started, out, err, timed_out, False, ()
    )


def _collect(process: subprocess.Popen[bytes], deadline: float, tail_bytes: int) -> tuple[str, str, bool]:
    """Read both pipes into their tails until EOF (in this thread: no reader threads, no polling while output
    flows), then reap the process; past ``deadline`` its whole session is killed (``timed_out``). A descendant
    that keeps the pipes open after the process exited gets ``_DRAIN_S`` seconds, then its session is killed."""
    assert process.stdout is not None  # PIPE was requested
    assert process.stderr is not None
    tails = {process.stdout.fileno(): _Tail(tail_bytes), process.stderr.fileno(): _Tail(tail_bytes)}
    timed_out = False
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in tails:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                _kill_group(process.pid)
                break
            if exited_at is not None and now - exited_at >= _DRAIN_S:
                _kill_group(process.pid)  # a descendant still holds the pipes open
                break
            for key, _events in selector.select(min(deadline - now, _IDLE_S)) or ():
                chunk = os.read(key.fd, _READ_BYTES)
                if chunk:
                    tails[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
            if exited_at is None and process.poll() is not None:
                exited_at = time.monotonic()
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # it closed its pipes but runs on past the deadline
        timed_out = True
        _kill_group(process.pid)
        process.wait()
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    out, err = (tail.text() for tail in tails.values())
    return out, err, timed_out
