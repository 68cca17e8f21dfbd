"""The models an installation must have, and the operations the orchestrator runbook runs over them.

A catalog file lists them (TOML or JSON)::

    cache_dir = "/data/models"
    sources = ["https://huggingface.co", "https://hf-mirror.com"]

    [[models]]
    repo_id = "wan-ai/wan-mini-t2v"
    revision = "main"
    critical = true

A model is named ``repo_id@revision`` on the command line and in ``--model-list`` files (one per line, ``#``
comments). Besides :func:`~resilience_core.hub.status`, :func:`~resilience_core.hub.verify_model` and
:func:`~resilience_core.hub.ensure_model`, this module keeps *corruption marks* (``mark-corrupted``: a model an
operator or a failed verify declared unusable until it is ensured again), watches models for the health
endpoint without re-hashing unchanged files, removes a revision's bytes for ``ensure --force-redownload``, and
builds the daily and storage reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience_core.config.loader import read_config_file
from resilience_core.documents import load_json
from resilience_core.errors import ConfigError, InputError
from resilience_core.hub.layout import Layout, default_cache_dir
from resilience_core.hub.maintenance import ModelState, iter_repos, status, unless_locked
from resilience_core.hub.metadata import validate_repo_id, validate_revision
from resilience_core.hub.verify import ModelVerification, verify_model

__all__ = [
    "Catalog",
    "CorruptionMarks",
    "ModelHealth",
    "ModelRef",
    "ModelWatch",
    "daily_report",
    "health_of",
    "parse_model_list",
    "remove_revision",
    "storage_report",
]

_MARKS = ".resilience/corrupted.json"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model of the catalog: ``repo_id@revision``, and whether the installation cannot work without it."""

    repo_id: str
    revision: str = "main"
    critical: bool = True

    @property
    def label(self) -> str:
        """``repo_id@revision``."""
        return f"{self.repo_id}@{self.revision}"

    @classmethod
    def parse(cls, text: str, *, source: str = "argument", critical: bool = True) -> ModelRef:
        """``repo_id[@revision]``; ConfigError naming ``source`` when malformed.

        >>> ModelRef.parse("wan-ai/wan-mini-vae@main").label
        'wan-ai/wan-mini-vae@main'
        """
        repo_id, _, revision = text.strip().partition("@")
        try:
            validate_repo_id(repo_id)
            validate_revision(revision or "main")
        except (ValueError, ConfigError, InputError) as error:
            raise ConfigError(
                f"model {text!r} from {source} is not repo_id@revision ({error}); fix: write it as 'org/name@main'",
                field="model",
                value=text,
                source=source,
                allowed="org/name[@revision]",
            ) from None
        return cls(repo_id, revision or "main", critical)


