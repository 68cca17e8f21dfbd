"""Hub repo specs: which repos a local hub serves, loaded from TOML or built in Python.

A spec names repos and their files; :mod:`chaos.targets.repos` turns it into real bytes on disk, the same bytes
for the same spec and seed. Example ``repos.toml``::

    seed = 7

    [[repos]]
    repo_id = "acme/wan-mini"
    revisions = ["main", "v1.0"]

    [[repos.files]]
    path = "config.json"

    [[repos.files]]
    path = "diffusion_pytorch_model-00001-of-00002.safetensors"
    size_bytes = 3_000_000

A repo may instead serve real files from a local folder (``from_dir``, no ``files``): a plain folder (what
``--local-dir`` downloads into), an existing Hugging Face cache (the folder holding ``models--org--name``, or that
folder itself: the snapshot ``refs/<first revision>`` points at is served, under its own commit sha), or one
snapshot folder. A relative ``from_dir`` is read from the spec file's folder::

    [[repos]]
    repo_id = "acme/real-model"
    from_dir = "~/.cache/huggingface/hub"

Every bad value raises one :class:`~chaos.errors.TargetError` naming the field, the value and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos.errors import TargetError
from resilience_core.documents import read_document
from resilience_core.errors import InputError

__all__ = [
    "FILE_KINDS",
    "FileSpec",
    "HubSpec",
    "RepoSpec",
    "model_repo",
    "path_problem",
    "read_toml_spec",
    "revision_problem",
]

#: File kinds a spec may name; ``kind`` defaults from the path (see :func:`infer_kind`).
FILE_KINDS = (
    "bytes",
    "config",
    "json",
    "safetensors",
    "safetensors_index",
    "special_tokens_map",
    "text",
    "tokenizer",
    "tokenizer_config",
)
_SIZED_KINDS = frozenset({"bytes", "safetensors", "text"})
_DTYPES = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1}
_MIN_SAFETENSORS_BYTES = 1024
_MAX_FILE_BYTES = 1 << 40
_REPO_ID_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# A branch or tag name as git allows it (check-ref-format), narrowed to what is also a safe path under refs/:
# segments of letters, digits, '.', '_', '-', none empty, none starting with '.', none ending in '.lock'.
_REVISION_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_MAX_REVISION_CHARS = 200
_MAX_SPEC_BYTES = 4 << 20
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._+=@ -]+$")
_FILE_KEYS = frozenset({"path", "kind", "size_bytes", "lfs", "content", "data", "dtype", "vocab_size"})
_REPO_KEYS = frozenset({"repo_id", "repo_type", "revisions", "files", "from_dir"})
_TOP_KEYS = frozenset({"seed", "repos"})


def read_toml_spec(path: str | Path, what: str, example_name: str) -> dict[str, Any]:
    """Parse a spec file within :func:`resilience_core.read_document`'s limits (4 MiB, 64 levels, UTF-8).

    A missing, unreadable, huge, deep, non-UTF-8 or malformed file raises one TargetError naming the file and
    the fix.
    """
    source = str(path)
    if not Path(path).exists():
        raise TargetError(f"{what} {source!r} does not exist; pass --spec with a {example_name} path")
    try:
        data: dict[str, Any] = read_document(path, kind="toml", max_bytes=_MAX_SPEC_BYTES)
    except InputError as error:
        detail = str(error).removeprefix(os.fspath(path)).strip()
        if error.reason == "invalid TOML":
            raise TargetError(f"{what} {source!r} is not valid TOML ({detail}); fix the file") from None
        raise TargetError(f"{what} {source!r} {detail}" + ("" if "fix:" in detail else "; fix the file")) from None
    return data


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file of a repo. ``size_bytes`` is exact for ``bytes``/``text``/``safetensors`` files.

    ``content`` (a literal text) or ``data`` (a JSON object) replace the generated content of text/JSON kinds;
    ``lfs`` defaults to True for binary kinds and for files of 10 MiB or more, as on the real Hub.
    """

    path: str
    kind: str = ""
    size_bytes: int | None = None
    lfs: bool | None = None
    content: str | None = None
    data: Mapping[str, Any] | None = None
    dtype: str = "BF16"
    vocab_size: int = 64


