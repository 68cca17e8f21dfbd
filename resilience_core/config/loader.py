"""Reading and validating the reliability config: presets, file values and env overrides, checked.

Every problem becomes one :class:`ConfigError` naming the dotted field, the value, its source and the allowed
range; unknown keys suggest the closest known one (difflib).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from resilience_core.config.sections import (
    ENV_PREFIX,
    LEVEL_PRESETS,
    RELIABILITY_LEVELS,
    SECTIONS,
    AlertThresholds,
    TimeoutsConfig,
)
from resilience_core.documents import read_document
from resilience_core.errors import ConfigError, InputError

__all__ = ["build_sections", "read_config_file"]

_SECTIONS = SECTIONS
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# Env values are text a person typed: plain ASCII decimal only. Python's int()/float() also take "1_0", full-width
# digits (U+FF11 U+FF10), "inf" and "nan", which would turn a typo into a setting.
_ENV_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_ENV_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_ENV_NUMBER_DIGITS = 32
_SHOWN_CHARS = 60


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _shown(value: Any) -> str:
    """``repr(value)``, shortened: a 400-digit number or a 1 MB string must not become a 1 MB error line."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits() cannot even be printed
        return "<an integer too large to print>"
    if len(text) > _SHOWN_CHARS:
        unit = "digits" if isinstance(value, int) else "chars"
        return f"{text[:20]}...({len(text)} {unit})"
    return text


def _fail(path: str, value: Any, source: str, allowed: str, problem: str = "") -> ConfigError:
    what = problem or f"must be {allowed}"
    return ConfigError(
        f"{path}={_shown(value)} from {source} {what}; fix: set {path} to {allowed}",
        field=path,
        value=value,
        source=source,
        allowed=allowed,
    )


def _allowed(tp: Any, meta: Mapping[str, Any]) -> str:
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices") or ()
    if choices:
        return "one of " + ", ".join(choices)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if meta.get("urls"):
        return "a list of strings, each an http:// or https:// URL with a host"
    base = names.get(tp, "a list of strings" if tp == tuple[str, ...] else "a table of numbers")
    if lo is not None and hi is not None:
        return f"{base} in {lo:g}..{hi:g}"
    return base


def _convert(path: str, value: Any, tp: Any, meta: Mapping[str, Any], *, source: str, from_env: bool) -> Any:
    allowed = _allowed(tp, meta)
    if tp is bool:
        if from_env and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, bool):
            return value
        raise _fail(path, value, source, allowed)
    if tp is int or tp is float:
        number: Any = value
        if from_env and isinstance(value, str):
            text = value.strip()
            pattern = _ENV_INT if tp is int else _ENV_FLOAT
            if not pattern.fullmatch(text) or len(text) > _ENV_NUMBER_DIGITS:
                raise _fail(path, value, source, allowed, f"is not a plain decimal number; must be {allowed}")
            number = int(text) if tp is int else float(text)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _fail(path, value, source, allowed)
        if tp is int and not isinstance(number, int):
            raise _fail(path, value, source, allowed)
        # isfinite() on a huge int raises OverflowError; ints are finite, and the range check below bounds them.
        if isinstance(number, float) and not math.isfinite(number):
            raise _fail(path, value, source, allowed)
        lo, hi = meta.get("lo"), meta.get("hi")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise _fail(path, value, source, allowed)
        return int(number) if tp is int else float(number)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, value, source, allowed)
        choices = meta.get("choices") or ()
        if choices and value not in choices:
            raise _fail(path, value, source, allowed, f"must be {allowed}{_closest(value, list(choices))}")
        return value
    if tp == tuple[str, ...]:
        items: tuple[str, ...]
        if from_env and isinstance(value, str):
            items = tuple(part.strip() for part in value.split(",") if part.strip())
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            items = tuple(value)
        else:
            raise _fail(path, value, source, allowed)
        if meta.get("urls"):
            for url in items:
                problem = _url_problem(url)
                if problem:
                    raise _fail(path, url, source, allowed, f"{problem}; must be {allowed}")
        return items
    # dict[str, float]: context multipliers
    if not isinstance(value, Mapping):
        raise _fail(path, value, source, allowed)
    return {str(k): _convert(f"{path}.{k}", v, float, meta, source=source, from_env=from_env) for k, v in value.items()}