def parse_model_list(path: str | os.PathLike[str]) -> list[ModelRef]:
    """The models of a ``--model-list`` file: one ``repo_id@revision`` per line, blank lines and ``#`` comments
    ignored."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"model list {os.fspath(file)!r} cannot be read: {error}; fix: pass a text file of repo_id@revision lines",
            field="model_list",
            value=os.fspath(file),
            source=os.fspath(file),
            allowed="a readable text file",
        ) from None
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            refs.append(ModelRef.parse(entry, source=f"{os.fspath(file)}:{number}"))
    return refs


@dataclass(frozen=True, slots=True)
class Catalog:
    """The models this installation needs, where they are cached and where they come from."""

    models: tuple[ModelRef, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)
    sources: tuple[str, ...] = ()
    source: str = "argument"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Catalog:
        """Read a catalog file (``.toml`` or ``.json``); relative ``cache_dir`` is taken from the file's folder."""
        data, source = read_config_file(path, what="catalog", shape=None)
        return cls.from_mapping(data, source=source, base_dir=Path(path).parent)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "argument", base_dir: str | os.PathLike[str] = ".") -> Catalog:
        """Validate parsed catalog data."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"catalog from {source} must be a table", field="<root>", value=data, source=source, allowed="a table"
            )
        unknown = set(data) - {"cache_dir", "sources", "models"}
        if unknown:
            raise ConfigError(
                f"catalog from {source} has unknown keys {sorted(unknown)}; known: cache_dir, sources, models",
                field=sorted(unknown)[0],
                value=data[sorted(unknown)[0]],
                source=source,
                allowed="cache_dir, sources, models",
            )
        models = []
        for index, entry in enumerate(data.get("models", [])):
            where = f"{source} models[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("repo_id"), str):
                raise ConfigError(
                    f"{where} must be a table with repo_id (and revision, critical)",
                    field=f"models[{index}]",
                    value=entry,
                    source=source,
                    allowed="a table with repo_id",
                )
            critical = entry.get("critical", True)
            if not isinstance(critical, bool):
                raise ConfigError(
                    f"{where}.critical={critical!r} must be true or false",
                    field=f"models[{index}].critical",
                    value=critical,
                    source=source,
                    allowed="true or false",
                )
            revision = entry.get("revision", "main")
            models.append(ModelRef.parse(f"{entry['repo_id']}@{revision}", source=where, critical=critical))
        sources = data.get("sources", [])
        if not isinstance(sources, list) or not all(
            isinstance(s, str) and s.startswith(("http://", "https://")) for s in sources
        ):
            raise ConfigError(
                f"{source} sources={sources!r} must be a list of http(s) URLs",
                field="sources",
                value=sources,
                source=source,
                allowed="a list of http(s) URLs",
            )
        cache = data.get("cache_dir")
        if cache is not None and not isinstance(cache, str):
            raise ConfigError(
                f"{source} cache_dir={cache!r} must be a path",
                field="cache_dir",
                value=cache,
                source=source,
                allowed="a path",
            )
        return cls(
            tuple(models),
            Path(base_dir, os.path.expanduser(cache)) if cache else default_cache_dir(),
            tuple(sources),
            source,
        )

    def select(
        self, only: Sequence[ModelRef] = (), *, critical_only: bool = False, include_cache: bool = True
    ) -> list[ModelRef]:
        """The models a command acts on: ``only`` (when given), else the catalog's (and, with
        ``include_cache``, every other revision found in the cache), optionally just the critical ones."""
        if only:
            known = {m.label: m for m in self.models}
            chosen = [known.get(ref.label, ref) for ref in only]
        else:
            chosen = list(self.models)
            if include_cache:
                listed = {m.label for m in chosen}
                for found in status(self.cache_dir):
                    ref = ModelRef(found.repo_id, found.revision, critical=False)
                    if ref.label not in listed and found.state is not ModelState.NOT_INSTALLED:
                        chosen.append(ref)
                        listed.add(ref.label)
        return [m for m in chosen if m.critical or not critical_only]


class CorruptionMarks:
    """Models declared corrupted in ``<cache>/.resilience/corrupted.json`` (written atomically, under a lock)."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.path = Path(cache_dir) / _MARKS
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def marked(self) -> dict[str, dict[str, Any]]:
        """Every mark: ``{label: {"marked": unix_time, "reason": text}}``."""
        try:
            data = load_json(self.path.read_bytes(), source=os.fspath(self.path))
        except (FileNotFoundError, InputError):
            return {}
        return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}

    def _write(self, marks: dict[str, dict[str, Any]]) -> None:
        from resilience_core.state.atomic import atomic_write

        atomic_write(self.path, json.dumps(marks, indent=1, sort_keys=True))

    def mark(self, refs: Iterable[ModelRef], *, reason: str = "marked by an operator") -> list[str]:
        """Mark ``refs`` corrupted; returns their labels."""
        labels = [ref.label for ref in refs]
        with self._locked():
            marks = self.marked()
            for label in labels:
                marks[label] = {"marked": time.time(), "reason": reason}
            self._write(marks)
        return labels

    def clear(self, refs: Iterable[ModelRef]) -> list[str]:
        """Remove the marks of ``refs``; returns the labels that were marked."""
        with self._locked():
            marks = self.marked()
            gone = [ref.label for ref in refs if marks.pop(ref.label, None) is not None]
            if gone:
                self._write(marks)
        return gone


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """One model's health: installed and every file verified, and not marked corrupted."""

    ref: ModelRef
    state: str
    ok: bool
    checked_files: int
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.ref.label,
            "critical": self.ref.critical,
            "state": self.state,
            "ok": self.ok,
            "checked_files": self.checked_files,
            "problems": list(self.problems),
        }


def health_of(ref: ModelRef, verification: ModelVerification, mark: dict[str, Any] | None) -> ModelHealth:
    """Combine a verification and a mark into one :class:`ModelHealth`."""
    if mark is not None:
        return ModelHealth(
            ref, "corrupted", False, verification.checked_files, (f"marked corrupted: {mark.get('reason', '')}",)
        )
    if not verification.installed:
        return ModelHealth(ref, "not_installed", False, 0, ("not installed; run ensure",))
    problems = tuple(f"{m.path}: {m.reason}" for m in verification.report.mismatched)
    problems += tuple(f"{path}: missing" for path in verification.report.missing)
    return ModelHealth(
        ref, "complete" if not problems else "failed", not problems, verification.checked_files, problems
    )


