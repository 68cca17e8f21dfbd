"""Feature flags with gradual rollout: states, percentages, date schedules, stable per-installation buckets.

A flag file (JSON or TOML) names each flag's ``state`` (``enabled``, ``disabled``, ``testing``), its
``rollout_percentage`` (0-100) and, optionally, a ``schedule`` that raises the percentage step by step:

.. code-block:: toml

    [flags.model_validation_recovery]
    state = "enabled"
    rollout_percentage = 50

    [flags.predictive_failure_analysis]
    state = "testing"
    rollout_percentage = 5
    schedule = { start = "2025-01-01T00:00:00Z", end = "2025-01-31T00:00:00Z", initial_percentage = 10,
                 target_percentage = 100, increment_percentage = 10, increment_interval_hours = 24 }

Each installation falls in a bucket in [0, 100) computed from ``sha256(flag name + install id)``: the same
machine gets the same answer in every process and every run, the answers of two flags are independent, and
raising a percentage only ever adds installations (nobody who had the feature loses it). ``testing`` flags
roll out the same way, but only where ``deployment.environment`` is not ``production``.

The configuration's ``features.enable_<name>`` switches are the operator's hard switches: a feature switched
off there is off whatever its flag says; a feature switched on is decided by its flag, when one exists.

>>> flags = FeatureFlags.from_mapping({"flags": {"new_ui": {"state": "enabled", "rollout_percentage": 100}}})
>>> flags.is_enabled("new_ui", install_id="machine-1")
True
>>> from resilience_core.config import ReliabilityConfig
>>> off = ReliabilityConfig.from_mapping({"features": {"enable_rollback": False}}, env={})
>>> flags.with_config(off).is_enabled("rollback", install_id="machine-1")  # a features.* switch
False
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience_core.config.loader import read_config_file
from resilience_core.errors import ConfigError

if TYPE_CHECKING:
    from resilience_core.config.reliability import ReliabilityConfig

__all__ = [
    "DEFAULT_FLAGS",
    "FeatureFlags",
    "Flag",
    "FlagState",
    "RolloutSchedule",
    "bucket",
    "installation_id",
    "is_enabled",
]

_FEATURE_PREFIX = "enable_"


class FlagState(enum.StrEnum):
    """Where a flag stands: on (for its percentage), off, or on in non-production environments only."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    TESTING = "testing"


