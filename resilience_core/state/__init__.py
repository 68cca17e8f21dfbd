"""Durable install state: snapshots and restore, integrity checks, structured rotating logs.

Facade only: every public name is re-exported from the module that owns it.
"""

from __future__ import annotations

from resilience_core.state.atomic import atomic_open, atomic_write, publish_file
from resilience_core.state.integrity import (
    FileRecord,
    Manifest,
    Mismatch,
    TensorInfo,
    VerifyReport,
    hash_file,
    sniff_placeholder,
    validate_file,
    validate_json,
    validate_safetensors,
)
from resilience_core.state.logs import (
    JsonFormatter,
    JsonLogHandler,
    RecoveryLogHook,
    StructuredLogger,
    get_logger,
    log_recovery_attempt,
    log_user_action,
    redact,
)
from resilience_core.state.snapshot import Snapshot, StateStore

__all__ = [
    "FileRecord",
    "JsonFormatter",
    "JsonLogHandler",
    "Manifest",
    "Mismatch",
    "RecoveryLogHook",
    "Snapshot",
    "StateStore",
    "StructuredLogger",
    "TensorInfo",
    "VerifyReport",
    "atomic_open",
    "atomic_write",
    "get_logger",
    "hash_file",
    "log_recovery_attempt",
    "log_user_action",
    "publish_file",
    "redact",
    "sniff_placeholder",
    "validate_file",
    "validate_json",
    "validate_safetensors",
]
