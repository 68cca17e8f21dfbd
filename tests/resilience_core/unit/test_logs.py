"""JSON-lines records, redaction, rotation, compression, retention and the recovery hook."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience_core.errors import ConfigError
from resilience_core.recovery.taxonomy import (
    AttemptEvent,
    ErrorContext,
    FailureEvent,
    FailureType,
    GaveUpEvent,
    RecoveredEvent,
    RecoveryResult,
    Severity,
)
from resilience_core.state.logs import (
    JsonLogHandler,
    RecoveryLogHook,
    get_logger,
    log_user_action,
    redact,
)

_counter = iter(range(10**6))


@pytest.fixture
def logger_name() -> str:
    """A fresh logger name per test (loggers are process-global)."""
    return f"test.logs.{next(_counter)}"


@pytest.fixture
def handler(tmp_path: Path, logger_name: str) -> Iterator[JsonLogHandler]:
    """A handler attached to the test's logger, closed afterwards."""
    handler = JsonLogHandler(tmp_path / "app.log", max_bytes=None, backup_count=None, compress=False)
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    handler.close()


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_record_has_the_documented_fields(handler: JsonLogHandler, logger_name: str) -> None:
    """Fast-path records carry timestamp, level, logger, message, known fields and context."""
    log = get_logger(logger_name, operation="model_download", correlation_id="c-42")
    log.warning("shard %d failed", 3, attempt=2, failure_type="network_timeout", bytes_done=1024)
    (record,) = records(Path(handler.path))
    assert record["timestamp"].endswith("Z")
    assert "T" in record["timestamp"]
    assert record["level"] == "WARNING"
    assert record["logger"] == logger_name
    assert record["message"] == "shard 3 failed"
    assert (record["operation"], record["correlation_id"], record["attempt"]) == ("model_download", "c-42", 2)
    assert record["failure_type"] == "network_timeout"
    assert record["context"] == {"bytes_done": 1024}


def test_stdlib_logger_path_writes_the_same_fields(handler: JsonLogHandler, logger_name: str) -> None:
    """A plain logging.getLogger(...).info(..., extra=...) produces the same shape as the fast path."""
    logging.getLogger(logger_name).info(
        "hello %s", "world", extra={"operation": "install", "context": {"k": "v"}, "attempt": 1}
    )
    get_logger(logger_name, operation="install").info("hello %s", "world", attempt=1, k="v")
    slow, fast = records(Path(handler.path))
    slow.pop("timestamp")
    fast.pop("timestamp")
    assert slow == fast


