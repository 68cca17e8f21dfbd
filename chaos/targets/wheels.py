"""Real, installable pure-Python wheels built from small package specs, with dependencies between them.

Example ``packages.toml``::

    [[packages]]
    name = "wan-app"
    version = "1.0.0"
    requires = ["wan-core>=1.0"]

    [[packages]]
    name = "wan-core"
    version = "1.0.0"
    size_bytes = 200_000   # a seeded payload file makes the wheel this much bigger

Each wheel holds ``{module}/__init__.py`` (``__version__``, ``REQUIRES``), an optional ``{module}/payload.bin``
and a ``.dist-info`` with METADATA (``Requires-Dist`` lines), WHEEL, top_level.txt and RECORD. Builds are
byte-for-byte reproducible (fixed timestamps, sorted entries, seeded payloads).
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import TargetError
from chaos.targets.spec import read_toml_spec
from resilience_core import atomic_open

__all__ = ["IndexSpec", "PackageSpec", "build_wheel", "build_wheels", "module_name", "wheel_filename"]

_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,60}[A-Za-z0-9])?$")
_VERSION_RE = re.compile(r"^\d+(?:\.\d+){0,3}(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?$")
_CLAUSE = r"(?:===?|>=|<=|~=|!=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*"
_REQUIREMENT_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:{_CLAUSE}\s*(?:,\s*{_CLAUSE}\s*)*)?(?:;.+)?$")
_PACKAGE_KEYS = frozenset({"name", "version", "requires", "size_bytes", "summary"})
_MAX_PAYLOAD_BYTES = 1 << 30
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """One distribution version; ``requires`` are PEP 508 strings such as ``"wan-core>=1.0"``."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    size_bytes: int = 0
    summary: str = ""


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The packages a local index serves; every bad value raises one TargetError naming the field.

    >>> IndexSpec(packages=(PackageSpec("wan-utils", "0.2.0"),)).packages[0].name
    'wan-utils'
    """

    packages: tuple[PackageSpec, ...]
    source: str = field(default="<python>", compare=False)

    def __post_init__(self) -> None:
        _check_index(self)

    @classmethod
    def from_toml(cls, path: str | Path) -> IndexSpec:
        """Load a spec from TOML (a list of ``[[packages]]`` tables)."""
        return cls.from_dict(read_toml_spec(path, "index spec", "packages.toml"), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> IndexSpec:
        """Build a spec from parsed TOML/JSON (``{"packages": [{name, version, requires, ...}]}``)."""
        unknown = sorted(set(data) - {"packages"})
        if unknown:
            raise TargetError(f"{source}: {unknown[0]} is not a known key; use [[packages]] tables")
        raw = data.get("packages")
        if not isinstance(raw, list) or not raw:
            raise TargetError(f"{source}: packages={raw!r} must be a non-empty list; add a [[packages]] table")
        packages = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, Mapping):
                raise TargetError(f"{source}: packages[{i}]={entry!r} must be a table")
            bad = sorted(set(entry) - _PACKAGE_KEYS)
            if bad:
                keys = ", ".join(sorted(_PACKAGE_KEYS))
                raise TargetError(f"{source}: packages[{i}].{bad[0]} is not a known key; use one of {keys}")
            requires = entry.get("requires", [])
            if not isinstance(requires, list):
                raise TargetError(f"{source}: packages[{i}].requires={requires!r} must be a list of strings")
            packages.append(PackageSpec(**{**entry, "requires": tuple(requires)}))
        return cls(packages=tuple(packages), source=source)


def _check_index(spec: IndexSpec) -> None:
    src = spec.source
    seen: set[tuple[str, str]] = set()
    for i, package in enumerate(spec.packages):
        where = f"{src}: packages[{i}]"
        if not isinstance(package.name, str) or not _NAME_RE.match(package.name):
            raise TargetError(f"{where}.name={package.name!r} must be a project name (letters, digits, . _ -)")
        if not isinstance(package.version, str) or not _VERSION_RE.match(package.version):
            raise TargetError(f"{where}.version={package.version!r} must be a version like '1.0.0' or '2.1rc1'")
        for requirement in package.requires:
            if not isinstance(requirement, str) or not _REQUIREMENT_RE.match(requirement.strip()):
                raise TargetError(f"{where}.requires has {requirement!r}; write a requirement like 'wan-core>=1.0'")
        size = package.size_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_PAYLOAD_BYTES:
            raise TargetError(f"{where}.size_bytes={size!r} must be an integer number of bytes in 0..{1 << 30}")
        if not isinstance(package.summary, str):
            raise TargetError(f"{where}.summary={package.summary!r} must be a string")
        key = (_normalize(package.name), package.version)
        if key in seen:
            raise TargetError(f"{where} repeats {package.name} {package.version}; give each version one entry")
        seen.add(key)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def module_name(name: str) -> str:
    """The importable top-level module of a generated package: ``wan-core`` -> ``wan_core``."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_filename(package: PackageSpec) -> str:
    """``{name}-{version}-py3-none-any.whl`` with the name normalized as the wheel spec asks."""
    return f"{module_name(package.name)}-{package.version}-py3-none-any.whl"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _wheel_entries(package: PackageSpec) -> dict[str, bytes]:
    module = module_name(package.name)
    dist_info = f"{module}-{package.version}.dist-info"
    init = (
        f'"""Generated package {package.name} {package.version} (resilience-chaos local index)."""\n\n'
        f"__version__ = {package.version!r}\n"
        f"REQUIRES = {list(package.requires)!r}\n"
    )
    entries = {f"{module}/__init__.py": init.encode()}
    if package.size_bytes:
        seed = int.from_bytes(hashlib.sha256(f"{package.name}\0{package.version}".encode()).digest()[:8], "big")
        entries[f"{module}/payload.bin"] = random.Random(seed).randbytes(package.size_bytes)
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {package.name}",
        f"Version: {package.version}",
        f"Summary: {package.summary or f'Generated package {package.name}'}",
        "Requires-Python: >=3.8",
        *(f"Requires-Dist: {requirement.strip()}" for requirement in package.requires),
    ]
    entries[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    wheel = ["Wheel-Version: 1.0", "Generator: resilience-chaos", "Root-Is-Purelib: true", "Tag: py3-none-any"]
    entries[f"{dist_info}/WHEEL"] = ("\n".join(wheel) + "\n").encode()
    entries[f"{dist_info}/top_level.txt"] = f"{module}\n".encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in entries.items()]
    record.append(f"{dist_info}/RECORD,,")
    entries[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return entries


def build_wheel(package: PackageSpec, outdir: str | Path) -> Path:
    """Write the wheel of ``package`` into ``outdir`` and return its path (reproducible bytes)."""
    target = Path(outdir) / wheel_filename(package)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target, "wb") as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in _wheel_entries(package).items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return target


def build_wheels(spec: IndexSpec, outdir: str | Path) -> dict[tuple[str, str], Path]:
    """Build every package of ``spec``; returns ``{(name, version): wheel path}``."""
    try:
        return {(p.name, p.version): build_wheel(p, outdir) for p in spec.packages}
    except OSError as error:
        raise TargetError(f"cannot write wheels under {str(outdir)!r}: {error}; pass a writable root") from error
