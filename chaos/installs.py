"""Steady-state checks for installs a black-box command made: a Hugging Face download, a pip install.

Each returns a list of problems, ``[]`` when the install is verified, so it serves as ``chaos.verify(...)``
check and as the ``problems`` of :meth:`chaos.Chaos.settle`::

    problems = verify_hf_cache(tmp_path / "models", repos=["acme/tiny"], hub=chaos_hub)
    problems += verify_pip(tmp_path / "venv", ["wan-app==1.2.0"])

:func:`verify_hf_cache` reads both layouts huggingface_hub writes: the cache (``HF_HUB_CACHE``, or an
``HF_HOME`` holding ``hub/``) and a ``--local-dir``. Against the commit the hub serves for each repo it checks
that every file of that commit present on disk has the hub's bytes (sha256 for LFS files, git-sha1 for the
rest, through :func:`resilience_core.hub.verify.check_file`), that the required files are all there, that no
``*.incomplete`` download is left, that no lock file is still held, and that the revision points at the served
commit (``refs/<revision>`` in the cache, each file's ``.metadata`` in a local dir huggingface_hub wrote; a
plain folder another tool wrote, with no ``.cache/huggingface/download``, is checked by its bytes only).

:func:`verify_pip` checks a ``pip install --target DIR`` folder or a virtual environment: the required versions
are installed, each distribution's files match its ``RECORD`` hashes (a half-written install shows here), no
pip temporary folder (``~name``) is left, and, for a venv, ``pip check`` is clean.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import io
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience_core import InputError, safe_join

if TYPE_CHECKING:
    from chaos.targets import HubServer
    from resilience_core.hub.transfer import RemoteFile

__all__ = ["verify_hf_cache", "verify_pip"]

_INCOMPLETE = ".incomplete"
_HUB_TIMEOUT_S = 30.0
_PIP_CHECK_TIMEOUT_S = 120.0


# -- Hugging Face --------------------------------------------------------------------------------------------


def _served(hub: HubServer | str, repo_id: str, revision: str) -> tuple[str, dict[str, RemoteFile]]:
    """The commit ``revision`` resolves to on ``hub`` and its files (in process for a HubServer, else HTTP)."""
    from resilience_core.hub.transfer import RemoteFile

    if isinstance(hub, str):
        from resilience_core.hub.metadata import resolve_repo

        plan = resolve_repo(repo_id, revision, endpoint=hub, timeout_s=_HUB_TIMEOUT_S, token=False)
        return plan.commit, {remote.path: remote for remote in plan.files}
    repo = hub.generated.repo(repo_id, revision)
    files = {
        path: RemoteFile(path=path, size_bytes=f.size_bytes, etag=f.etag, sha256=f.sha256 if f.lfs else None)
        for path, f in repo.files.items()
    }
    return repo.commit, files


def _cache_root(path: Path, repo_ids: Sequence[str]) -> Path | None:
    """The cache folder under ``path`` (``path`` itself, or ``path/hub`` for an HF_HOME), None for a local dir."""
    for candidate in (path, path / "hub"):
        if any((candidate / ("models--" + repo.replace("/", "--"))).is_dir() for repo in repo_ids):
            return candidate
        if (candidate / ".locks").is_dir():
            return candidate
    return None


def _incomplete_and_locks(root: Path) -> list[str]:
    from chaos.steady_state import lock_is_held

    problems = []
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            where = Path(dirpath, name)
            if name.endswith(_INCOMPLETE):
                problems.append(f"unfinished download left: {where}")
            elif name.endswith(".lock") and lock_is_held(where):
                problems.append(f"lock still held: {where}")
    return problems


def _wanted(files: Mapping[str, RemoteFile], patterns: Sequence[str] | None) -> list[str]:
    if patterns is None:
        return sorted(files)
    return sorted(path for path in files if any(fnmatch.fnmatch(path, pattern) for pattern in patterns))


def _check_bytes(label: str, path: Path, remote: RemoteFile) -> list[str]:
    from resilience_core.hub.verify import ChecksumMismatch, check_file

    try:
        check_file(path, remote)
    except ChecksumMismatch as error:
        return [f"{label}: {error}"]
    except OSError as error:
        return [f"{label}: {remote.path} unreadable: {error.strerror or error}"]
    return []


def _local_dir_metadata(layout: Any, path: str) -> list[str] | None:
    try:
        meta = safe_join(layout.storage / "download", f"{path}.metadata", what="metadata file")
        return meta.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, InputError):
        return None


def verify_hf_cache(
    path: str | os.PathLike[str],
    *,
    repos: Iterable[str | tuple[str, str]],
    hub: HubServer | str,
    files: Sequence[str] | None = None,
) -> list[str]:
    """Problems in the Hugging Face download under ``path`` against what ``hub`` serves; ``[]``: verified.

    ``path``: a cache folder (``HF_HUB_CACHE``), an ``HF_HOME`` (its ``hub/`` is used) or a ``--local-dir``.
    ``repos``: repo ids (revision ``main``) or ``(repo_id, revision)`` pairs. ``hub``: a :class:`HubServer`
    or the hub's URL. ``files``: glob patterns of the files that must be present (default: every file of the
    served commit; ``["config.json"]`` after a single ``hf_hub_download``).
    """
    from resilience_core.hub.layout import Layout

    root = Path(path)
    pairs = [(repo, "main") if isinstance(repo, str) else (repo[0], repo[1]) for repo in repos]
    if not pairs:
        raise ValueError("repos=[] names nothing to verify; fix: repos=['org/name']")
    if not root.is_dir():
        return [f"{root}: no such folder (nothing was downloaded)"]
    cache = _cache_root(root, [repo for repo, _ in pairs])
    problems = _incomplete_and_locks(root)
    for repo_id, revision in pairs:
        label = f"{repo_id}@{revision}"
        commit, served = _served(hub, repo_id, revision)
        layout = Layout(cache_dir=cache or root, repo_id=repo_id, local_dir=None if cache is not None else root)
        if cache is not None:
            ref = layout.read_ref(revision) if revision != commit else commit
            if ref is None:
                problems.append(f"{label}: no refs/{revision} in {layout.storage} (the download never finished)")
                continue
            if ref != commit:
                problems.append(f"{label}: refs/{revision} points at {ref}, the hub serves {commit}")
                continue
        snapshot = layout.snapshot_dir(commit)
        hf_written = (layout.storage / "download").is_dir()  # a local dir huggingface_hub wrote (not curl)
        wanted = set(_wanted(served, files))
        for file_path, remote in sorted(served.items()):
            visible = layout.visible(commit, file_path)
            if not os.path.lexists(visible):
                if file_path in wanted:
                    problems.append(f"{label}: {file_path} is missing")
                continue
            if cache is None and hf_written:
                meta = _local_dir_metadata(layout, file_path)
                if meta is None:
                    problems.append(f"{label}: {file_path} has no download metadata (not written by a finished run)")
                elif meta[:1] != [commit]:
                    problems.append(f"{label}: {file_path} metadata names commit {meta[:1]}, the hub serves {commit}")
            problems.extend(_check_bytes(label, visible, remote))
        if cache is not None and snapshot.is_dir():
            for dirpath, _dirs, names in os.walk(snapshot):
                for name in names:
                    relative = Path(dirpath, name).relative_to(snapshot).as_posix()
                    if relative not in served:
                        problems.append(f"{label}: {relative} in the snapshot is not a file of commit {commit}")
    return problems


# -- pip -----------------------------------------------------------------------------------------------------


def _site_dirs(target: Path) -> tuple[list[Path], Path | None]:
    """The folders distributions are installed in, and the venv's python (None for a ``--target`` folder)."""
    if (target / "pyvenv.cfg").is_file():
        python = target / "bin" / "python"
        sites = sorted((target / "lib").glob("python*/site-packages"))
        return sites, python
    return [target], None


