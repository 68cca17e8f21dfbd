"""The harness settings and where each comes from: command line > environment > ini file > default.

=============  =====================  ===================  ======================  ============================
setting        command line           environment          ini key                 default
=============  =====================  ===================  ======================  ============================
seed           ``--chaos-seed N``     ``CHAOS_SEED``       ``chaos_seed``          random, printed in the header
trials         ``--chaos-trials N``   ``CHAOS_TRIALS``     ``chaos_trials``        the marker's ``trials`` (50)
report dir     ``--chaos-report D``   ``CHAOS_REPORT``     ``chaos_report``        none (no files written)
shard          ``--chaos-shard I/N``  ``CHAOS_SHARD``      ``chaos_shard``         ``1/1``
toxiproxy url  ``--toxiproxy-url U``  ``CHAOS_TOXIPROXY_URL``  ``chaos_toxiproxy_url``  the embedded proxy
=============  =====================  ===================  ======================  ============================

A ``trials`` setting overrides every marker's ``trials``, ``"auto"`` included, and gates on the point estimate
unless the marker names its ``gate`` (handy for a quick smoke run: ``CHAOS_TRIALS=3``).
"""

from __future__ import annotations

import pathlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from chaos.errors import ChaosError

__all__ = ["SETTINGS", "ChaosSettings", "SettingError", "resolve_settings"]

# name -> (command-line flag, environment variable, ini key)
SETTINGS: dict[str, tuple[str, str, str]] = {
    "seed": ("--chaos-seed", "CHAOS_SEED", "chaos_seed"),
    "trials": ("--chaos-trials", "CHAOS_TRIALS", "chaos_trials"),
    "report": ("--chaos-report", "CHAOS_REPORT", "chaos_report"),
    "shard": ("--chaos-shard", "CHAOS_SHARD", "chaos_shard"),
    "toxiproxy_url": ("--toxiproxy-url", "CHAOS_TOXIPROXY_URL", "chaos_toxiproxy_url"),
}


class SettingError(ChaosError, ValueError):
    """A setting has a bad value; the message names where it came from and the fix."""


@dataclass(frozen=True, slots=True)
class ChaosSettings:
    """Resolved harness settings; ``seed_source`` says where the seed came from (``"random"`` if drawn)."""

    seed: int
    seed_source: str
    trials: int | None = None
    report_dir: pathlib.Path | None = None
    shard_index: int = 1
    shard_count: int = 1
    toxiproxy_url: str | None = None


def _pick(name: str, cli: Mapping[str, object], env: Mapping[str, str], ini: Mapping[str, object]) -> tuple[str, str]:
    flag, env_var, ini_key = SETTINGS[name]
    value = cli.get(name)
    if value is not None:
        return str(value), flag
    if env.get(env_var, "").strip():
        return env[env_var].strip(), f"${env_var}"
    value = ini.get(name)
    if value not in (None, ""):
        return str(value).strip(), f"ini {ini_key}"
    return "", ""


def _fix(source: str, example: str) -> str:
    if source.startswith("$"):
        return f"fix: set e.g. {source[1:]}={example}"
    if source.startswith("ini "):
        return f"fix: set e.g. {source[4:]} = {example} in the ini file"
    return f"fix: pass e.g. {source}={example}"


def _int(name: str, text: str, source: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SettingError(f"{source}={text!r} must be an integer >= {minimum}; {_fix(source, str(max(minimum, 1)))}")
    return value


def _check_report_dir(path: pathlib.Path, text: str, source: str) -> None:
    """Refuse a report "directory" that is a file (or lies under one) now, not after every trial has run."""
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = "is a file" if candidate == path else f"is under the file {str(candidate)!r}"
                message = f"{source}={text!r} {where}, not a directory; {_fix(source, 'reports')}"
                raise SettingError(message)
            return


def resolve_settings(cli: Mapping[str, object], env: Mapping[str, str], ini: Mapping[str, object]) -> ChaosSettings:
    """Resolve every setting by precedence; a bad value raises SettingError naming its source and the fix.

    >>> resolve_settings({"seed": 3}, {"CHAOS_SEED": "4"}, {"seed": "5"}).seed
    3
    """
    text, source = _pick("seed", cli, env, ini)
    if text:
        seed, seed_source = _int("seed", text, source, 0), source
    else:
        seed, seed_source = secrets.randbelow(2**32), "random"
    trials = None
    text, source = _pick("trials", cli, env, ini)
    if text:
        trials = _int("trials", text, source, 1)
    text, source = _pick("report", cli, env, ini)
    report_dir = pathlib.Path(text) if text else None
    if report_dir is not None:
        _check_report_dir(report_dir, text, source)
    shard_index, shard_count = 1, 1
    text, source = _pick("shard", cli, env, ini)
    if text:
        parts = text.split("/")
        ok = len(parts) == 2 and all(part.strip().isdigit() for part in parts)
        if ok:
            shard_index, shard_count = int(parts[0]), int(parts[1])
        if not ok or not 1 <= shard_index <= shard_count:
            raise SettingError(f"{source}={text!r} must be I/N with 1 <= I <= N; {_fix(source, '1/2')}")
    text, source = _pick("toxiproxy_url", cli, env, ini)
    toxiproxy_url = None
    if text:
        if not text.startswith(("http://", "https://")):
            example = "http://127.0.0.1:8474"
            raise SettingError(f"{source}={text!r} must be an http(s) URL; {_fix(source, example)}")
        toxiproxy_url = text.rstrip("/")
    return ChaosSettings(
        seed=seed,
        seed_source=seed_source,
        trials=trials,
        report_dir=report_dir,
        shard_index=shard_index,
        shard_count=shard_count,
        toxiproxy_url=toxiproxy_url,
    )
