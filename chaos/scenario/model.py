"""The parts of a loaded scenario file (``chaos*.toml``), and the error a bad one raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.errors import ChaosError

if TYPE_CHECKING:
    from chaos.targets import HubSpec, IndexSpec

__all__ = [
    "PLACEHOLDERS",
    "RERUN_RULES",
    "SCHEMA_PATH",
    "THRESHOLD_KEYS",
    "FaultStep",
    "HfCacheCheck",
    "MatrixEntry",
    "PipCheck",
    "ScenarioError",
    "ScenarioFile",
    "is_scenario_file",
]

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "scenario.schema.json"
#: The ``{name}`` placeholders a scenario's strings may use.
PLACEHOLDERS = ("hub_url", "index_url", "python", "scenario_dir", "workdir")
RERUN_RULES = ("once", "never")  # chaos.run's rerun rule (chaos.command)
#: Verdict keys the chaos marker itself validates; a scenario passes them through unchanged.
THRESHOLD_KEYS = ("trials", "min_recovery_rate", "confidence", "gate", "max_trials", "max_indeterminate")


class ScenarioError(ChaosError):
    """A scenario file is unusable; the message is one line naming the file, line, key, value and fix."""


@dataclass(frozen=True, slots=True)
class FaultStep:
    """One fault of a matrix entry: its registered name, its parameters, the proxy a network fault acts on,
    ``at_s``: arm it that many seconds into the run (network faults: the link breaks mid-download; None: before
    the command starts), and ``for_s``: revert it that many seconds after it was armed (the link comes back;
    None: armed until the run ends)."""

    name: str
    params: Mapping[str, Any]
    proxy: str | None = None
    for_s: float | None = None
    at_s: float | None = None


@dataclass(frozen=True, slots=True)
class MatrixEntry:
    """One row of the report: faults armed together in each trial, and the row's verdict keys."""

    id: str
    faults: tuple[FaultStep, ...]
    thresholds: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HfCacheCheck:
    """After each trial: every file under ``path`` matches the hub's sha256 for ``repos``."""

    path: str
    repos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PipCheck:
    """After each trial: ``requirements`` are installed in ``target`` (a venv or a --target dir), pip check clean."""

    target: str
    requirements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    """A loaded, validated ``chaos*.toml``."""

    path: Path
    name: str
    command: tuple[str, ...] | str
    shell: bool
    cwd: str
    env: Mapping[str, str]
    timeout_s: float
    thresholds: Mapping[str, Any]
    matrix: tuple[MatrixEntry, ...]
    hub: HubSpec | None = None
    index: IndexSpec | None = None
    leftovers: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    hf_cache: tuple[HfCacheCheck, ...] = ()
    pip: tuple[PipCheck, ...] = ()
    rerun: str = "once"
    description: str = ""

    @property
    def directory(self) -> Path:
        """The directory the file lives in (``{scenario_dir}``)."""
        return self.path.parent

    def entry_thresholds(self, entry: MatrixEntry) -> dict[str, Any]:
        """The chaos marker's keywords for ``entry``: the file's verdict keys, overridden by the entry's."""
        return {**self.thresholds, **entry.thresholds}


def is_scenario_file(path: Path) -> bool:
    """True for the files the pytest plugin collects: ``chaos*.toml``."""
    return path.suffix == ".toml" and path.name.startswith("chaos")
