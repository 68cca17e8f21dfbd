"""Crash recovery for the snapshot store: restore journals, and what killed processes left behind (private).

Private to resilience_core: :class:`~resilience_core.state.snapshot.StateStore` mixes this in. A restore journals
each root before staging it (``pending/restore-<token>.json``, sealed like a manifest); ``recover()`` acts only on
journals whose seal and fields check out, and only on the two names a restore of that target could have made
beside it. Anything else it finds is removed without being acted on.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience_core.errors import IntegrityError
from resilience_core.state._fs import pid_alive, remove_tree
from resilience_core.state._manifest import RootPolicy, require
from resilience_core.state._seal import parse, read_sealed, verify
from resilience_core.state.atomic import publish_file

try:
    import fcntl
except ImportError:  # Windows has no flock; StateStore refuses to start there, importing must still work
    fcntl = None  # type: ignore[assignment]  # only the POSIX branch is type-checked

__all__ = ["JOURNAL_SCHEMA", "RecoverMixin", "Swap", "sibling_names"]

_log = logging.getLogger("resilience_core.state.snapshot")
JOURNAL_SCHEMA = "resilience-core/restore-journal@1"
_TOKEN = re.compile(r"[0-9]{1,10}-[0-9a-f]{8}")
_PARTIAL = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}\.([0-9]{1,10})\.partial")
_DELETING = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}\.deleting")
_MAX_PID = 2**31 - 1


@dataclass(slots=True)
class Swap:
    """One root of a restore in progress: where it is staged, where the old tree goes, and its journal."""

    kind: str
    target: str
    staging: str
    old: str
    journal: Path
    record: dict[str, Any]
    swapped: bool = False


def sibling_names(target: str, token: str) -> tuple[str, str]:
    parent, name = os.path.split(target)
    return os.path.join(parent, f".{name}.restore-{token}"), os.path.join(parent, f".{name}.old-{token}")


class RecoverMixin:
    """The recovery side of StateStore."""

    root: Path
    durable: bool
    _key: bytes
    _policy: RootPolicy

    def _locked(self, mode: int) -> Any:  # provided by StateStore
        raise NotImplementedError

    def recover(self) -> builtins.list[str]:
        """Finish or undo what killed processes left: restores mid-swap, partial snapshots, half deletions.

        Runs on construction; safe to call any time (entries of live processes are left alone). Journals whose
        seal or fields do not check out are removed without acting on them. Returns what it did, one line per
        action.
        """
        actions: list[str] = []
        with self._locked(fcntl.LOCK_EX | fcntl.LOCK_NB) as acquired:
            if not acquired:
                return actions  # a live process is restoring or pruning right now
            for journal in sorted((self.root / "pending").glob("restore-*.json")):
                try:
                    pid, target, token, phase = self._read_journal(journal)
                except IntegrityError as error:
                    _log.warning("removing an unusable restore journal (not acted on): %s", error)
                    journal.unlink(missing_ok=True)
                    continue
                if pid_alive(pid):
                    continue
                staging, old = sibling_names(target, token)
                if phase == "swapping" and not os.path.lexists(target):
                    source = staging if os.path.lexists(staging) else old
                    if os.path.lexists(source):
                        publish_file(source, target, durable=self.durable)
                        actions.append(f"rolled {target} forward from {source}")
                for leftover in (staging, old):
                    if os.path.lexists(leftover):
                        remove_tree(leftover)
                        actions.append(f"removed {leftover}")
                journal.unlink(missing_ok=True)
            for item in (self.root / "tmp").iterdir():
                partial = _PARTIAL.fullmatch(item.name)
                stale = _DELETING.fullmatch(item.name) is not None
                if partial is not None:
                    pid = int(partial.group(1))
                    stale = not 0 < pid <= _MAX_PID or not pid_alive(pid)
                if stale:
                    remove_tree(str(item))
                    actions.append(f"removed {item}")
        return actions

    def _read_journal(self, journal: Path) -> tuple[int, str, str, str]:
        """(pid, target, token, phase) of a sealed restore journal; IntegrityError naming it otherwise."""
        where = f"pending/{journal.name}"
        record = parse(verify(read_sealed(journal, where), self._key, where)[1], where)
        require(type(record) is dict and record.get("schema") == JOURNAL_SCHEMA, f"{where}: not a journal", where)
        pid, target, token, phase = (record.get(k) for k in ("pid", "target", "token", "phase"))
        require(type(pid) is int and 0 < pid <= _MAX_PID, f"{where}: pid={pid!r:.40} is not a pid", where)
        problem = self._policy.problem(target)
        require(not problem, f"{where}: target {target!r:.200} {problem}", where)
        require(type(token) is str and _TOKEN.fullmatch(token) is not None, f"{where}: bad token {token!r:.40}", where)
        require(phase in ("staging", "swapping"), f"{where}: phase={phase!r:.40} is unknown", where)
        return pid, target, token, phase