@dataclass(frozen=True, slots=True)
class RepoSpec:
    """One commit of a repo, reachable under each of ``revisions`` (branch or tag names) and its commit sha.

    ``from_dir``: serve the real files of this folder (or HF cache, or snapshot) instead of generated ``files``.
    """

    repo_id: str
    files: tuple[FileSpec, ...]
    revisions: tuple[str, ...] = ("main",)
    repo_type: str = "model"
    from_dir: str | None = None


@dataclass(frozen=True, slots=True)
class HubSpec:
    """Everything a hub serves; ``seed`` drives all generated content.

    >>> spec = HubSpec(repos=(model_repo("acme/tiny", shards=1, shard_size_bytes=4096),), seed=1)
    >>> spec.repos[0].files[0].path
    'config.json'
    """

    repos: tuple[RepoSpec, ...]
    seed: int = 0
    source: str = field(default="<python>", compare=False)

    def __post_init__(self) -> None:
        _check_spec(self)

    @classmethod
    def from_toml(cls, path: str | Path) -> HubSpec:
        """Load a spec from a TOML file; a missing file or bad TOML raises TargetError.

        A relative ``from_dir`` is taken from the file's folder.
        """
        spec = cls.from_dict(read_toml_spec(path, "hub spec", "repos.toml"), source=str(path))
        base = Path(path).parent
        repos = tuple(
            replace(repo, from_dir=str(base / os.path.expanduser(repo.from_dir))) if repo.from_dir else repo
            for repo in spec.repos
        )
        return replace(spec, repos=repos)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> HubSpec:
        """Build a spec from parsed TOML/JSON (the same shape as the TOML file)."""
        _check_keys(data, _TOP_KEYS, source, "")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TargetError(f"{source}: seed={seed!r} must be an integer; write e.g. seed = 7")
        raw_repos = data.get("repos")
        if not isinstance(raw_repos, list) or not raw_repos:
            raise TargetError(f"{source}: repos={raw_repos!r} must be a non-empty list; add a [[repos]] table")
        repos = tuple(_repo_from_dict(raw, source, f"repos[{i}]") for i, raw in enumerate(raw_repos))
        return cls(repos=repos, seed=seed, source=source)


def infer_kind(path: str) -> str:
    """The file kind a path implies: ``x.safetensors`` -> safetensors, ``config.json`` -> config, ..."""
    name = path.rsplit("/", 1)[-1]
    by_name = {
        "config.json": "config",
        "tokenizer.json": "tokenizer",
        "tokenizer_config.json": "tokenizer_config",
        "special_tokens_map.json": "special_tokens_map",
    }
    if name in by_name:
        return by_name[name]
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".safetensors.index.json"):
        return "safetensors_index"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".md", ".txt", ".gitattributes")) or name == ".gitattributes":
        return "text"
    return "bytes"


def model_repo(
    repo_id: str,
    *,
    shards: int = 2,
    shard_size_bytes: int = 2_000_000,
    revisions: Sequence[str] = ("main",),
    prefix: str = "diffusion_pytorch_model",
) -> RepoSpec:
    """A WAN-like model repo: config.json, sharded safetensors with their index, tokenizer files, a README."""
    files: list[FileSpec] = [FileSpec("config.json")]
    if shards == 1:
        files.append(FileSpec(f"{prefix}.safetensors", size_bytes=shard_size_bytes))
    else:
        files.extend(
            FileSpec(f"{prefix}-{i:05d}-of-{shards:05d}.safetensors", size_bytes=shard_size_bytes)
            for i in range(1, shards + 1)
        )
        files.append(FileSpec(f"{prefix}.safetensors.index.json"))
    files += [
        FileSpec("tokenizer/tokenizer.json"),
        FileSpec("tokenizer/tokenizer_config.json"),
        FileSpec("tokenizer/special_tokens_map.json"),
        FileSpec("README.md", size_bytes=512),
    ]
    return RepoSpec(repo_id=repo_id, files=tuple(files), revisions=tuple(revisions))


