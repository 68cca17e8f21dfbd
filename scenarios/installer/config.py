"""The installer's app config: a small TOML or JSON file naming models, requirements and where to get them.

.. code-block:: toml

    name = "wan-mini"
    install_dir = "install"                    # relative to this file
    batch_size = 8
    index_url = "http://127.0.0.1:8080/simple/"
    requirements = ["wan-app==1.0.0"]
    endpoints = ["http://127.0.0.1:8765"]      # the hub first ...
    mirrors = ["http://127.0.0.1:8766"]        # ... then mirrors
    timeout_s = 10
    activation_bytes_per_sample = 268435456     # VRAM one batch element needs at first load

    [[models]]
    repo_id = "acme/wan-mini"
    revision = "main"

Every bad value raises one :class:`resilience_core.ConfigError` naming the file, the key, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience_core.documents import read_document
from resilience_core.errors import ConfigError, InputError

__all__ = ["AppConfig", "ModelRef", "from_mapping", "load_config"]

_KEYS = {
    "name",
    "install_dir",
    "batch_size",
    "index_url",
    "requirements",
    "endpoints",
    "mirrors",
    "timeout_s",
    "models",
    "activation_bytes_per_sample",
    "min_free_disk_bytes",
    "min_memory_bytes",
}


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model repository revision the app needs."""

    repo_id: str
    revision: str = "main"


@dataclass(frozen=True, slots=True)
class AppConfig:
    """A validated app config; paths are absolute."""

    name: str
    install_dir: Path
    models: tuple[ModelRef, ...]
    endpoints: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    index_url: str | None = None
    batch_size: int = 1
    timeout_s: float = 10.0
    activation_bytes_per_sample: int = 256 << 20
    min_free_disk_bytes: int = 0
    min_memory_bytes: int = 0
    source: str = "<dict>"

    @property
    def models_dir(self) -> Path:
        """The huggingface_hub cache the models go to."""
        return self.install_dir / "models"

    @property
    def site_dir(self) -> Path:
        """Where pip installs the requirements (``pip install --target``)."""
        return self.install_dir / "site-packages"

    @property
    def manifest_path(self) -> Path:
        """The install manifest, written atomically at the end of a successful install."""
        return self.install_dir / "install-manifest.json"

    @property
    def logs_dir(self) -> Path:
        """JSON logs."""
        return self.install_dir / "logs"

    @property
    def state_dir(self) -> Path:
        """Snapshots for rollback."""
        return self.install_dir / ".state"

    @property
    def sources(self) -> list[str]:
        """Endpoints then mirrors, the order the source strategy walks."""
        return [*self.endpoints, *self.mirrors]


def _fail(source: str, key: str, value: object, fix: str) -> ConfigError:
    return ConfigError(
        f"{source}: {key}={value!r} {fix}", field=key, value=value, source=source, allowed=fix.removeprefix("must be ")
    )


def _url(source: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) < 10:
        raise _fail(source, key, value, "must be an http:// or https:// URL")
    return value.rstrip("/")


def _int(source: str, key: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _fail(source, key, value, f"must be an integer >= {lo}")
    return value


def from_mapping(data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>") -> AppConfig:
    """Validate a parsed config; relative ``install_dir`` is resolved against ``base_dir``."""
    if not isinstance(data, Mapping):
        raise _fail(source, "<top>", type(data).__name__, "must be a table/object of keys")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _fail(source, unknown[0], data[unknown[0]], f"is not a known key; use one of {', '.join(sorted(_KEYS))}")
    name = data.get("name", "app")
    if not isinstance(name, str) or not name:
        raise _fail(source, "name", name, "must be a non-empty string")
    install_dir = data.get("install_dir")
    if not isinstance(install_dir, str) or not install_dir:
        raise _fail(source, "install_dir", install_dir, "must be a folder path (relative to the config file)")
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise _fail(source, "models", raw_models, "must be a non-empty list of {repo_id, revision} tables")
    models = []
    for index, item in enumerate(raw_models):
        key = f"models[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("repo_id"), str) or not item["repo_id"]:
            raise _fail(source, key, item, "must be a table with repo_id = 'org/name' (and optional revision)")
        extra = sorted(set(item) - {"repo_id", "revision"})
        if extra:
            raise _fail(source, f"{key}.{extra[0]}", item[extra[0]], "is not a known key; use repo_id, revision")
        revision = item.get("revision", "main")
        if not isinstance(revision, str) or not revision:
            raise _fail(source, f"{key}.revision", revision, "must be a branch, tag or commit")
        models.append(ModelRef(item["repo_id"], revision))
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise _fail(source, "endpoints", endpoints, "must be a non-empty list of hub URLs")
    mirrors = data.get("mirrors", [])
    if not isinstance(mirrors, list):
        raise _fail(source, "mirrors", mirrors, "must be a list of hub URLs")
    requirements = data.get("requirements", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip() for r in requirements):
        raise _fail(source, "requirements", requirements, "must be a list of pip requirement strings")
    if any(r.strip().startswith("-") for r in requirements):
        raise _fail(source, "requirements", requirements, "must hold requirements only, not pip options")
    index_url = data.get("index_url")
    if requirements and index_url is None:
        raise _fail(source, "index_url", None, "must be set when requirements are listed")
    timeout_s = data.get("timeout_s", 10.0)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 3600:
        raise _fail(source, "timeout_s", timeout_s, "must be a number of seconds in (0, 3600]")
    return AppConfig(
        name=name,
        install_dir=(base_dir / install_dir).absolute(),
        models=tuple(models),
        endpoints=tuple(_url(source, f"endpoints[{i}]", e) for i, e in enumerate(endpoints)),
        mirrors=tuple(_url(source, f"mirrors[{i}]", m) for i, m in enumerate(mirrors)),
        requirements=tuple(r.strip() for r in requirements),
        index_url=_url(source, "index_url", index_url) + "/" if index_url is not None else None,
        batch_size=_int(source, "batch_size", data.get("batch_size", 1), 1),
        timeout_s=float(timeout_s),
        activation_bytes_per_sample=_int(
            source, "activation_bytes_per_sample", data.get("activation_bytes_per_sample", 256 << 20), 0
        ),
        min_free_disk_bytes=_int(source, "min_free_disk_bytes", data.get("min_free_disk_bytes", 0), 0),
        min_memory_bytes=_int(source, "min_memory_bytes", data.get("min_memory_bytes", 0), 0),
        source=source,
    )


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a ``.toml`` or ``.json`` app config."""
    file = Path(path)
    source = str(file)
    if file.suffix not in (".json", ".toml"):
        raise _fail(source, "<file>", file.suffix, "must end in .toml or .json")
    try:  # bounded (size, depth, UTF-8): a 100,000-deep file is one ConfigError, not a RecursionError
        data = read_document(file, kind=file.suffix[1:])
    except InputError as error:
        if error.reason == "unreadable":
            raise _fail(source, "<file>", source, "must be a readable file") from None
        raise _fail(source, "<file>", source, f"must be valid {file.suffix[1:].upper()} ({error})") from None
    return from_mapping(data, base_dir=file.parent.absolute(), source=source)
