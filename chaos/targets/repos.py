"""Generate a :class:`~chaos.targets.spec.HubSpec` into real files on disk, with the hashes the Hub would report.

Layout under ``root``: ``{repo_type}s/{repo_id}/{commit}/{path}``, plus ``.chaos-targets.json`` so that a second
server over the same root and spec reuses the files instead of writing them again.

>>> from chaos.targets.spec import HubSpec, model_repo
>>> import tempfile
>>> hub = generate_repos(HubSpec(repos=(model_repo("acme/tiny", shards=1, shard_size_bytes=4096),)), tempfile.mkdtemp())
>>> hub.file("acme/tiny", "diffusion_pytorch_model.safetensors").size_bytes
4096
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import TargetError
from chaos.targets.content import SafetensorsPlan, file_chunks, plan_safetensors
from chaos.targets.spec import FileSpec, HubSpec, RepoSpec, resolved_kind
from resilience_core import atomic_write, publish_file

__all__ = ["GeneratedFile", "GeneratedHub", "GeneratedRepo", "generate_repos"]

_GENERATOR_VERSION = 1
_LFS_KINDS = frozenset({"bytes", "safetensors"})
_LFS_THRESHOLD_BYTES = 10 << 20
_MANIFEST = ".chaos-targets.json"


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
    """Write every repo of ``spec`` under ``root`` (reusing files an earlier run wrote) and return the index."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cached = _load_manifest(spec, root)
        if cached is not None:
            return GeneratedHub(root=root, spec=spec, repos=cached)
        repos = tuple(_generate_repo(spec, repo, root) for repo in spec.repos)
        _write_manifest(spec, root, repos)
    except OSError as error:
        raise TargetError(f"cannot generate repos under root={str(root)!r}: {error}; pass a writable root") from error
    return GeneratedHub(root=root, spec=spec, repos=repos)


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
    staging = root / f".staging-{uuid.uuid4().hex}"
    written: list[tuple[FileSpec, Path, int, str, str]] = []
    for file in repo.files:
        size, chunks = file_chunks(
            file,
            _file_seed(spec, repo, file),
            repo_id=repo.repo_id,
            plan=plans.get(file.path),
            weight_map=weight_map,
            total_tensor_bytes=total_tensor_bytes,
        )
        target = staging / file.path
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
        f"{file.path}\0{size}\0{sha256_hex}\0{sha1_hex}\0{int(lfs)}"
        for (file, _, size, sha256_hex, sha1_hex), lfs in zip(written, lfs_flags, strict=True)
    ]
    commit_key = "\0".join((repo.repo_type, repo.repo_id, ",".join(repo.revisions), *sorted(entries)))
    commit = hashlib.sha1(commit_key.encode(), usedforsecurity=False).hexdigest()
    final_dir = root / f"{repo.repo_type}s" / repo.repo_id / commit
    files: dict[str, GeneratedFile] = {}
    for (file, target, size, sha256_hex, sha1_hex), lfs in zip(written, lfs_flags, strict=True):
        local = final_dir / file.path
        local.parent.mkdir(parents=True, exist_ok=True)
        publish_file(target, local, durable=False)  # generated content: regenerated if a crash loses it
        files[file.path] = GeneratedFile(
            repo.repo_id, repo.repo_type, file.path, local, size, sha256_hex, sha1_hex, lfs
        )
    _remove_tree(staging)
    ordered = dict(sorted(files.items()))
    return GeneratedRepo(repo.repo_id, repo.repo_type, commit, repo.revisions, ordered)


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
    """The repos an earlier run generated from this very spec, if all their files are still intact in size."""
    try:
        data = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
        if data["digest"] != _spec_digest(spec):
            return None
        repos = []
        for r in data["repos"]:
            base = root / f"{r['repo_type']}s" / r["repo_id"] / r["commit"]
            files = {}
            for path, size, sha256_hex, sha1_hex, lfs in r["files"]:
                local = base / path
                if local.stat().st_size != size:
                    return None
                files[path] = GeneratedFile(r["repo_id"], r["repo_type"], path, local, size, sha256_hex, sha1_hex, lfs)
            repos.append(GeneratedRepo(r["repo_id"], r["repo_type"], r["commit"], tuple(r["revisions"]), files))
        return tuple(repos)
    except (OSError, ValueError, KeyError, TypeError):
        return None
