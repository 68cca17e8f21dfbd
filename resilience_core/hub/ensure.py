"""``models ensure``: make one revision of a repository present and verified, whatever the network does.

Steps, each through :meth:`Runtime.run` so every failure is categorized and recovered the same way:

1. resolve the revision on the first source (``model_download``; mirror fallback, retries);
2. check the files already on disk against the published hashes (``model_validation``; a corrupt file is
   repaired: removed, then fetched again);
3. preflight: enough free disk for what is missing (``model_download``; an ``ENOSPC`` here lets the disk
   strategy clean up before anything is written);
4. download each missing file with Range resume and verify it before it becomes visible (``model_download``);
5. publish: snapshot symlinks, ``refs/<revision>``, ``trees/<commit>.json`` (huggingface_hub's layout).

Bytes that crossed the wire are never fetched twice: a reset resumes from the partial file (also after a
``kill -9``), a partial is trusted only while its recorded ETag matches, and a lock (bounded wait, shared
with huggingface_hub) keeps two processes off the same blob.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from resilience_core.errors import ConfigError, InputError, RecoveryFailed
from resilience_core.hub.errors import ModelNotFoundError
from resilience_core.hub.layout import Layout, default_cache_dir
from resilience_core.hub.metadata import RepoPlan, hub_token, resolve_repo, validate_repo_id, validate_revision
from resilience_core.hub.strategies import (
    RESUMABLE_FAILURE_TYPES,
    HubDiskStrategy,
    HubSourceStrategy,
    Progress,
    QuarantineRepairStrategy,
    ResumeStrategy,
)
from resilience_core.hub.transfer import PART_SUFFIX, RemoteFile, download_blob, partial_paths
from resilience_core.hub.verify import check_file
from resilience_core.recovery.taxonomy import FailureType

if TYPE_CHECKING:
    from resilience_core.recovery.runtime import Runtime
    from resilience_core.recovery.strategies.plan import PlanSpec

__all__ = ["EnsureResult", "ensure_model", "hub_runtime"]

_DEFAULT_ENDPOINT = "https://huggingface.co"
_SOURCE_TYPES = (*RESUMABLE_FAILURE_TYPES, FailureType.MODEL_DOWNLOAD_FAILURE)


@dataclass(frozen=True, slots=True)
class EnsureResult:
    """What :func:`ensure_model` did.

    ``path`` is the folder to load from (the snapshot, or the local_dir); ``endpoint`` the source that served
    the metadata; ``repaired`` the files found corrupt on disk and fetched again; ``resumed_files`` how many
    downloads continued from a partial file left by an earlier attempt or process.
    """

    repo_id: str
    revision: str
    commit: str
    path: Path
    endpoint: str
    files: int
    total_bytes: int
    downloaded_bytes: int
    reused_bytes: int
    resumed_files: int
    repaired: tuple[str, ...]


def _check_sources(sources: Sequence[str] | str | None) -> list[str]:
    if sources is None:
        return [os.environ.get("HF_ENDPOINT", _DEFAULT_ENDPOINT).rstrip("/")]
    if isinstance(sources, str):
        sources = [sources]
    checked: list[str] = []
    for index, url in enumerate(sources):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) < 10:
            raise ConfigError(
                f"sources[{index}]={url!r} is not a hub URL; give http(s)://host[:port] of a hub or mirror",
                field=f"sources[{index}]",
                value=url,
                source="argument",
                allowed="http:// or https:// URLs",
            )
        if url.rstrip("/") not in checked:
            checked.append(url.rstrip("/"))
    if not checked:
        raise ConfigError(
            "sources=[] names no hub; give at least one URL such as 'https://huggingface.co'",
            field="sources",
            value=list(sources),
            source="argument",
            allowed="a non-empty list of URLs",
        )
    return checked


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(
            f"{name}={value!r} must be a number of seconds > 0 (no unbounded waits)",
            field=name,
            value=value,
            source="argument",
            allowed="> 0",
        )
    return float(value)


def hub_runtime(runtime: Runtime | None = None) -> Runtime:
    """``runtime`` (or a new default one) with the hub strategies (``hub-resume``, ``hub-source``) registered."""
    from resilience_core.recovery.runtime import Runtime

    rt = runtime if runtime is not None else Runtime()
    names = rt.strategies
    if "hub-resume" not in names:
        rt.register(ResumeStrategy())
    if "hub-source" not in names:
        rt.register(HubSourceStrategy(switch_after_failures=rt.config.recovery.source_switch_after_failures))
    if "hub-repair" not in names:
        rt.register(QuarantineRepairStrategy())
    if "hub-disk" not in names:
        rt.register(HubDiskStrategy(stale_age_s=rt.config.recovery.stale_lock_age_seconds))
    return rt


def _hub_plan(rt: Runtime) -> PlanSpec:
    """This runtime's plan with the hub strategies first: resume and per-call sources for network-type
    failures, quarantine-and-refetch for checksum mismatches."""
    # The built-in "source" would switch to the config's mirrors; hub-source already covers them (see sources).
    ours = ("hub-resume", "hub-source", "hub-repair", "hub-disk", "source")
    plan: dict[FailureType | str, tuple[str, ...] | list[str]] = {}
    for failure_type in _SOURCE_TYPES:
        names = [s.name for s in rt.strategies_for(failure_type) if s.name not in ours]
        plan[failure_type] = ("hub-resume", "hub-source", *names)
    for failure_type in (FailureType.MODEL_INTEGRITY_FAILURE, FailureType.MODEL_CORRUPTION_DETECTED):
        names = [s.name for s in rt.strategies_for(failure_type) if s.name not in ours]
        plan[failure_type] = ("hub-repair", *names)
    disk = FailureType.STORAGE_SPACE_INSUFFICIENT
    plan[disk] = ("hub-disk", *[s.name for s in rt.strategies_for(disk) if s.name not in ours])
    return plan


@contextlib.contextmanager
def _blob_lock(path: Path, timeout_s: float) -> Iterator[None]:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, timeout=timeout_s):
        yield


def _resolve_url(endpoint: str, repo_id: str, commit: str, path: str) -> str:
    return f"{endpoint.rstrip('/')}/{repo_id}/resolve/{commit}/{quote(path)}"


def _free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _drop_foreign_partials(layout: Layout, plan: RepoPlan, stale_lock_age_s: float) -> None:
    """Remove huggingface_hub's orphaned temp files and our partials for ETags this revision does not have.

    Only files whose blob lock nobody holds: another process may be downloading another revision right now.
    """
    from resilience_core.hub.maintenance import gc, unless_locked

    if layout.local_dir is not None or not layout.blobs_dir.is_dir():
        return
    wanted = {f.etag for f in plan.files}
    for path in sorted(layout.blobs_dir.iterdir()):
        etag = path.name.split(".")[0]
        if path.name.endswith((PART_SUFFIX, PART_SUFFIX + ".json")) and etag not in wanted:
            with unless_locked(layout.locks_dir / f"{etag}.lock") as free:
                if free:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
    # Last, so the lock files the checks above touched are swept too.
    gc(layout.cache_dir, repo_id=plan.repo_id, keep_partials=True, lock_older_than_s=stale_lock_age_s)


def ensure_model(
    repo_id: str,
    revision: str = "main",
    *,
    sources: Sequence[str] | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    runtime: Runtime | None = None,
    timeout_s: float = 10.0,
    lock_timeout_s: float = 60.0,
    reserve_bytes: int = 64 << 20,
    token: str | bool | None = None,
    quick_check: bool = False,
) -> EnsureResult:
    """Make ``repo_id@revision`` present and verified; download only what is missing or corrupt.

    ``sources``: the hub first, then mirrors (default ``$HF_ENDPOINT`` or huggingface.co); the runtime
    switches to the next after repeated network failures. ``timeout_s`` bounds every socket operation and
    metadata call, ``lock_timeout_s`` the wait for another process downloading the same file. ``quick_check``
    trusts files already on disk whose size matches (default: hash them). ``token``: by default (``None``)
    huggingface_hub's own token (``HF_TOKEN``, else the one ``hf auth login`` stored), sent to the hub and never
    to a CDN it redirects to; a string is sent as is; ``False`` sends none.

    Everything the hub answers is checked before it names a file: a path with ``..``, an absolute path, a
    backslash or a NUL, an oid that is not hex, a non-commit sha raise one
    :class:`~resilience_core.errors.InputError` naming the field and the value, and nothing is written outside
    ``cache_dir`` (or ``local_dir``).

    The result loads offline with ``snapshot_download(repo_id, revision=..., local_files_only=True)``.

    >>> result = ensure_model("acme/wan-mini", "main", sources=[hub_url, mirror_url],
    ...                       cache_dir=cache)  # doctest: +SKIP
    >>> result.path  # doctest: +SKIP
    PosixPath('.../models--acme--wan-mini/snapshots/17a5...')
    """
    validate_repo_id(repo_id)
    validate_revision(revision)
    endpoints = _check_sources(sources)
    secret = hub_token(token)
    auth = {"Authorization": f"Bearer {secret}"} if secret else {}
    timeout_s = _check_positive("timeout_s", timeout_s)
    lock_timeout_s = _check_positive("lock_timeout_s", lock_timeout_s)
    rt = hub_runtime(runtime)
    all_sources = list(endpoints)
    if sources is None:  # explicit sources are the whole list; the config's mirrors extend only the default
        all_sources += [s.rstrip("/") for s in rt.config.recovery.alternative_sources if s.rstrip("/") not in endpoints]
    layout = Layout(
        Path(cache_dir) if cache_dir is not None else default_cache_dir(),
        repo_id,
        Path(local_dir) if local_dir is not None else None,
    )
    net_plan = _hub_plan(rt)

    def resolve(*, endpoint: str, **_: object) -> RepoPlan:
        return resolve_repo(repo_id, revision, endpoint=endpoint, timeout_s=timeout_s, token=secret or False)

    params: dict[str, Any] = {"endpoint": all_sources[0], "sources": all_sources, "progress": Progress()}
    try:
        plan = rt.run(resolve, operation="model_download", params=params, plan=net_plan)
    except RecoveryFailed as failed:
        cause = failed.__cause__
        if isinstance(cause, (ModelNotFoundError, InputError)):
            # Bad input, or a hostile answer: the error naming the field is the clear one (nothing was written).
            raise cause from cause.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else "no detail"
        message = (
            f"{failed.user_message} Could not resolve {repo_id}@{revision} on {', '.join(all_sources)} ({detail})."
        )
        raise RecoveryFailed(failed.context, replace(failed.result, user_message=message)) from cause
    endpoint = plan.endpoint

    # Files already present: verified against the published hash; a corrupt one is removed (repair).
    missing: list[RemoteFile] = []
    repaired: list[str] = []
    reused = 0

    checked: set[str] = set()

    def check_existing(remote: RemoteFile) -> bool:
        if remote.path in checked:
            repaired.append(remote.path)  # a second look means hub-repair removed it after a mismatch
        checked.add(remote.path)
        path = layout.present(plan.commit, remote)
        if path is None:
            return False
        check_file(path, remote, quick=quick_check)
        return True

    for remote in plan.files:
        with _input_errors_raised():
            present = rt.run(check_existing, remote, operation="model_validation", plan=net_plan)
        if present:
            reused += remote.size_bytes
        else:
            missing.append(remote)

    if missing:
        # Orphans first: on a disk they filled, the small metadata writes below would meet ENOSPC unrecovered.
        _drop_foreign_partials(layout, plan, rt.config.recovery.stale_lock_age_seconds)
        layout.write_tree(plan.commit, plan.files, plan.blob_ids)
        layout.write_ref(revision, plan.commit)

    wanted_partials = {p.name for r in missing for p in partial_paths(layout.blob(r))}
    disk_params: dict[str, Any] = {
        "cleanup_roots": [os.fspath(layout.storage), os.fspath(layout.locks_dir)],
        "keep": lambda path: path.name in wanted_partials,
        "bytes_needed": 0,
    }

    def preflight(**_: object) -> None:
        have = sum(partial_paths(layout.blob(r))[0].stat().st_size for r in missing if _has_partial(layout, r))
        needed = sum(r.size_bytes for r in missing) - have
        free = _free_bytes(layout.blobs_dir)
        if needed + reserve_bytes > free:
            raise OSError(
                errno.ENOSPC,
                f"No space left on device: {repo_id}@{revision} needs {needed} bytes (+{reserve_bytes} reserve) "
                f"in {layout.blobs_dir}, {free} free; free some space or choose another cache_dir",
                os.fspath(layout.blobs_dir),
            )

    if missing:
        disk_params["bytes_needed"] = sum(r.size_bytes for r in missing) + reserve_bytes
        with _input_errors_raised():
            rt.run(preflight, operation="model_download", params=disk_params, plan=net_plan)

    downloaded = 0
    resumed = 0
    working = [endpoint]  # the source that served the last file: the next file starts there
    for remote in missing:
        progress = Progress()

        def fetch(*, endpoint: str, progress: Progress, remote: RemoteFile = remote, **_: object) -> int:
            with _blob_lock(layout.lock(remote), lock_timeout_s):
                if layout.present(plan.commit, remote) is not None:
                    return 0
                stats = download_blob(
                    _resolve_url(endpoint, repo_id, plan.commit, remote.path),
                    layout.blob(remote),
                    remote,
                    timeout_s=timeout_s,
                    headers=auth,
                    on_bytes=progress.add,
                )
                layout.publish(plan.commit, remote)
                working[0] = endpoint
                return 1 if stats.resumed_from_bytes else 0

        params = {**disk_params, "endpoint": working[0], "sources": all_sources, "progress": progress}
        params["bytes_needed"] = remote.size_bytes + reserve_bytes
        try:
            with _input_errors_raised():
                resumed += rt.run(fetch, operation="model_download", params=params, plan=net_plan)
        except RecoveryFailed as error:
            if error.context.failure_type is FailureType.STORAGE_SPACE_INSUFFICIENT:
                # A partial on a full disk only keeps it full; network failures keep theirs to resume.
                for path in partial_paths(layout.blob(remote)):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            raise
        downloaded += progress.written_bytes

    for remote in plan.files:
        if remote not in missing and layout.local_dir is None:
            layout.publish(plan.commit, remote)
    layout.write_tree(plan.commit, plan.files, plan.blob_ids)
    layout.write_ref(revision, plan.commit)
    return EnsureResult(
        repo_id=repo_id,
        revision=revision,
        commit=plan.commit,
        path=layout.snapshot_dir(plan.commit),
        endpoint=endpoint,
        files=len(plan.files),
        total_bytes=plan.total_bytes,
        downloaded_bytes=downloaded,
        reused_bytes=reused,
        resumed_files=resumed,
        repaired=tuple(repaired),
    )


@contextlib.contextmanager
def _input_errors_raised() -> Iterator[None]:
    """A hostile name or document (an InputError, not retried) surfaces as itself: it names the field and value."""
    try:
        yield
    except RecoveryFailed as failed:
        cause = failed.__cause__
        if isinstance(cause, InputError):
            raise cause from cause.__cause__
        raise


def _has_partial(layout: Layout, remote: RemoteFile) -> bool:
    return partial_paths(layout.blob(remote))[0].is_file()