def _check_keys(data: object, allowed: frozenset[str], source: str, where: str) -> None:
    if not isinstance(data, Mapping):
        raise TargetError(f"{source}: {where or 'the spec'}={data!r} must be a table")
    unknown = sorted(set(data) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise TargetError(f"{source}: {prefix}{unknown[0]} is not a known key; use one of {', '.join(sorted(allowed))}")


def _repo_from_dict(raw: object, source: str, where: str) -> RepoSpec:
    _check_keys(raw, _REPO_KEYS, source, where)
    assert isinstance(raw, Mapping)
    raw_files = raw.get("files")
    from_dir = raw.get("from_dir")
    if from_dir is not None:
        if raw_files is not None:
            message = f"{source}: {where}.files is set with from_dir={from_dir!r}; fix: keep one of them"
            raise TargetError(message)
        raw_files = []
    elif not isinstance(raw_files, list) or not raw_files:
        raise TargetError(f"{source}: {where}.files={raw_files!r} must be a non-empty list; add [[repos.files]]")
    files = tuple(_file_from_dict(f, source, f"{where}.files[{i}]") for i, f in enumerate(raw_files))
    revisions = raw.get("revisions", ["main"])
    if not isinstance(revisions, list) or not all(isinstance(r, str) for r in revisions):
        raise TargetError(f"{source}: {where}.revisions={revisions!r} must be a list of names, e.g. ['main']")
    return RepoSpec(
        repo_id=raw.get("repo_id"),  # type: ignore[arg-type]  # checked in _check_spec with the field path
        files=files,
        revisions=tuple(revisions),
        repo_type=raw.get("repo_type", "model"),
        from_dir=from_dir,
    )


def _file_from_dict(raw: object, source: str, where: str) -> FileSpec:
    _check_keys(raw, _FILE_KEYS, source, where)
    assert isinstance(raw, Mapping)
    return FileSpec(**{key: raw[key] for key in raw})


def _fail(source: str, where: str, value: object, fix: str) -> TargetError:
    shown = repr(value)
    if len(shown) > 80:  # a 4 MiB content string must not become a 4 MiB error line
        shown = f"{shown[:60]}...({len(shown)} chars)"
    return TargetError(f"{source}: {where}={shown} {fix}")


def _check_spec(spec: HubSpec) -> None:
    """Validate every field, naming the first bad one with its path (``repos[1].files[0].size_bytes``)."""
    src = spec.source
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int):
        raise _fail(src, "seed", spec.seed, "must be an integer")
    seen_revisions: dict[tuple[str, str], str] = {}
    for i, repo in enumerate(spec.repos):
        where = f"repos[{i}]"
        if not isinstance(repo.repo_id, str) or not _REPO_ID_RE.match(repo.repo_id):
            raise _fail(src, f"{where}.repo_id", repo.repo_id, "must be 'owner/name' (letters, digits, . _ -)")
        if repo.repo_type not in ("model", "dataset"):
            raise _fail(src, f"{where}.repo_type", repo.repo_type, "must be 'model' or 'dataset'")
        if not repo.revisions:
            raise _fail(src, f"{where}.revisions", list(repo.revisions), "must name at least one branch, e.g. ['main']")
        for revision in repo.revisions:
            problem = revision_problem(revision)
            if problem:
                raise _fail(src, f"{where}.revisions", revision, f"is refused: {problem}; fix: {_REVISION_FIX}")
            key = (f"{repo.repo_type}:{repo.repo_id}", revision)
            if key in seen_revisions:
                raise _fail(src, f"{where}.revisions", revision, f"is already used by {seen_revisions[key]}")
            seen_revisions[key] = where
        if repo.from_dir is not None:
            if not isinstance(repo.from_dir, str) or not repo.from_dir.strip():
                raise _fail(src, f"{where}.from_dir", repo.from_dir, "must be a folder path, e.g. '~/models/tiny'")
            if repo.files:
                fix = "must be empty with from_dir; fix: keep one of them"
                raise _fail(src, f"{where}.files", len(repo.files), fix)
        paths: set[str] = set()
        for j, file in enumerate(repo.files):
            _check_file(file, src, f"{where}.files[{j}]")
            if file.path in paths:
                raise _fail(src, f"{where}.files[{j}].path", file.path, "appears twice; give each file one entry")
            paths.add(file.path)
        dirs = {p.rsplit("/", 1)[0] for p in paths if "/" in p}
        for j, file in enumerate(repo.files):
            if file.path in dirs:
                raise _fail(src, f"{where}.files[{j}].path", file.path, "is also a folder; rename one of them")


_REVISION_FIX = "use a branch or tag name such as 'main' or 'v1.0' (segments of letters, digits, . _ -)"


