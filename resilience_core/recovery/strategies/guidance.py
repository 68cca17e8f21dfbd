"""Tell a person what happened and what to do: fills ``user_message`` and ``actionable_steps``; never retries.

For a critical failure it returns a safe-shutdown result (``requires_user_action=True`` and the call stops), so
an installer stops touching a failing disk or a lost GPU instead of making things worse.

>>> from resilience_core.recovery.categorize import categorize
>>> guidance_for(categorize(OSError(28, "No space left on device"))).user_message
'The disk is full.'
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience_core.recovery.strategies.advice import advice_for
from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult, Severity

__all__ = ["GUIDANCE", "GuidanceStrategy", "guidance_for"]

F = FailureType

GUIDANCE: Mapping[FailureType, tuple[str, tuple[str, ...]]] = {
    F.NETWORK_CONNECTIVITY_LOSS: (
        "The connection to the download server was lost.",
        (
            "Retry: finished files are kept and partial downloads resume.",
            (
                "If this repeats, raise retry.max_retries in the reliability config or add a mirror to "
                "recovery.alternative_sources."
            ),
        ),
    ),
    F.NETWORK_TIMEOUT: (
        "The download server did not answer in time.",
        ("Check your connection speed.", "Raise timeouts.<operation>_seconds in the reliability config."),
    ),
    F.BANDWIDTH_LIMITATION: (
        "The server is limiting how fast or how often we may download.",
        ("Wait a few minutes and retry.", "Set an access token (HF_TOKEN) if the server requires one."),
    ),
    F.HTTP_ERROR: (
        "The download server answered with an error.",
        ("Check the repository id and revision, and HF_ENDPOINT.", "Retry later if the server reported an outage."),
    ),
    F.MODEL_DOWNLOAD_FAILURE: (
        "A model file could not be downloaded.",
        ("Check the repository id and revision.", "Retry the installation; finished files are kept."),
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
        ("Check the revision (branch, tag or commit) in the installer's models[].revision.",),
    ),
    F.MODEL_LOADING_TIMEOUT: (
        "Loading the model took too long.",
        ("Close other programs using the GPU or disk.", "Raise timeouts.validation_seconds in the reliability config."),
    ),
    F.MODEL_COMPATIBILITY_ERROR: (
        "The model is not compatible with this installation.",
        ("Update the application, or choose a model revision it supports (models[].revision).",),
    ),
    F.VRAM_EXHAUSTION: (
        "The GPU ran out of memory.",
        ("Close other programs using the GPU.", "Lower batch_size or choose a lower quality preset."),
    ),
    F.RAM_EXHAUSTION: (
        "The computer ran out of memory.",
        ("Close other programs.", "Lower batch_size or choose a lower quality preset."),
    ),
    F.STORAGE_SPACE_INSUFFICIENT: (
        "The disk is full.",
        ("Free disk space (empty the trash, remove old downloads).", "Or choose an install_dir on a larger disk."),
    ),
    F.PERMISSION_DENIED: (
        "Permission was denied.",
        ("Check that you can write to the install_dir.", "Set HF_TOKEN if the model is gated or private."),
    ),
    F.DEPENDENCY_MISSING: (
        "A required package is missing or has no version for this system.",
        ("Check your Python version and platform.", "Check --index-url and the requirement pins."),
    ),
    F.DEPENDENCY_INSTALL_FAILURE: (
        "A package failed to install.",
        ("Read the pip output above for the cause.", "Check --index-url and retry with a working connection."),
    ),
    F.LOCK_CONTENTION: (
        "Another installer is using the same files.",
        (
            "Wait for the other installer to finish, or stop it.",
            "Stale *.lock files older than recovery.stale_lock_age_seconds are removed automatically.",
        ),
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
        (
            "Install or update the GPU driver (nvidia-smi must list the GPU).",
            "Restart the computer if the GPU disappeared.",
        ),
    ),
    F.GENERATION_PIPELINE_ERROR: (
        "The generation pipeline failed.",
        (
            "Retry with default settings (batch_size, quality preset).",
            "Report the error with the log file if it repeats.",
        ),
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
"""The generic sentence and steps per failure type, used when the failure says nothing more specific."""


def guidance_for(ctx: ErrorContext, *, strategy: str = "guidance") -> RecoveryResult:
    """The user-facing result for ``ctx``: a message naming what broke, steps naming what to change; critical
    failures get a safe shutdown."""
    specific = advice_for(ctx)
    if specific is not None:
        message, steps = specific
    else:
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
