"""How advice names things: the host, the download source setting, the timeout setting, the repository, the file,
a size in bytes. Shared by :mod:`.advice` and :mod:`.advice_network`."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from resilience_core.config import TimeoutsConfig
from resilience_core.recovery.taxonomy import ErrorContext

__all__ = [
    "MIRROR",
    "RETRIES",
    "Advice",
    "cap",
    "file_of",
    "format_bytes",
    "free_bytes_near",
    "host_label",
    "is_pip",
    "origin",
    "repo_of",
    "source_setting",
    "timeout_setting",
]

Advice = tuple[str, tuple[str, ...]]
"""A message and the steps that go with it."""

_TIMEOUT_FIELDS = frozenset(f.name for f in fields(TimeoutsConfig) if f.name.endswith("_seconds"))
RETRIES = "raise retry.max_retries (RESILIENCE_RETRY_MAX_RETRIES) in the reliability config to keep trying longer"
MIRROR = "add a mirror to recovery.alternative_sources so the installer can switch to it"
_REPO_IN_URL = re.compile(r"https?://[^/]+/(?:api/models/|models/)?([\w.-]+/[\w.-]+)/(?:resolve|revision|tree)/")
_REPO_IN_TEXT = re.compile(r"(?:Access to model|Repo model|gated repo[^.]*?for url \S+?/)\s*([\w.-]+/[\w.-]+)")


def format_bytes(count: int) -> str:
    """``1610612736`` -> ``'1.5 GiB'``: binary units, one decimal, bytes below 1 KiB.

    >>> format_bytes(576 << 20), format_bytes(12)
    ('576.0 MiB', '12 bytes')
    """
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover -- the loop returns at TiB


def host_label(details: Mapping[str, Any]) -> str:
    """``the server at huggingface.co:443``, or ``the server`` when no host is known (lowercase: starts a clause)."""
    host = details.get("host")
    if not isinstance(host, str) or not host:
        return "the server"
    port = details.get("port")
    return f"the server at {host}:{port}" if isinstance(port, int) else f"the server at {host}"


def is_pip(ctx: ErrorContext) -> bool:
    rule = str(ctx.details.get("rule", ""))
    if rule.startswith("pip-") or ctx.operation == "dependency_install":
        return True
    cmd = getattr(ctx.error, "cmd", None)
    return "pip" in (" ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd or ""))


def source_setting(ctx: ErrorContext) -> str:
    """The setting that says where to download from, for this operation."""
    if is_pip(ctx):
        return "--index-url (index_url in the installer's config)"
    if ctx.operation is not None and ctx.operation.startswith("model"):
        return "HF_ENDPOINT (or the installer's model sources)"
    return "HF_ENDPOINT (models) or --index-url (packages)"


def timeout_setting(ctx: ErrorContext) -> str:
    if is_pip(ctx):
        return "pip's --timeout (timeout_s in the installer's config) and timeouts.dependency_install_seconds"
    name = f"{ctx.operation}_seconds" if ctx.operation else ""
    if name in _TIMEOUT_FIELDS:
        return f"timeouts.{name} (RESILIENCE_TIMEOUTS_{name.upper()})"
    return "timeouts.<operation>_seconds (for example timeouts.model_download_seconds)"


def repo_of(ctx: ErrorContext) -> str | None:
    for text in (str(ctx.details.get("url", "")), str(ctx.details.get("raw_message", ""))):
        match = _REPO_IN_URL.search(text) or _REPO_IN_TEXT.search(text)
        if match is not None:
            return match.group(1)
    return None


def file_of(ctx: ErrorContext) -> str | None:
    path = ctx.details.get("path")
    if isinstance(path, str) and path:
        return path
    for attr in ("entry", "lock_file", "filename"):
        value = getattr(ctx.error, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def free_bytes_near(path: str) -> int | None:
    where = os.path.abspath(path)
    while where and not os.path.isdir(where):
        parent = os.path.dirname(where)
        if parent == where:
            return None
        where = parent
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


def origin(details: Mapping[str, Any]) -> str:
    url = details.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return "https://huggingface.co"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]