def revision_problem(revision: object) -> str:
    """Why ``revision`` cannot be a branch or tag name of a served repo ("" when it can).

    Revisions reach clients' disks (``refs/<revision>`` in every huggingface_hub cache) and HTTP headers, so
    anything that could escape a folder or break a header line is refused here, at spec load.
    """
    if not isinstance(revision, str):
        return "it is not a string"
    if not revision or len(revision) > _MAX_REVISION_CHARS:
        return f"it must have 1..{_MAX_REVISION_CHARS} characters"
    if _COMMIT_RE.match(revision):
        return "a 40-hex name would be taken for a commit sha"
    segments = revision.split("/")
    if ".." in segments or "." in segments or "" in segments:
        return "it has an empty, '.' or '..' segment (a path outside refs/)"
    for segment in segments:
        if not _REVISION_SEGMENT_RE.match(segment):
            return f"segment {segment!r} has a character outside letters, digits, '.', '_', '-' or starts with '.'"
        if segment.endswith(".lock"):
            return f"segment {segment!r} ends in '.lock' (git refuses it)"
    return ""


def path_problem(path: object) -> str:
    """Why ``path`` cannot be a served file's path ("" when it can): it reaches URLs and clients' disks."""
    segments = path.split("/") if isinstance(path, str) else []
    if not segments or not all(s and s not in (".", "..") and _PATH_SEGMENT_RE.match(s) for s in segments):
        return "must be a relative path like 'dir/name.ext' (no '..', no '//')"
    return ""


def _check_file(file: FileSpec, src: str, where: str) -> None:
    path = file.path
    problem = path_problem(path)
    if problem:
        raise _fail(src, f"{where}.path", path, problem)
    kind = file.kind or infer_kind(path)
    if kind not in FILE_KINDS:
        raise _fail(src, f"{where}.kind", file.kind, f"must be one of {', '.join(FILE_KINDS)}")
    size = file.size_bytes
    if size is not None:
        if kind not in _SIZED_KINDS:
            raise _fail(src, f"{where}.size_bytes", size, f"cannot be set for a {kind} file; remove it")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_FILE_BYTES:
            raise _fail(src, f"{where}.size_bytes", size, "must be an integer number of bytes >= 0")
    if kind == "bytes" and size is None and file.content is None:
        raise _fail(src, f"{where}.size_bytes", size, "is required for a bytes file; set e.g. size_bytes = 1048576")
    if kind == "safetensors":
        if size is None or size < _MIN_SAFETENSORS_BYTES:
            raise _fail(src, f"{where}.size_bytes", size, f"must be >= {_MIN_SAFETENSORS_BYTES} for a safetensors file")
        if file.dtype not in _DTYPES:
            raise _fail(src, f"{where}.dtype", file.dtype, f"must be one of {', '.join(_DTYPES)}")
        if size % _DTYPES[file.dtype]:
            # Every tensor has the file's dtype (no filler tensor), so the data is a whole number of elements.
            element = _DTYPES[file.dtype]
            raise _fail(src, f"{where}.size_bytes", size, f"must be a multiple of {element} for {file.dtype} tensors")
    if file.lfs is not None and not isinstance(file.lfs, bool):
        raise _fail(src, f"{where}.lfs", file.lfs, "must be true or false")
    if file.content is not None and (not isinstance(file.content, str) or kind in ("safetensors",)):
        raise _fail(src, f"{where}.content", file.content, "must be a string, and only for text/JSON files")
    if file.content is not None and size is not None:
        raise _fail(src, f"{where}.size_bytes", size, "conflicts with content; set one of them")
    if file.data is not None and (not isinstance(file.data, Mapping) or kind not in ("json", "config")):
        raise _fail(src, f"{where}.data", file.data, "must be a table, and only for json/config files")
    if isinstance(file.vocab_size, bool) or not isinstance(file.vocab_size, int) or not 8 <= file.vocab_size <= 1 << 20:
        raise _fail(src, f"{where}.vocab_size", file.vocab_size, "must be an integer in 8..1048576")


_TORCH_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "U8": "uint8"}


def torch_dtype_name(dtype: str) -> str:
    """The ``torch_dtype`` a config.json names for a safetensors dtype (``F16`` -> ``float16``)."""
    return _TORCH_DTYPES[dtype]


def dtype_size(dtype: str) -> int:
    """Bytes per element of a safetensors dtype this generator writes."""
    return _DTYPES[dtype]


def resolved_kind(file: FileSpec) -> str:
    """The file's kind, from ``kind`` or else from its path."""
    return file.kind or infer_kind(file.path)