def test_other_handlers_still_get_a_log_record(
    handler: JsonLogHandler, logger_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-JSON handler on the same logger receives a normal LogRecord with the fields as attributes."""
    logging.getLogger(logger_name).addHandler(caplog.handler)
    try:
        get_logger(logger_name).error("boom", operation="x", detail=5)
    finally:
        logging.getLogger(logger_name).removeHandler(caplog.handler)
    (record,) = caplog.records
    assert record.getMessage() == "boom"
    assert record.operation == "x"  # type: ignore[attr-defined]
    assert record.context == {"detail": 5}  # type: ignore[attr-defined]
    assert len(records(Path(handler.path))) == 1


def test_levels_and_exceptions(handler: JsonLogHandler, logger_name: str) -> None:
    """Records below the logger level are dropped; exception() adds the traceback."""
    logging.getLogger(logger_name).setLevel(logging.INFO)
    log = get_logger(logger_name)
    log.debug("hidden")
    try:
        raise OSError(28, "No space left on device")
    except OSError:
        log.exception("write failed")
    (record,) = records(Path(handler.path))
    assert record["level"] == "ERROR"
    assert "OSError: [Errno 28] No space left on device" in record["exception"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token hf_AbCdEfGhIjKlMnOpQrSt used", "hf_AbCdEfGhIjKlMnOpQrSt"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "eyJhbGciOiJIUzI1NiJ9"),
        ("headers={'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ("login password=hunter2 ok", "hunter2"),
        ("api_key: sk-live-1234567890abcdef", "1234567890abcdef"),
        ("https://user:s3cret@mirror.example/simple", "s3cret"),
        ("ghp_0123456789abcdefABCDEF0123 leaked", "ghp_0123456789abcdef"),
    ],
)
def test_secrets_are_redacted_in_messages(handler: JsonLogHandler, logger_name: str, text: str, secret: str) -> None:
    """Tokens, Authorization/Bearer values, passwords and URL credentials never reach the file."""
    get_logger(logger_name).info(text)
    content = Path(handler.path).read_text()
    assert secret not in content
    assert "[REDACTED]" in content


def test_secrets_are_redacted_in_context_and_exceptions(handler: JsonLogHandler, logger_name: str) -> None:
    """Secret-named keys and secret-looking values in context and tracebacks are replaced."""
    log = get_logger(logger_name, headers={"Authorization": "Bearer abc123"}, password="pw")
    try:
        raise RuntimeError("auth failed for token=hf_ZZZZZZZZZZZZZZZZ")
    except RuntimeError:
        log.exception("request failed", url="https://u:pw2@host/x", note="plain")
    content = Path(handler.path).read_text()
    for secret in ("abc123", '"pw"', "pw2", "hf_ZZZZ"):
        assert secret not in content
    (record,) = records(Path(handler.path))
    assert record["context"]["note"] == "plain"


def test_redact_leaves_ordinary_text_alone() -> None:
    """Plain messages, including ones with dashes and colons, are unchanged."""
    for text in ("downloaded shard-3 of 10: ok", "retry in 2.5 s", "key count: 5"):
        assert redact(text) == text


def test_size_rotation_gzips_and_keeps_backup_count(tmp_path: Path, logger_name: str) -> None:
    """Rotation by size produces gzip files off the writing path, and retention keeps the newest N."""
    path = tmp_path / "r.log"
    handler = JsonLogHandler(path, max_bytes=2000, backup_count=3)
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.addHandler(handler)
    log = get_logger(logger_name)
    for i in range(400):
        log.warning("record %d", i)
    logger.removeHandler(handler)
    handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("r.log.") and p.name != "r.log.lock")
    assert len(rotated) == 3
    assert all(name.endswith(".gz") for name in rotated)
    kept = []
    for name in rotated:  # oldest first: the names sort by their rotation instant
        with gzip.open(tmp_path / name, "rt") as stream:
            kept.extend(json.loads(line) for line in stream)
    kept.extend(records(path))  # empty when the last record itself filled the file and rotated it
    numbers = [int(record["message"].split()[-1]) for record in kept]
    # the retained files and the live one hold one unbroken run of the newest records, ending with the last
    assert numbers == list(range(numbers[0], 400))
    assert numbers[0] > 0  # older files were deleted by retention


def test_age_rotation_and_age_retention_use_the_injected_clock(tmp_path: Path, logger_name: str) -> None:
    """A file older than max_age_s rotates at the next record; rotated files past retention_age_s go."""
    now = [1_000_000.0]
    path = tmp_path / "age.log"
    handler = JsonLogHandler(
        path,
        max_bytes=None,
        max_age_s=60,
        backup_count=None,
        retention_age_s=10**9,
        compress=False,
        now=lambda: now[0],
    )
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.addHandler(handler)
    log = get_logger(logger_name)
    log.warning("first")
    now[0] += 30
    log.warning("second")
    assert handler.appender.rotated_files() == []
    now[0] += 31
    log.warning("third")  # written, then the file is past its age and rotates
    assert len(handler.appender.rotated_files()) == 1
    log.warning("fourth")
    assert [r["message"] for r in records(path)] == ["fourth"]
    handler.appender.retention_age_s = 0
    now[0] += 10**10  # every rotated file is now far older than the retention age
    handler.appender.maintain()
    assert handler.appender.rotated_files() == []
    logger.removeHandler(handler)
    handler.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_bytes": "10MB"}, "max_bytes"),
        ({"backup_count": -1}, "backup_count"),
        ({"max_age_s": -5}, "max_age_s"),
        ({"retention_age_s": float("nan")}, "retention_age_s"),
    ],
)
def test_bad_rotation_settings_raise_config_error(tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    """Each invalid rotation setting raises one ConfigError naming the field and value; no file is created."""
    with pytest.raises(ConfigError, match=field) as info:
        JsonLogHandler(tmp_path / "x.log", **kwargs)
    assert info.value.field == field
    assert not (tmp_path / "x.log").exists()


def _context(attempt: int = 1) -> ErrorContext:
    return ErrorContext(
        FailureType.NETWORK_TIMEOUT,
        Severity.MEDIUM,
        error=TimeoutError("read timed out"),
        operation="model_download",
        attempt=attempt,
        correlation_id="corr-1",
        details={"path": "/models/x"},
    )


def test_recovery_hook_writes_one_record_per_event(handler: JsonLogHandler, logger_name: str) -> None:
    """failure, recovery_attempt, recovered and gave_up records carry operation, type, id and attempt."""
    hook = RecoveryLogHook(get_logger(logger_name))
    result = RecoveryResult(True, "retry", 0.5, "waited 0.5 s", system_changes={"endpoint": ["a", "b"]})
    failed = RecoveryResult(False, "guidance", user_message="Check your network", actionable_steps=("ping",))
    hook(FailureEvent(_context()))
    hook(AttemptEvent(_context(), result))
    hook(RecoveredEvent("model_download", "corr-1", 2, 1.25, (FailureType.NETWORK_TIMEOUT,), (result,), False))
    hook(GaveUpEvent(_context(3), failed))
    failure, attempt, recovered, gave_up = records(Path(handler.path))
    assert [r["context"]["event"] for r in (failure, attempt, recovered, gave_up)] == [
        "failure",
        "recovery_attempt",
        "recovered",
        "gave_up",
    ]
    assert failure["level"] == "WARNING"
    assert "TimeoutError: read timed out" in failure["message"]
    assert attempt["failure_type"] == "network_timeout"
    assert attempt["attempt"] == 1
    assert attempt["context"]["strategy"] == "retry"
    assert attempt["context"]["system_changes"] == {"endpoint": ["a", "b"]}
    assert recovered["attempt"] == 2
    assert recovered["context"]["strategies"] == ["retry"]
    assert gave_up["level"] == "ERROR"
    assert "Check your network" in gave_up["message"]
    assert gave_up["context"]["actionable_steps"] == ["ping"]
    assert all(r["correlation_id"] == "corr-1" for r in (failure, attempt, recovered, gave_up))


def test_log_user_action_writes_an_audit_record(handler: JsonLogHandler, logger_name: str) -> None:
    """log_user_action records the action and its details."""
    log_user_action("freed_disk", logger=get_logger(logger_name), path="/models", freed_bytes=10)
    (record,) = records(Path(handler.path))
    assert record["message"] == "user action: freed_disk"
    assert record["context"] == {"event": "user_action", "action": "freed_disk", "path": "/models", "freed_bytes": 10}


def test_bind_adds_context(handler: JsonLogHandler, logger_name: str) -> None:
    """bind() returns a logger whose records carry the extra context; the original is unchanged."""
    base = get_logger(logger_name, repo="org/model")
    base.bind(revision="main").info("a")
    base.info("b")
    first, second = records(Path(handler.path))
    assert first["context"] == {"repo": "org/model", "revision": "main"}
    assert second["context"] == {"repo": "org/model"}