def _record_problems(dist: Any, site: Path) -> list[str]:
    name = dist.metadata["Name"]
    try:
        text = dist.read_text("RECORD")
    except OSError as error:
        return [f"{name}: RECORD unreadable: {error}"]
    if text is None:
        return [f"{name}: no RECORD (a half-written install)"]
    problems = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1]:
            continue  # RECORD itself, .pyc files: listed without a hash
        file, digest = row[0], row[1]
        try:
            where = safe_join(site, file, what=f"{name} RECORD entry")
        except InputError:
            continue  # a file installed outside the folder (a script in bin/): not this folder's to check
        algorithm, _, expected = digest.partition("=")
        try:
            with open(where, "rb") as handle:
                actual = hashlib.file_digest(handle, algorithm).digest()
        except FileNotFoundError:
            problems.append(f"{name}: {file} is missing (listed in RECORD)")
            continue
        except (OSError, ValueError) as error:
            problems.append(f"{name}: {file} unreadable: {error}")
            continue
        if base64.urlsafe_b64encode(actual).rstrip(b"=").decode() != expected:
            problems.append(f"{name}: {file} does not match its RECORD hash (damaged or half-written)")
    return problems


def verify_pip(
    target: str | os.PathLike[str],
    requirements: Iterable[str],
    *,
    pip_check: bool = True,
) -> list[str]:
    """Problems in the pip install at ``target``; ``[]``: verified.

    ``target``: a ``pip install --target`` folder or a virtual environment (it has ``pyvenv.cfg``).
    ``requirements``: ``"name==1.2.0"``-style requirement strings every one of which must be satisfied.
    ``pip_check`` (venvs): also run the venv's ``python -m pip check``.
    """
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    root = Path(target)
    if not root.is_dir():
        return [f"{root}: no such folder (nothing was installed)"]
    sites, python = _site_dirs(root)
    problems: list[str] = []
    installed: dict[str, str] = {}
    for site in sites:
        problems.extend(f"pip temporary folder left: {e}" for e in sorted(site.iterdir()) if e.name.startswith("~"))
        for dist in metadata.distributions(path=[str(site)]):
            name = dist.metadata["Name"]
            if not name:
                problems.append(f"a distribution without a name under {site} (half-written metadata)")
                continue
            installed[canonicalize_name(name)] = dist.version
            problems.extend(_record_problems(dist, site))
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise ValueError(f"requirements: {text!r} is not a requirement ({error}); fix: e.g. 'name==1.0'") from None
        have = installed.get(canonicalize_name(requirement.name))
        if have is None:
            problems.append(f"{requirement.name} is not installed in {root}")
        elif not requirement.specifier.contains(have, prereleases=True):
            problems.append(f"{requirement.name} {have} is installed, {text!r} is required")
    if python is not None and pip_check:
        problems.extend(_pip_check(python))
    return problems


def _pip_check(python: Path) -> list[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "check"],
            capture_output=True,
            text=True,
            timeout=_PIP_CHECK_TIMEOUT_S,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return [f"pip check could not run with {python}: {error}"]
    if done.returncode == 0:
        return []
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return [f"pip check: {line}" for line in lines] or [f"pip check exited {done.returncode}"]