class ModelWatch:
    """Verifies models for a health endpoint, hashing a file again only when its size, mtime or inode changed."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.marks = CorruptionMarks(catalog.cache_dir)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[Any, ...], ModelVerification]] = {}

    def _signature(self, ref: ModelRef) -> tuple[Any, ...]:
        layout = Layout(self.catalog.cache_dir, ref.repo_id)
        commit = layout.read_ref(ref.revision) or ref.revision
        files = layout.read_tree(commit) or {}
        parts: list[Any] = [commit]
        for path in sorted(files):
            try:
                info = layout.visible(commit, path).stat()
            except OSError:
                parts.append((path, None))
                continue
            parts.append((path, info.st_size, info.st_mtime_ns, info.st_ino))
        return tuple(parts)

    def verify(self, ref: ModelRef) -> ModelVerification:
        """``verify_model`` for ``ref``, reused while none of its files changed."""
        signature = self._signature(ref)
        with self._lock:
            cached = self._cache.get(ref.label)
        if cached is not None and cached[0] == signature:
            return cached[1]
        result = verify_model(ref.repo_id, ref.revision, cache_dir=self.catalog.cache_dir)
        with self._lock:
            self._cache[ref.label] = (signature, result)
        return result

    def check(self, refs: Sequence[ModelRef] | None = None) -> list[ModelHealth]:
        """The health of ``refs`` (default: the catalog's models)."""
        marks = self.marks.marked()
        return [
            health_of(ref, self.verify(ref), marks.get(ref.label))
            for ref in (refs if refs is not None else self.catalog.models)
        ]


def remove_revision(ref: ModelRef, cache_dir: str | os.PathLike[str]) -> int:
    """Delete the bytes of ``ref`` (its blobs and snapshot links) so the next ensure downloads them afresh.

    Blobs whose lock somebody holds are left alone. Returns the bytes removed.
    """
    layout = Layout(Path(cache_dir), ref.repo_id)
    commit = layout.read_ref(ref.revision) or ref.revision
    files = layout.read_tree(commit) or {}
    freed = 0
    for remote in files.values():
        with unless_locked(layout.lock(remote)) as free:
            if not free:
                continue
            for path in (layout.visible(commit, remote.path), layout.blob(remote)):
                with contextlib.suppress(FileNotFoundError):
                    if not path.is_symlink():
                        freed += path.stat().st_size
                    path.unlink()
    return freed


def _tree_bytes(root: Path) -> int:
    total = 0
    for base, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def storage_report(cache_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Bytes per repository (blobs, partials), the cache's total, and the filesystem's free space."""
    cache = Path(cache_dir)
    repos = []
    for repo in iter_repos(cache):
        layout = Layout(cache, repo)
        blobs = partial = 0
        if layout.blobs_dir.is_dir():
            for path in layout.blobs_dir.iterdir():
                size = path.lstat().st_size
                if path.name.endswith((".part", ".part.json", ".incomplete")):
                    partial += size
                else:
                    blobs += size
        repos.append({"repo_id": repo, "blob_bytes": blobs, "partial_bytes": partial})
    probe = cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {
        "cache_dir": os.fspath(cache),
        "total_bytes": _tree_bytes(cache) if cache.is_dir() else 0,
        "repos": repos,
        "filesystem": {
            "total_bytes": usage.total,
            "free_bytes": usage.free,
            "used_percent": round(100 * (usage.total - usage.free) / usage.total, 2) if usage.total else 0.0,
        },
    }


def daily_report(
    catalog: Catalog, health: Sequence[ModelHealth], *, alerts: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The runbook's daily report: model states, problems, marks, the last day's alerts, and storage."""
    states: dict[str, int] = {}
    for item in health:
        states[item.state] = states.get(item.state, 0) + 1
    return {
        "generated": time.time(),
        "models": len(health),
        "states": dict(sorted(states.items())),
        "failed": [h.to_dict() for h in health if not h.ok],
        "critical_failed": [h.ref.label for h in health if not h.ok and h.ref.critical],
        "marked_corrupted": sorted(CorruptionMarks(catalog.cache_dir).marked()),
        "alerts_last_24h": list(alerts),
        "storage": storage_report(catalog.cache_dir),
    }
