"""GuidanceStrategy: a message and steps for every failure type; critical failures stop the call safely."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from resilience_core import FakeClock, categorize
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.strategies.guidance import GUIDANCE, GuidanceStrategy, guidance_for
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, Severity


def attempt() -> Attempt:
    return Attempt(operation="op", params={}, max_attempts=3, clock=FakeClock(), started_s=0.0)


@pytest.mark.parametrize("failure_type", list(FailureType))
def test_every_failure_type_has_a_message_and_steps(failure_type: FailureType) -> None:
    """No failure type leaves the user without a sentence and at least one step."""
    message, steps = GUIDANCE[failure_type]
    assert message.endswith(".")
    assert steps
    result = guidance_for(ErrorContext(failure_type, Severity.MEDIUM))
    assert not result.success
    assert result.user_message
    assert result.actionable_steps
    assert result.requires_user_action


def test_critical_failure_is_a_safe_shutdown() -> None:
    """An I/O error (critical) stops the call and says nothing further was changed."""
    ctx = categorize(OSError(errno.EIO, "Input/output error"))
    a = attempt()
    result = GuidanceStrategy().recover(ctx, a)
    assert a.stop_reason
    assert result.system_changes == {"safe_shutdown": True}
    assert "stopped safely" in result.actionable_steps[0]


def test_status_and_path_are_mentioned() -> None:
    """The HTTP status is in the message and the file involved in the steps."""
    ctx = ErrorContext(FailureType.HTTP_ERROR, Severity.HIGH, details={"http_status": 404, "path": "/m/x.bin"})
    result = guidance_for(ctx)
    assert "(HTTP 404)" in result.user_message
    assert "File involved: /m/x.bin" in result.actionable_steps


def test_disk_full_names_the_file_and_what_is_free(tmp_path: Path) -> None:
    """ENOSPC on a known file: the message names the file and the free space of its disk, the step install_dir."""
    target = tmp_path / "models" / "model.safetensors"
    ctx = categorize(OSError(errno.ENOSPC, "No space left on device", str(target)))
    result = guidance_for(ctx)
    assert result.user_message.startswith(f"The disk holding {target} is full (")
    assert " free)." in result.user_message
    assert "install_dir" in result.actionable_steps[0]


def test_a_missing_file_says_which_file() -> None:
    """FileNotFoundError with a path names the file instead of "An unexpected error happened"."""
    ctx = categorize(FileNotFoundError(errno.ENOENT, "No such file or directory", "/opt/app/app.toml"))
    result = guidance_for(ctx)
    assert result.user_message == "The file /opt/app/app.toml does not exist."


def test_generic_texts_are_used_when_nothing_specific_is_known() -> None:
    """A context with no details falls back to GUIDANCE, which still names a setting to change."""
    result = guidance_for(ErrorContext(FailureType.MODEL_LOADING_TIMEOUT, Severity.MEDIUM))
    assert result.user_message == GUIDANCE[FailureType.MODEL_LOADING_TIMEOUT][0]
    assert "timeouts.validation_seconds" in " ".join(result.actionable_steps)