def bucket(name: str, install_id: str) -> float:
    """The installation's bucket for flag ``name``: a stable number in [0, 100) from sha256.

    >>> bucket("new_ui", "machine-1") == bucket("new_ui", "machine-1")
    True
    """
    digest = hashlib.sha256(f"{name}\x00{install_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / float(1 << 64) * 100.0


@dataclass(frozen=True, slots=True)
class RolloutSchedule:
    """A date-based rollout (the seed's ``RolloutConfig``): ``initial_percentage`` at ``start``, plus
    ``increment_percentage`` every ``increment_interval_hours``, capped at ``target_percentage``, which holds
    from ``end`` on. Before ``start`` the flag's own ``rollout_percentage`` applies."""

    start: datetime
    end: datetime
    initial_percentage: float
    target_percentage: float
    increment_percentage: float
    increment_interval_hours: float

    def percentage_at(self, now: datetime) -> float | None:
        """The scheduled percentage at ``now`` (aware datetime), or None before ``start``."""
        if now < self.start:
            return None
        if now >= self.end:
            return self.target_percentage
        steps = math.floor((now - self.start) / timedelta(hours=self.increment_interval_hours))
        return min(self.target_percentage, self.initial_percentage + steps * self.increment_percentage)

    def to_dict(self) -> dict[str, Any]:
        """The schedule as it is written in a flag file."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "initial_percentage": self.initial_percentage,
            "target_percentage": self.target_percentage,
            "increment_percentage": self.increment_percentage,
            "increment_interval_hours": self.increment_interval_hours,
        }


@dataclass(frozen=True, slots=True)
class Flag:
    """One feature flag."""

    name: str
    state: FlagState = FlagState.ENABLED
    rollout_percentage: float = 100.0
    schedule: RolloutSchedule | None = None
    description: str = ""

    def percentage(self, now: datetime, *, environment: str = "development") -> float:
        """The share of installations (0-100) that have the feature at ``now`` in ``environment``."""
        if self.state is FlagState.DISABLED:
            return 0.0
        if self.state is FlagState.TESTING and environment == "production":
            return 0.0
        scheduled = self.schedule.percentage_at(now) if self.schedule is not None else None
        return self.rollout_percentage if scheduled is None else scheduled

    def enabled_for(self, install_id: str, now: datetime, *, environment: str = "development") -> bool:
        """Whether installation ``install_id`` has the feature."""
        return bucket(self.name, install_id) < self.percentage(now, environment=environment)

    def to_dict(self) -> dict[str, Any]:
        """The flag as it is written in a flag file."""
        out: dict[str, Any] = {"state": self.state.value, "rollout_percentage": self.rollout_percentage}
        if self.schedule is not None:
            out["schedule"] = self.schedule.to_dict()
        if self.description:
            out["description"] = self.description
        return out


def _flag(name: str, state: str, percent: float, description: str) -> Flag:
    return Flag(name, FlagState(state), float(percent), None, description)


DEFAULT_FLAGS: Mapping[str, Flag] = {
    f.name: f
    for f in (
        _flag("enhanced_error_context", "enabled", 100, "Enhanced error context capture"),
        _flag("missing_method_recovery", "testing", 10, "Automatic missing method recovery"),
        _flag("model_validation_recovery", "enabled", 50, "Model validation and recovery"),
        _flag("network_failure_recovery", "enabled", 100, "Network failure recovery"),
        _flag("dependency_recovery", "enabled", 75, "Dependency recovery"),
        _flag("pre_installation_validation", "enabled", 100, "Pre-installation validation"),
        _flag("diagnostic_monitoring", "testing", 20, "Diagnostic monitoring"),
        _flag("health_reporting", "enabled", 60, "Health reporting"),
        _flag("timeout_management", "enabled", 100, "Timeout management"),
        _flag("user_guidance_enhancements", "enabled", 80, "Enhanced user guidance"),
        _flag("intelligent_retry_system", "enabled", 100, "Intelligent retry system"),
        _flag("predictive_failure_analysis", "testing", 5, "Predictive failure analysis"),
    )
}
"""The seed's feature table (WAN2.2 reliability guide, "Available Features"), as shipped defaults."""


# -- parsing -----------------------------------------------------------------------------------------------------

_FLAG_KEYS = ("state", "rollout_percentage", "schedule", "description")
_SCHEDULE_KEYS = (
    "start",
    "end",
    "initial_percentage",
    "target_percentage",
    "increment_percentage",
    "increment_interval_hours",
)


def _bad(name: str, key: str, value: Any, source: str, allowed: str, problem: str = "") -> ConfigError:  # noqa: PLR0917 -- the facts of the message, in its order
    path = f"flags.{name}.{key}" if key else f"flags.{name}"
    what = problem or f"must be {allowed}"
    return ConfigError(
        f"flag {name!r}: {path}={value!r} from {source} {what}; fix: set {path} to {allowed}",
        field=path,
        value=value,
        source=source,
        allowed=allowed,
    )


def _percent(name: str, key: str, value: Any, source: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 <= value <= 100:
        raise _bad(name, key, value, source, "a number in 0..100")
    return float(value)


def _when(name: str, key: str, value: Any, source: str) -> datetime:
    allowed = "an ISO 8601 date-time such as '2025-01-01T00:00:00Z' (UTC when no offset is given)"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _bad(name, key, value, source, allowed) from None
    else:
        raise _bad(name, key, value, source, allowed)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unknown(name: str, prefix: str, keys: Any, known: tuple[str, ...], source: str) -> None:
    for key in keys:
        if key not in known:
            match = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise _bad(name, f"{prefix}{key}", "...", source, "one of " + ", ".join(known), f"is not a known key{hint}")


def _schedule(name: str, data: Any, source: str) -> RolloutSchedule:
    if not isinstance(data, Mapping):
        raise _bad(name, "schedule", data, source, "a table with " + ", ".join(_SCHEDULE_KEYS))
    _unknown(name, "schedule.", data, _SCHEDULE_KEYS, source)
    missing = [k for k in _SCHEDULE_KEYS if k not in data]
    if missing:
        raise _bad(
            name, "schedule", dict(data), source, "a table with " + ", ".join(_SCHEDULE_KEYS), f"lacks {missing}"
        )
    start = _when(name, "schedule.start", data["start"], source)
    end = _when(name, "schedule.end", data["end"], source)
    if end <= start:
        raise _bad(name, "schedule.end", data["end"], source, "a date-time after schedule.start")
    initial = _percent(name, "schedule.initial_percentage", data["initial_percentage"], source)
    target = _percent(name, "schedule.target_percentage", data["target_percentage"], source)
    if target < initial:
        raise _bad(name, "schedule.target_percentage", target, source, f"at least initial_percentage ({initial:g})")
    increment = _percent(name, "schedule.increment_percentage", data["increment_percentage"], source)
    interval = data["increment_interval_hours"]
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval <= 8760:
        raise _bad(name, "schedule.increment_interval_hours", interval, source, "a number of hours in (0, 8760]")
    return RolloutSchedule(start, end, initial, target, increment, float(interval))


def _parse_flag(name: Any, data: Any, source: str) -> Flag:
    if not isinstance(name, str) or not name.isidentifier():
        raise _bad(str(name), "", name, source, "a name of letters, digits and underscores", "is not a valid flag name")
    if not isinstance(data, Mapping):
        raise _bad(name, "", data, source, "a table with state and rollout_percentage")
    _unknown(name, "", data, _FLAG_KEYS, source)
    raw_state = data.get("state", "enabled")
    try:
        state = FlagState(raw_state)
    except ValueError:
        raise _bad(name, "state", raw_state, source, "one of enabled, disabled, testing") from None
    percent = _percent(name, "rollout_percentage", data.get("rollout_percentage", 100), source)
    schedule = _schedule(name, data["schedule"], source) if data.get("schedule") is not None else None
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _bad(name, "description", description, source, "a string")
    return Flag(name, state, percent, schedule, description)


# -- the flag set ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeatureFlags:
    """A set of flags, answered for one installation at a time; optionally over a :class:`ReliabilityConfig`.

    ``config`` supplies the hard switches (``features.enable_<name>``) and the environment
    (``deployment.environment``, which decides ``testing`` flags). ``now`` is injectable for schedules.
    """

    flags: Mapping[str, Flag] = field(default_factory=lambda: dict(DEFAULT_FLAGS))
    config: ReliabilityConfig | None = None
    source: str = "defaults"

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "argument", config: ReliabilityConfig | None = None
    ) -> FeatureFlags:
        """Flags from parsed data: ``{"flags": {name: {...}}}`` (the top-level ``flags`` table may be omitted)."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"flag data from {source} must be a table of flags, got {type(data).__name__}; "
                "fix: write {'flags': {'name': {'state': 'enabled'}}}",
                field="flags",
                value=data,
                source=source,
                allowed="a table of flags",
            )
        table = data.get("flags", data) if set(data) <= {"flags", "version"} else data
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"flags from {source} must be a table of flags, got {type(table).__name__}",
                field="flags",
                value=table,
                source=source,
                allowed="a table of flags",
            )
        parsed = {str(name): _parse_flag(name, body, source) for name, body in table.items() if name != "version"}
        return cls(parsed, config, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, config: ReliabilityConfig | None = None) -> FeatureFlags:
        """Read a ``.json`` or ``.toml`` flag file; one ConfigError naming the flag for any bad value."""
        data, source = read_config_file(path, what="flag file", shape=None)
        return cls.from_mapping(data, source=source, config=config)

    def with_config(self, config: ReliabilityConfig | None) -> FeatureFlags:
        """The same flags over another configuration."""
        return dataclasses.replace(self, config=config)

    @property
    def environment(self) -> str:
        """``deployment.environment`` of the config (``development`` without one)."""
        return self.config.deployment.environment if self.config is not None else "development"

    def _switch(self, name: str) -> bool | None:
        if self.config is None:
            return None
        value = getattr(self.config.features, _FEATURE_PREFIX + name, None)
        return value if isinstance(value, bool) else None

    def names(self) -> list[str]:
        """Every name :meth:`is_enabled` answers: the flags and the config's feature switches."""
        switches = []
        if self.config is not None:
            switches = [
                f.name[len(_FEATURE_PREFIX) :]
                for f in dataclasses.fields(self.config.features)
                if f.name.startswith(_FEATURE_PREFIX)
            ]
        return sorted(set(self.flags) | set(switches))

    def is_enabled(self, name: str, *, install_id: str, now: datetime | None = None) -> bool:
        """Whether installation ``install_id`` has feature ``name`` now. Unknown names raise ConfigError."""
        switch = self._switch(name)
        flag = self.flags.get(name)
        if flag is None and switch is None:
            known = self.names()
            match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ConfigError(
                f"unknown feature flag {name!r}{hint}; known: {', '.join(known)}",
                field=f"flags.{name}",
                value=name,
                source=self.source,
                allowed=", ".join(known),
            )
        if switch is False:
            return False
        if flag is None:
            return True
        return flag.enabled_for(install_id, now or datetime.now(UTC), environment=self.environment)

    def status(self, *, install_id: str, now: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Every flag's state, current percentage and this installation's answer (``get_all_flags_status``)."""
        moment = now or datetime.now(UTC)
        out: dict[str, dict[str, Any]] = {}
        for name in self.names():
            flag = self.flags.get(name)
            out[name] = {
                "state": flag.state.value if flag else "enabled",
                "percentage": flag.percentage(moment, environment=self.environment) if flag else 100.0,
                "config_switch": self._switch(name),
                "enabled": self.is_enabled(name, install_id=install_id, now=moment),
            }
        return out

    def apply(self, config: ReliabilityConfig, *, install_id: str, now: datetime | None = None) -> ReliabilityConfig:
        """``config`` with each ``features.enable_<name>`` set to this installation's answer, for a Runtime.

        >>> from resilience_core.config import ReliabilityConfig
        >>> off = FeatureFlags.from_mapping({"rollback": {"state": "disabled"}})
        >>> off.apply(ReliabilityConfig(), install_id="m1").features.enable_rollback
        False
        """
        over = self.with_config(config)
        changes = {
            f.name: over.is_enabled(f.name[len(_FEATURE_PREFIX) :], install_id=install_id, now=now)
            for f in dataclasses.fields(config.features)
            if f.name.startswith(_FEATURE_PREFIX)
        }
        features = dataclasses.replace(config.features, **changes)  # type: ignore[arg-type]  # every key is a bool field
        return dataclasses.replace(config, features=features)

    def to_dict(self) -> dict[str, Any]:
        """The flags as a flag file holds them (``{"flags": {...}}``)."""
        return {"flags": {name: flag.to_dict() for name, flag in sorted(self.flags.items())}}


def installation_id(path: str | os.PathLike[str]) -> str:
    """This installation's id, kept in ``path`` (created with a random UUID on first use, written atomically).

    >>> import tempfile, pathlib
    >>> where = pathlib.Path(tempfile.mkdtemp()) / "install-id"
    >>> installation_id(where) == installation_id(where)
    True
    """
    import uuid

    from resilience_core.state.atomic import atomic_write

    file = Path(path)
    try:
        existing = file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    new_id = str(uuid.uuid4())
    atomic_write(file, new_id + "\n")
    return new_id


def is_enabled(
    name: str,
    *,
    install_id: str,
    flags: FeatureFlags | str | os.PathLike[str] | None = None,
    config: ReliabilityConfig | None = None,
    now: datetime | None = None,
) -> bool:
    """Whether ``install_id`` has feature ``name`` (the seed's ``is_feature_enabled``).

    ``flags``: a :class:`FeatureFlags`, a flag file, or None for :data:`DEFAULT_FLAGS`; ``config`` adds the
    ``features.*`` switches and the environment.

    >>> is_enabled("network_failure_recovery", install_id="machine-1")
    True
    """
    if flags is None:
        chosen = FeatureFlags()
    elif isinstance(flags, FeatureFlags):
        chosen = flags
    else:
        chosen = FeatureFlags.load(flags)
    if config is not None:
        chosen = chosen.with_config(config)
    return chosen.is_enabled(name, install_id=install_id, now=now)