def _url_problem(url: str) -> str:
    """Why ``url`` is not a usable http(s) source URL, or "" when it is."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "contains a space or a control character"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "names port 0"
    return ""


def _apply_section(
    values: dict[str, dict[str, Any]], section: str, data: Any, source: str, *, from_env: bool = False
) -> None:
    cls = _SECTIONS[section]
    if not isinstance(data, Mapping):
        raise _fail(section, data, source, "a table of settings", "must be a table of settings")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        path = f"{section}.{key}"
        if key not in fields:
            raise ConfigError(
                f"unknown key {path!r} from {source}{_closest(str(key), list(fields))}; "
                f"known keys: {', '.join(fields)}",
                field=path,
                value=value,
                source=source,
                allowed=", ".join(fields),
            )
        _apply_value(
            values[section], path, key, value, hints[key], meta=fields[key].metadata, source=source, from_env=from_env
        )


def _apply_value(
    target: dict[str, Any],
    path: str,
    key: str,
    value: Any,
    tp: Any,
    *,
    meta: Mapping[str, Any],
    source: str,
    from_env: bool,
) -> None:
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _fail(path, value, source, "a table of settings", "must be a table of settings")
        hints = get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        sub = target.setdefault(key, {})
        for sub_key, sub_value in value.items():
            sub_path = f"{path}.{sub_key}"
            if sub_key not in fields:
                raise ConfigError(
                    f"unknown key {sub_path!r} from {source}{_closest(str(sub_key), list(fields))}",
                    field=sub_path,
                    value=sub_value,
                    source=source,
                    allowed=", ".join(fields),
                )
            sub[sub_key] = _convert(
                sub_path, sub_value, hints[sub_key], fields[sub_key].metadata, source=source, from_env=from_env
            )
        return
    converted = _convert(path, value, tp, meta, source=source, from_env=from_env)
    if isinstance(converted, dict):
        target[key] = {**target.get(key, {}), **converted}
    else:
        target[key] = converted


def _env_overrides(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            continue  # RESILIENCE_* variables of other parts (logs, harness) are not config overrides
        source = f"env:{name}"
        key = rest[len(section) + 1 :]
        cls = _SECTIONS[section]
        hints = get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        raw = env[name]
        if key in fields and not dataclasses.is_dataclass(hints[key]) and hints[key] != dict[str, float]:
            _apply_value(
                values[section],
                f"{section}.{key}",
                key,
                raw,
                hints[key],
                meta=fields[key].metadata,
                source=source,
                from_env=True,
            )
            continue
        nested = next((f for f in fields if key.startswith(f + "_") and f in hints), None)
        if nested is not None and (dataclasses.is_dataclass(hints[nested]) or hints[nested] == dict[str, float]):
            sub_key = key[len(nested) + 1 :]
            path = f"{section}.{nested}"
            _apply_value(
                values[section],
                path,
                nested,
                {sub_key: raw},
                hints[nested],
                meta=fields[nested].metadata,
                source=source,
                from_env=True,
            )
            continue
        raise ConfigError(
            f"unknown key {section}.{key!s} from {source}{_closest(key, list(fields))}; "
            f"known keys: {', '.join(fields)}",
            field=f"{section}.{key}",
            value=raw,
            source=source,
            allowed=", ".join(fields),
        )


def _origin(section: str, key: str, data: Mapping[str, Any], env: Mapping[str, str], *, level: str, source: str) -> str:
    """Where the final value of ``section.key`` came from: env beats the file, the file beats the level preset."""
    name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
    if name in env:
        return f"env:{name}"
    section_data = data.get(section)
    if isinstance(section_data, Mapping) and key in section_data:
        return source
    if key in LEVEL_PRESETS[level].get(section, {}):
        return f"level:{level}"
    return "defaults"


def build_sections(data: Any, *, source: str, env: Mapping[str, str], level: str | None) -> dict[str, Any]:
    """Validate ``data`` over the level preset, then apply ``env``; each section built, or one ConfigError."""
    if not isinstance(data, Mapping):
        raise _fail("<root>", data, source, "a table of sections", "must be a table of sections")
    for section in data:
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section {section!r} from {source}{_closest(str(section), list(_SECTIONS))}; "
                f"known sections: {', '.join(_SECTIONS)}",
                field=str(section) or "<empty section name>",
                value=data[section],
                source=source,
                allowed=", ".join(_SECTIONS),
            )
    # The level decides the preset under the file's own values, so find it first (argument > env > file).
    meta = {"choices": RELIABILITY_LEVELS}
    features = data.get("features")
    chosen, level_source = "standard", "defaults"
    if isinstance(features, Mapping) and "reliability_level" in features:
        chosen, level_source = features["reliability_level"], source
    env_name = f"{ENV_PREFIX}FEATURES_RELIABILITY_LEVEL"
    if env_name in env:
        chosen, level_source = env[env_name], f"env:{env_name}"
    if level is not None:
        chosen, level_source = level, "argument"
    chosen = _convert("features.reliability_level", chosen, str, meta, source=level_source, from_env=False)
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for section, overrides in LEVEL_PRESETS[chosen].items():
        _apply_section(values, section, overrides, f"level:{chosen}")
    for section, section_data in data.items():
        _apply_section(values, section, section_data, source)
    _env_overrides(values, env)
    values["features"]["reliability_level"] = chosen
    built: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        section_values = dict(values[name])
        if name == "monitoring" and "alert_thresholds" in section_values:
            section_values["alert_thresholds"] = AlertThresholds(**section_values["alert_thresholds"])
        if name == "timeouts" and "context_multipliers" in section_values:
            defaults = TimeoutsConfig().context_multipliers
            section_values["context_multipliers"] = {**defaults, **section_values["context_multipliers"]}
        built[name] = cls(**section_values)
    retry = built["retry"]
    if retry.base_delay_seconds > retry.max_delay_seconds:
        max_from = _origin("retry", "max_delay_seconds", data, env, level=chosen, source=source)
        raise _fail(
            "retry.base_delay_seconds",
            retry.base_delay_seconds,
            _origin("retry", "base_delay_seconds", data, env, level=chosen, source=source),
            f"at most retry.max_delay_seconds ({retry.max_delay_seconds:g} from {max_from})",
        )
    return built


_SECTIONS_SHAPE = "an object with sections retry, timeouts, recovery, monitoring, features, deployment"


def read_config_file(
    path: str | os.PathLike[str], *, what: str = "config file", shape: str | None = _SECTIONS_SHAPE
) -> tuple[Any, str]:
    """The parsed contents of a ``.json`` or ``.toml`` settings file and its source name; one ConfigError otherwise.

    The file is read with the limits of :func:`resilience_core.read_document` (size, nesting depth, UTF-8), so a
    huge, deep or binary file is one ConfigError, never a RecursionError or UnicodeDecodeError. ``what`` names the
    file in messages (``"flag file"``, ``"catalog"``); ``shape``, when given, requires a top-level table and says
    what it should hold (None: the caller checks the shape itself).
    """
    file = Path(path)
    kind = "TOML" if file.suffix.lower() == ".toml" else "JSON"
    try:
        data: Any = read_document(file, kind=kind.lower())
    except InputError as exc:
        reason = exc.reason or "invalid"
        raise ConfigError(
            f"{what} {exc}" + ("" if "fix:" in str(exc) else f"; fix: give valid {kind}"),
            field="<file>",
            value=str(file),
            source=str(file),
            allowed=f"a readable UTF-8 {kind} file within the size and depth limits ({reason})",
        ) from None
    if shape is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{what} {str(file)!r} must hold {shape}, got {type(data).__name__}",
            field="<root>",
            value=data,
            source=str(file),
            allowed=shape,
        )
    return data, str(file)
