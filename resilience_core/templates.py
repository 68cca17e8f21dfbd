"""Commented configuration templates (``resilience config template``): reliability, monitoring, flags, catalog.

The reliability template is generated from :class:`~resilience_core.config.ReliabilityConfig` itself (every
key, its default and its allowed range), so it cannot drift from what the loader accepts. Every template is
TOML, because TOML has comments; each one loads as it is written.

>>> "max_retries = 3" in template("reliability")
True
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from resilience_core.errors import ConfigError

__all__ = ["TEMPLATE_KINDS", "template"]

TEMPLATE_KINDS = ("reliability", "monitoring", "flags", "catalog")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _range(meta: Mapping[str, Any]) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{lo:g}..{hi:g}"
    return ""


_SECTION_NOTES = {
    "retry": "How failed steps are retried (exponential backoff with jitter).",
    "timeouts": "Deadline of each operation; <operation>_seconds bounds Runtime.run(operation=...).",
    "recovery": "Which recoveries run, where else to download from, and the strategies' knobs.",
    "monitoring": "Health monitoring; alert_thresholds are the critical levels (warning at 80% of each).",
    "features": "Hard switches: a feature off here stays off whatever its flag's rollout says.",
    "deployment": "Where the installer runs; environment decides whether 'testing' flags apply.",
}


def _reliability() -> str:
    from resilience_core.config.reliability import ReliabilityConfig

    config = ReliabilityConfig()
    lines = [
        "# Reliability configuration (resilience_core.ReliabilityConfig). Every key is optional: a missing key",
        "# keeps the default shown here. Override any key with RESILIENCE_<SECTION>_<KEY>, for example",
        "# RESILIENCE_RETRY_MAX_RETRIES=5. Load it with resilience_core.load_config('reliability_config.toml').",
    ]
    for section in dataclasses.fields(config):
        if section.name == "source":
            continue
        value = getattr(config, section.name)
        nested: list[tuple[str, Any]] = []
        lines += ["", f"# {_SECTION_NOTES.get(section.name, '')}", f"[{section.name}]"]
        for item in dataclasses.fields(value):
            current = getattr(value, item.name)
            if dataclasses.is_dataclass(current):
                nested.append((item.name, current))
                continue
            allowed = _range(item.metadata)
            if allowed:
                lines.append(f"# {allowed}")
            lines.append(f"{item.name} = {_toml_value(current)}")
        for name, sub in nested:
            lines += ["", f"[{section.name}.{name}]"]
            for item in dataclasses.fields(sub):
                allowed = _range(item.metadata)
                if allowed:
                    lines.append(f"# {allowed}")
                lines.append(f"{item.name} = {_toml_value(getattr(sub, item.name))}")
    return "\n".join(lines) + "\n"


_MONITORING = """\
# Monitoring (resilience monitor serve / resilience monitor check). Relative paths are taken from this
# file's folder. Without [[alert_thresholds]] the rules come from the reliability config's
# monitoring.alert_thresholds.
enabled = true
check_interval_seconds = 60
health_check_timeout_seconds = 30
# Samples older than this are dropped from the database.
metrics_retention_days = 30
database = "logs/metrics.db"
# Disk usage is sampled for each of these folders.
disk_paths = ["."]

# An alert fires when the newest sample and at least min_occurrences samples within the window cross a
# threshold; comparison_operator: greater_than, greater_equal, less_than, less_equal, equals, not_equals.
[[alert_thresholds]]
metric_name = "disk_usage_percent"
warning_threshold = 85.0
critical_threshold = 95.0
comparison_operator = "greater_than"
time_window_minutes = 5
min_occurrences = 3

[[alert_thresholds]]
metric_name = "error_rate"
warning_threshold = 0.05
critical_threshold = 0.1
comparison_operator = "greater_than"
time_window_minutes = 5
min_occurrences = 3

# Channels: log, webhook, email, and any type a plugin registers under "resilience.alert_channels".
[[alert_channels]]
name = "log"
type = "log"
enabled = true
configuration = { log_level = "ERROR" }

[[alert_channels]]
name = "slack"
type = "webhook"
enabled = false
# timeout_seconds bounds each POST; retries and retry_delay_seconds drive the backoff.
configuration = { url = "https://hooks.example.com/services/CHANGE/ME", timeout_seconds = 10, retries = 3 }

[[alert_channels]]
name = "email"
type = "email"
enabled = false

[alert_channels.configuration]
smtp_server = "localhost"
smtp_port = 587
starttls = true
from_email = "alerts@example.com"
to_emails = ["ops@example.com"]
# The name of the variable holding the password, so the password stays out of this file.
password_env = "RESILIENCE_SMTP_PASSWORD"

# HTTP endpoints to probe each tick (endpoint_up and response_time_ms samples).
# [[probes]]
# name = "hub"
# url = "https://huggingface.co/api/models/org/name"

# Push the gauges to a Prometheus pushgateway after each tick.
# [pushgateway]
# url = "http://127.0.0.1:9091"
# job = "resilience"
"""

_CATALOG = """\
# The models this installation needs (resilience models ..., /health/models). cache_dir is relative to
# this file's folder; sources are the hub first, then mirrors.
cache_dir = "models"
sources = ["https://huggingface.co"]

# critical = true: /health is 503 while this model is not verified or is marked corrupted.
[[models]]
repo_id = "org/model-name"
revision = "main"
critical = true
"""


def _flags() -> str:
    from resilience_core.flags import DEFAULT_FLAGS

    lines = [
        "# Feature flags (resilience_core.flags). state: enabled, disabled or testing (testing: only where",
        "# deployment.environment is not production). rollout_percentage: the share of installations that get",
        "# the feature, by a stable hash of the installation id, so a machine's answer never flickers.",
        "# A schedule raises the percentage over time:",
        "# schedule = { start = 2025-01-01T00:00:00Z, end = 2025-01-31T00:00:00Z, initial_percentage = 10.0,",
        "#              target_percentage = 100.0, increment_percentage = 10.0, increment_interval_hours = 24 }",
    ]
    for name, flag in sorted(DEFAULT_FLAGS.items()):
        lines += ["", f"[flags.{name}]", f'state = "{flag.state.value}"']
        lines.append(f"rollout_percentage = {flag.rollout_percentage:g}")
        lines.append(f"description = {json.dumps(flag.description)}")
    return "\n".join(lines) + "\n"


def template(kind: str) -> str:
    """The commented TOML template of ``kind`` (one of :data:`TEMPLATE_KINDS`)."""
    if kind == "reliability":
        return _reliability()
    if kind == "monitoring":
        return _MONITORING
    if kind == "flags":
        return _flags()
    if kind == "catalog":
        return _CATALOG
    raise ConfigError(
        f"template kind {kind!r} is unknown; fix: use one of {', '.join(TEMPLATE_KINDS)}",
        field="kind",
        value=kind,
        source="argument",
        allowed=", ".join(TEMPLATE_KINDS),
    )
