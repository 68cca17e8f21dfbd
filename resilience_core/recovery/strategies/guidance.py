"""Tell a person what happened and what to do: fills ``user_message`` and ``actionable_steps``; never retries.

For a critical failure it returns a safe-shutdown result (``requires_user_action=True`` and the call stops), so
an installer stops touching a failing disk or a lost GPU instead of making things worse.

>>> from resilience_core.recovery.categorize import categorize
>>> guidance_for(categorize(OSError(28, "No space left on device"))).user_message
'The disk is full.'
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult, Severity

__all__ = ["GUIDANCE", "GuidanceStrategy", "guidance_for"]

F = FailureType

GUIDANCE: Mapping[FailureType, tuple[str, tuple[str, ...]]] = {
    F.NETWORK_CONNECTIVITY_LOSS: (
        "The connection to the download server was lost.",
        ("Check your internet connection.", "Retry the installation; finished files are kept."),
    ),
    F.NETWORK_TIMEOUT: (
        "The download server did not answer in time.",
        ("Check your connection speed.", "Retry later or raise timeouts.*_seconds in the reliability config."),
    ),
    F.BANDWIDTH_LIMITATION: (
        "The server is limiting how fast or how often we may download.",
        ("Wait a few minutes and retry.", "Set an access token (HF_TOKEN) if the server requires one."),
    ),
    F.HTTP_ERROR: (
        "The download server answered with an error.",
        ("Check that the model name and revision exist.", "Retry later if the server reported an outage."),
    ),
    F.MODEL_DOWNLOAD_FAILURE: (
        "A model file could not be downloaded.",
        ("Check the model name and revision.", "Retry the installation; finished files are kept."),
    ),
    F.MODEL_CORRUPTION_DETECTED: (
        "A model file is damaged.",
        ("Delete the damaged file and run the installer again.", "Check the disk for errors if this repeats."),
    ),
    F.MODEL_INTEGRITY_FAILURE: (
        "A model file does not match its expected checksum.",
        ("Run the installer again to re-download it.", "Check the disk and network if this repeats."),
    ),
    F.MODEL_VERSION_MISMATCH: (
        "The requested model revision does not exist.",
        ("Check the revision (branch, tag or commit) in your configuration.",),
    ),
    F.MODEL_LOADING_TIMEOUT: (
        "Loading the model took too long.",
        ("Close other programs using the GPU or disk.", "Raise timeouts.validation_seconds in the config."),
    ),
    F.MODEL_COMPATIBILITY_ERROR: (
        "The model is not compatible with this installation.",
        ("Update the application, or choose a model version it supports.",),
    ),
    F.VRAM_EXHAUSTION: (
        "The GPU ran out of memory.",
        ("Close other programs using the GPU.", "Choose a lower quality preset or a smaller batch size."),
    ),
    F.RAM_EXHAUSTION: (
        "The computer ran out of memory.",
        ("Close other programs.", "Choose a lower quality preset."),
    ),
    F.STORAGE_SPACE_INSUFFICIENT: (
        "The disk is full.",
        ("Free disk space (empty the trash, remove old downloads).", "Or choose a folder on a larger disk."),
    ),
    F.PERMISSION_DENIED: (
        "Permission was denied.",
        ("Check that you can write to the install folder.", "Set an access token if the model is gated."),
    ),
    F.DEPENDENCY_MISSING: (
        "A required package is missing or has no version for this system.",
        ("Check your Python version and platform.", "Install the package by hand and run the installer again."),
    ),
    F.DEPENDENCY_INSTALL_FAILURE: (
        "A package failed to install.",
        ("Read the pip output above for the cause.", "Retry with a working connection."),
    ),
    F.LOCK_CONTENTION: (
        "Another installer is using the same files.",
        ("Wait for the other installer to finish, or stop it.", "Remove stale *.lock files if none runs."),
    ),
    F.INVALID_PARAMETERS: (
        "A setting is invalid.",
        ("Fix the setting named in the error and run again.",),
    ),
    F.UNSUPPORTED_OPERATION: (
        "This operation is not supported here.",
        ("Choose another option or update the application.",),
    ),
    F.HARDWARE_OPTIMIZATION_FAILURE: (
        "The GPU could not be used.",
        ("Install or update the GPU driver.", "Restart the computer if the GPU disappeared."),
    ),
    F.GENERATION_PIPELINE_ERROR: (
        "The generation pipeline failed.",
        ("Retry with default settings.", "Report the error with the log file if it repeats."),
    ),
    F.SYSTEM_RESOURCE_ERROR: (
        "The system ran out of a resource or reported a hardware error.",
        ("Save your work and check the disk and system logs.", "Restart the computer and retry."),
    ),
    F.UNKNOWN: (
        "An unexpected error happened.",
        ("Retry the installation.", "If it fails again, report the error together with the log file."),
    ),
}


def guidance_for(ctx: ErrorContext, *, strategy: str = "guidance") -> RecoveryResult:
    """The user-facing result for ``ctx``: message and steps; critical failures get a safe shutdown."""
    message, steps = GUIDANCE.get(ctx.failure_type, GUIDANCE[F.UNKNOWN])
    status = ctx.details.get("http_status")
    if status is not None:
        message = f"{message} (HTTP {status})"
    path = ctx.details.get("path")
    if isinstance(path, str) and path:
        steps = (*steps, f"File involved: {path}")
    critical = ctx.severity is Severity.CRITICAL
    if critical:
        steps = ("The installer stopped safely to avoid damage; nothing further was changed.", *steps)
    raw = ctx.details.get("raw_type", type(ctx.error).__name__ if ctx.error is not None else "")
    return RecoveryResult(
        False,
        strategy,
        message=f"{ctx.failure_type.value}: {raw}: {ctx.details.get('raw_message', '')}".strip(),
        user_message=message,
        actionable_steps=steps,
        requires_user_action=True,
        system_changes={"safe_shutdown": True} if critical else {},
    )


class GuidanceStrategy:
    """The last entry of every plan: explains the failure; stops the call for critical severity."""

    name = "guidance"

    def can_handle(self, ctx: ErrorContext) -> bool:
        return True

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        result = guidance_for(ctx, strategy=self.name)
        if ctx.severity is Severity.CRITICAL:
            attempt.give_up("critical failure: safe shutdown")
        return result
