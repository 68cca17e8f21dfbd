"""Generate a :class:`~chaos.targets.spec.HubSpec` into real files on disk, with the hashes the Hub would report.

Layout under ``root``: ``{repo_type}s/{repo_id}/{commit}/{path}``, plus ``.chaos-targets.json`` so that a second
server over the same root and spec reuses the files instead of writing them again. A reused root is trusted for
nothing but bytes it can prove: names come from the spec, every file must be a regular file inside the root
(no symlink on the way) and hash to what the manifest says, and the commit is recomputed from those hashes;
anything else regenerates the repos.

>>> from chaos.targets.spec import HubSpec, model_repo
>>> import tempfile
>>> hub = generate_repos(HubSpec(repos=(model_repo("acme/tiny", shards=1, shard_size_bytes=4096),)), tempfile.mkdtemp())
>>> hub.file("acme/tiny", "diffusion_pytorch_model.safetensors").size_bytes
4096
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import TargetError
from chaos.targets.content import SafetensorsPlan, file_chunks, plan_safetensors
from chaos.targets.spec import FileSpec, HubSpec, RepoSpec, path_problem, resolved_kind, torch_dtype_name
from resilience_core import InputError, atomic_write, is_beneath, load_json, publish_file, safe_join

__all__ = ["GeneratedFile", "GeneratedHub", "GeneratedRepo", "generate_repos"]

_GENERATOR_VERSION = 2  # 2: safetensors without a filler tensor, config.json's torch_dtype from the weights
_LFS_KINDS = frozenset({"bytes", "safetensors"})
_LFS_THRESHOLD_BYTES = 10 << 20
_MANIFEST = ".chaos-targets.json"
_MAX_MANIFEST_BYTES = 64 << 20
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """One file as served: where it lies on disk and the hashes the Hub reports for it."""

    repo_id: str
    repo_type: str
    path: str
    local_path: Path
    size_bytes: int
    sha256: str
    git_sha1: str  # git blob sha1 of the content
    lfs: bool

    @property
    def etag(self) -> str:
        """The ETag the Hub sends (the blob name in the client cache): sha256 for LFS files, else git sha1."""
        return self.sha256 if self.lfs else self.git_sha1

    @property
    def lfs_pointer(self) -> bytes:
        """The git-lfs pointer file that stands in the git tree for an LFS file."""
        spec_line = "version https://git-lfs.github.com/spec/v1\n"
        return f"{spec_line}oid sha256:{self.sha256}\nsize {self.size_bytes}\n".encode()

    @property
    def oid(self) -> str:
        """The tree-listing ``oid``: git sha1 of the blob (of the LFS pointer for LFS files)."""
        return _git_blob_sha1(self.lfs_pointer) if self.lfs else self.git_sha1

    def read_bytes(self) -> bytes:
        """The exact bytes a client must end up with."""
        return self.local_path.read_bytes()


@dataclass(frozen=True, slots=True)
class GeneratedRepo:
    """One commit of a repo: its sha, the revision names pointing at it, its files by path."""

    repo_id: str
    repo_type: str
    commit: str
    revisions: tuple[str, ...]
    files: Mapping[str, GeneratedFile]

    @property
    def directories(self) -> tuple[str, ...]:
        """Every folder that holds a file, sorted."""
        dirs = {path.rsplit("/", 1)[0] for path in self.files if "/" in path}
        for directory in list(dirs):
            parent = directory
            while "/" in parent:
                parent = parent.rsplit("/", 1)[0]
                dirs.add(parent)
        return tuple(sorted(dirs))

    def directory_oid(self, directory: str) -> str:
        """A stable sha1 for a folder (derived from what it holds, like a git tree id)."""
        inside = "".join(f"{f.oid} {p}\n" for p, f in self.files.items() if p.startswith(directory + "/"))
        return hashlib.sha1(inside.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class GeneratedHub:
    """All repos of a spec, generated under ``root``; lookups by repo and revision."""

    root: Path
    spec: HubSpec
    repos: tuple[GeneratedRepo, ...]
    _by_key: dict[tuple[str, str], list[GeneratedRepo]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for repo in self.repos:
            self._by_key.setdefault((repo.repo_type, repo.repo_id), []).append(repo)

    def commits(self, repo_id: str, repo_type: str = "model") -> list[GeneratedRepo]:
        """Every commit of a repo (empty when the repo does not exist)."""
        return list(self._by_key.get((repo_type, repo_id), ()))

    def resolve(self, repo_id: str, revision: str, repo_type: str = "model") -> GeneratedRepo | None:
        """The commit a revision (branch, tag or full commit sha) names, or None."""
        for repo in self._by_key.get((repo_type, repo_id), ()):
            if revision in repo.revisions or revision == repo.commit:
                return repo
        return None

    def repo(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> GeneratedRepo:
        """Like :meth:`resolve` but raises TargetError naming what exists."""
        found = self.resolve(repo_id, revision, repo_type)
        if found is None:
            known = sorted({f"{r.repo_type}:{r.repo_id}@{v}" for r in self.repos for v in r.revisions})
            raise TargetError(f"no {repo_type} repo {repo_id!r} at revision {revision!r}; the spec has {known}")
        return found

    def file(self, repo_id: str, path: str, *, revision: str = "main", repo_type: str = "model") -> GeneratedFile:
        """One generated file; raises TargetError when the spec has no such file."""
        repo = self.repo(repo_id, revision, repo_type)
        try:
            return repo.files[path]
        except KeyError:
            raise TargetError(f"{repo_id}@{revision} has no file {path!r}; it has {sorted(repo.files)}") from None


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _file_seed(spec: HubSpec, repo: RepoSpec, file: FileSpec) -> int:
    key = "\0".join((str(spec.seed), repo.repo_type, repo.repo_id, ",".join(repo.revisions), file.path))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _spec_digest(spec: HubSpec) -> str:
    return hashlib.sha256(f"{_GENERATOR_VERSION}\0{spec!r}".encode()).hexdigest()


def generate_repos(spec: HubSpec, root: str | Path) -> GeneratedHub:
    """Write every repo of ``spec`` under ``root`` (reusing files an earlier run wrote) and return the index.

    Repos with ``from_dir`` are not written anywhere: their files are served where they lie, hashed at every
    start (what is served is what is on disk now).
    """
    root = Path(root)
    generated_specs = tuple(repo for repo in spec.repos if repo.from_dir is None)
    generated: dict[int, GeneratedRepo] = {}
    try:
        root.mkdir(parents=True, exist_ok=True)
        if generated_specs:
            part = spec if len(generated_specs) == len(spec.repos) else HubSpec(generated_specs, spec.seed, spec.source)
            made = _load_manifest(part, root)
            if made is None:
                made = tuple(_generate_repo(part, repo, root) for repo in part.repos)
                _write_manifest(part, root, made)
            generated = {id(repo): made_repo for repo, made_repo in zip(generated_specs, made, strict=True)}
    except InputError as error:  # a symlink planted in the root leads outside it
        raise TargetError(f"cannot generate repos under root={str(root)!r}: {error}") from None
    except OSError as error:
        raise TargetError(f"cannot generate repos under root={str(root)!r}: {error}; pass a writable root") from error
    repos = tuple(
        generated[id(repo)] if repo.from_dir is None else _repo_from_dir(spec, repo, f"repos[{i}]")
        for i, repo in enumerate(spec.repos)
    )
    return GeneratedHub(root=root, spec=spec, repos=repos)


def _snapshot_of(source: Path, repo: RepoSpec, where: str) -> tuple[Path, Path, str | None]:
    """(folder whose files are served, folder their real bytes must lie beneath, the commit sha if known)."""
    folder = f"{repo.repo_type}s--" + repo.repo_id.replace("/", "--")
    storage = source / folder if (source / folder).is_dir() else source
    if (storage / "snapshots").is_dir() and (storage / "refs").is_dir():
        revision = repo.revisions[0]
        try:
            commit = safe_join(storage / "refs", revision, what="revision").read_text(encoding="utf-8").strip()
        except (OSError, InputError, UnicodeDecodeError):
            message = (
                f"{where}.from_dir={str(source)!r}: the cache has no refs/{revision} for {repo.repo_id}; "
                f"fix: download it first, or name a revision it has"
            )
            raise TargetError(message) from None
        if not _HEX40.fullmatch(commit):
            raise TargetError(f"{where}.from_dir={str(source)!r}: refs/{revision} holds {commit[:60]!r}, not a commit")
        return safe_join(storage / "snapshots", commit, what="commit"), storage, commit
    if source.parent.name == "snapshots" and _HEX40.fullmatch(source.name):
        return source, source.parent.parent, source.name
    return source, source, None


def _repo_from_dir(spec: HubSpec, repo: RepoSpec, where: str) -> GeneratedRepo:
    """The real files of ``repo.from_dir`` with their true hashes (see :mod:`chaos.targets.spec`)."""
    assert repo.from_dir is not None
    source = Path(os.path.expanduser(repo.from_dir))
    if not source.is_dir():
        raise TargetError(f"{spec.source}: {where}.from_dir={repo.from_dir!r} is not a folder; fix: name a folder")
    snapshot, allowed, commit = _snapshot_of(source, repo, where)
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(snapshot):
        relative_dir = Path(dirpath).relative_to(snapshot).as_posix()
        if relative_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in (".cache", ".git")]  # a --local-dir's own metadata
        for name in filenames:
            relative = name if relative_dir == "." else f"{relative_dir}/{name}"
            found.append((relative, Path(dirpath, name)))
    if not found:
        raise TargetError(f"{spec.source}: {where}.from_dir={repo.from_dir!r} holds no files; fix: name a folder")
    files: dict[str, GeneratedFile] = {}
    entries: list[str] = []
    for relative, path in sorted(found):
        problem = path_problem(relative)
        if problem:
            raise TargetError(f"{spec.source}: {where}.from_dir file {relative!r} {problem}; fix: rename it")
        if not is_beneath(allowed, path):
            message = (
                f"{spec.source}: {where}.from_dir file {relative!r} links outside {str(allowed)!r}; fix: copy it in"
            )
            raise TargetError(message)
        real = Path(os.path.realpath(path))
        size = real.stat().st_size
        hashes = _hashes(real, size)
        if hashes is None:
            raise TargetError(f"{spec.source}: {where}.from_dir file {relative!r} is not a regular file")
        sha256_hex, sha1_hex = hashes
        lfs = resolved_kind(FileSpec(relative)) in _LFS_KINDS or size >= _LFS_THRESHOLD_BYTES
        files[relative] = GeneratedFile(repo.repo_id, repo.repo_type, relative, real, size, sha256_hex, sha1_hex, lfs)
        entries.append(_entry(relative, size, sha256_hex, sha1_hex, lfs))
    return GeneratedRepo(repo.repo_id, repo.repo_type, commit or _commit_of(repo, entries), repo.revisions, files)


def _generate_repo(spec: HubSpec, repo: RepoSpec, root: Path) -> GeneratedRepo:
    plans: dict[str, SafetensorsPlan] = {}
    weight_map: dict[str, str] = {}
    total_tensor_bytes = 0
    tensor_index = 0
    for file in repo.files:
        if resolved_kind(file) == "safetensors" and file.content is None:
            assert file.size_bytes is not None
            plan = plan_safetensors(file.size_bytes, file.dtype, tensor_index)
            plans[file.path] = plan
            tensor_index = plan.next_index
            total_tensor_bytes += plan.data_bytes
            weight_map.update(dict.fromkeys(plan.tensor_names, file.path))
    weights_dtype = next(
        (f.dtype for f in repo.files if resolved_kind(f) == "safetensors" and f.content is None), "BF16"
    )
    staging = safe_join(root, f".staging-{uuid.uuid4().hex}", what="staging folder")
    written: list[tuple[FileSpec, Path, int, str, str]] = []
    for file in repo.files:
        size, chunks = file_chunks(
            file,
            _file_seed(spec, repo, file),
            repo_id=repo.repo_id,
            plan=plans.get(file.path),
            weight_map=weight_map,
            total_tensor_bytes=total_tensor_bytes,
            torch_dtype=torch_dtype_name(weights_dtype),
        )
        target = safe_join(staging, file.path, what="file path")
        target.parent.mkdir(parents=True, exist_ok=True)
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
        with target.open("wb") as out:
            for chunk in chunks:
                sha256.update(chunk)
                sha1.update(chunk)
                out.write(chunk)
        written.append((file, target, size, sha256.hexdigest(), sha1.hexdigest()))
    lfs_flags = [
        file.lfs if file.lfs is not None else (resolved_kind(file) in _LFS_KINDS or size >= _LFS_THRESHOLD_BYTES)
        for file, _, size, _, _ in written
    ]
    entries = [
        _entry(file.path, size, sha256_hex, sha1_hex, lfs)
        for (file, _, size, sha256_hex, sha1_hex), lfs in zip(written, lfs_flags, strict=True)
    ]
    commit = _commit_of(repo, entries)
    files: dict[str, GeneratedFile] = {}
    for (file, target, size, sha256_hex, sha1_hex), lfs in zip(written, lfs_flags, strict=True):
        folder, _, name = f"{repo.repo_type}s/{repo.repo_id}/{commit}/{file.path}".rpartition("/")
        # The folder must lead nowhere outside; a leftover symlink in the file's own place is replaced by the
        # rename below (rename swaps the link itself, never what it points to).
        local = safe_join(root, folder, what="file folder") / name
        local.parent.mkdir(parents=True, exist_ok=True)
        publish_file(target, local, durable=False)  # generated content: regenerated if a crash loses it
        files[file.path] = GeneratedFile(
            repo.repo_id, repo.repo_type, file.path, local, size, sha256_hex, sha1_hex, lfs
        )
    _remove_tree(staging)
    ordered = dict(sorted(files.items()))
    return GeneratedRepo(repo.repo_id, repo.repo_type, commit, repo.revisions, ordered)


def _commit_of(repo: RepoSpec, entries: list[str]) -> str:
    key = "\0".join((repo.repo_type, repo.repo_id, ",".join(repo.revisions), *sorted(entries)))
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def _entry(path: str, size: int, sha256_hex: str, sha1_hex: str, lfs: bool) -> str:
    return f"{path}\0{size}\0{sha256_hex}\0{sha1_hex}\0{int(lfs)}"


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()


def _write_manifest(spec: HubSpec, root: Path, repos: tuple[GeneratedRepo, ...]) -> None:
    data = {
        "digest": _spec_digest(spec),
        "repos": [
            {
                "repo_id": r.repo_id,
                "repo_type": r.repo_type,
                "commit": r.commit,
                "revisions": list(r.revisions),
                "files": [[f.path, f.size_bytes, f.sha256, f.git_sha1, f.lfs] for f in r.files.values()],
            }
            for r in repos
        ],
    }
    atomic_write(root / _MANIFEST, json.dumps(data))


def _load_manifest(spec: HubSpec, root: Path) -> tuple[GeneratedRepo, ...] | None:
    """The repos an earlier run generated from this very spec, if every file is still exactly those bytes.

    None (regenerate) when the manifest is absent, damaged, for another spec, names anything the spec does not,
    or when a file is not a regular file inside the root (a symlink anywhere on the way counts as outside), has
    another size, or hashes differently; the commit is recomputed from the hashes and must match too.
    """
    try:
        with open(root / _MANIFEST, "rb") as stream:
            raw = stream.read(_MAX_MANIFEST_BYTES + 1)
        data = load_json(raw, source=str(root / _MANIFEST), max_bytes=_MAX_MANIFEST_BYTES, max_depth=8)
        if not isinstance(data, dict) or data.get("digest") != _spec_digest(spec):
            return None
        listed = data.get("repos")
        if not isinstance(listed, list) or len(listed) != len(spec.repos):
            return None
        real_root = os.path.realpath(root)
        repos = []
        for repo_spec, record in zip(spec.repos, listed, strict=True):
            repo = _verified_repo(repo_spec, record, root, real_root)
            if repo is None:
                return None
            repos.append(repo)
        return tuple(repos)
    except (OSError, InputError, ValueError, KeyError, TypeError):
        return None


def _verified_repo(repo_spec: RepoSpec, record: Any, root: Path, real_root: str) -> GeneratedRepo | None:
    """One manifest entry checked against the spec and the bytes on disk (see :func:`_load_manifest`)."""
    if not isinstance(record, dict):
        return None
    commit = record.get("commit")
    if (
        record.get("repo_id") != repo_spec.repo_id
        or record.get("repo_type") != repo_spec.repo_type
        or record.get("revisions") != list(repo_spec.revisions)
        or not isinstance(commit, str)
        or not _HEX40.fullmatch(commit)
    ):
        return None
    listed = record.get("files")
    wanted = {f.path for f in repo_spec.files}
    if not isinstance(listed, list) or len(listed) != len(wanted):
        return None
    files: dict[str, GeneratedFile] = {}
    entries: list[str] = []
    for item in listed:
        if not isinstance(item, list) or len(item) != 5:
            return None
        path, size, sha256_hex, sha1_hex, lfs = item
        if path not in wanted or path in files or not isinstance(lfs, bool) or isinstance(size, bool):
            return None
        if not isinstance(size, int) or not isinstance(sha256_hex, str) or not isinstance(sha1_hex, str):
            return None
        if not _HEX64.fullmatch(sha256_hex) or not _HEX40.fullmatch(sha1_hex):
            return None
        relative = f"{repo_spec.repo_type}s/{repo_spec.repo_id}/{commit}/{path}"
        local = safe_join(root, relative, what="manifest file path")
        if os.path.realpath(local) != os.path.join(real_root, relative):
            return None  # a symlink somewhere on the way, even one that stays inside the root
        if _hashes(local, size) != (sha256_hex, sha1_hex):
            return None
        files[path] = GeneratedFile(
            repo_spec.repo_id, repo_spec.repo_type, path, local, size, sha256_hex, sha1_hex, lfs
        )
        entries.append(_entry(path, size, sha256_hex, sha1_hex, lfs))
    if _commit_of(repo_spec, entries) != commit:
        return None
    ordered = dict(sorted(files.items()))
    return GeneratedRepo(repo_spec.repo_id, repo_spec.repo_type, commit, repo_spec.revisions, ordered)


def _hashes(path: Path, size: int) -> tuple[str, str] | None:
    """(sha256, git-sha1) of a regular file of exactly ``size`` bytes, opened without following a symlink."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()
