"""What to tell a person about one failure: a sentence naming what broke (host, file, sizes), and steps naming
the exact thing to change (``retry.max_retries``, ``timeouts.model_download_seconds``, ``HF_ENDPOINT``,
``HF_TOKEN``, ``--index-url``, ``REQUESTS_CA_BUNDLE``, a path).

Everything is read from :class:`ErrorContext` (``details`` filled by the categorizer, the operation, the error's
own attributes); only disk-full advice looks at the disk, to say how much is free. When nothing specific is
known the generic sentence of :data:`~resilience_core.recovery.strategies.guidance.GUIDANCE` is used.

>>> from resilience_core.recovery.categorize import categorize
>>> message, steps = advice_for(categorize(RuntimeError("Connection refused"), "model_download"))
>>> message
'The server refused the connection: nothing is listening on that address and port.'
>>> print(steps[0])
Check that the server is running, or point HF_ENDPOINT (or the installer's model sources) at one that is.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Mapping
from typing import Any

from resilience_core.recovery.strategies._advice_names import (
    MIRROR,
    Advice,
    file_of,
    format_bytes,
    free_bytes_near,
    host_label,
    repo_of,
    source_setting,
)
from resilience_core.recovery.strategies.advice_network import http_advice, network_advice, permission_advice
from resilience_core.recovery.taxonomy import ErrorContext, FailureType

__all__ = ["advice_for", "format_bytes"]

F = FailureType
_MODULE = re.compile(r"No module named '([^']+)'")
_PIP_PROJECT = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")
_LOCK_PATH = re.compile(r"lock '([^']+)'")


def advice_for(ctx: ErrorContext) -> Advice | None:
    """The specific message and steps for ``ctx``, or None when nothing more than the generic text is known."""
    build = _BUILDERS.get(ctx.failure_type)
    return build(ctx, ctx.details) if build is not None else None


def _disk(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = file_of(ctx)
    needed = d.get("bytes_needed")
    free = d.get("bytes_free")
    if free is None and path is not None:
        free = free_bytes_near(path)
    where = f"The disk holding {path} is full" if path else "The disk is full"
    sizes = []
    if isinstance(needed, int):
        sizes.append(f"{format_bytes(needed)} more needed")
    if isinstance(free, int):
        sizes.append(f"{format_bytes(free)} free")
    message = f"{where} ({', '.join(sizes)})." if sizes else f"{where}."
    amount = f"at least {format_bytes(needed)}" if isinstance(needed, int) else "space"
    return (
        message,
        (
            (
                f"Free {amount} on that disk (empty the trash, remove old downloads), or choose an install folder on a "
                "larger disk (install_dir in the installer's config)."
            ),
            "Folders listed in recovery.cleanup_roots are cleaned of the installer's own leftovers automatically.",
        ),
    )


def _memory(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    needed, free = d.get("bytes_needed"), d.get("bytes_free")
    device = "The GPU" if ctx.failure_type is F.VRAM_EXHAUSTION else "The computer"
    sizes = []
    if isinstance(needed, int):
        sizes.append(f"{format_bytes(needed)} more were needed")
    if isinstance(free, int):
        sizes.append(f"{format_bytes(free)} free")
    message = f"{device} ran out of memory" + (f" ({', '.join(sizes)})." if sizes else ".")
    steps = ["Lower batch_size in the installer's config, or choose a lower quality preset."]
    if ctx.failure_type is F.VRAM_EXHAUSTION:
        steps += [
            "Close other programs using the GPU.",
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True reduces fragmentation.",
        ]
    else:
        steps += ["Close other programs, or add memory (or swap)."]
    return message, tuple(steps)


def _download(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    expected, received = d.get("expected_size_bytes"), d.get("received_size_bytes")
    if isinstance(expected, int) and isinstance(received, int):
        name = re.search(r"\(([^()]+)\)\.?\s*(We are sorry|$)", str(d.get("raw_message", "")))
        what = name.group(1) if name is not None else "A model file"
        return (
            (
                f"{what} arrived incomplete: {format_bytes(received)} of {format_bytes(expected)} ({received} of "
                f"{expected} bytes)."
            ),
            (
                "Retry: the file is fetched again (resuming where the server allows).",
                f"If it repeats, a proxy may be cutting the transfer: check HTTPS_PROXY, or {MIRROR}.",
            ),
        )
    repo = repo_of(ctx)
    if d.get("http_status") == 404 or str(d.get("rule", "")) == "hf-not-found":
        what = repo or d.get("url") or "The repository or file"
        return (
            f"{what} does not exist on {host_label(d)}.",
            (
                "Check the repository id and file name in the installer's config.",
                "For a private repository set HF_TOKEN to a token that can read it.",
            ),
        )
    return (
        f"A model file could not be downloaded from {host_label(d)}.",
        (f"Retry: finished files are kept; if it repeats, {MIRROR}.", f"Check {source_setting(ctx)}."),
    )


def _corrupt(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = file_of(ctx)
    what = f"The model file {path}" if path else "A model file"
    return (
        f"{what} is damaged (truncated or not what it claims to be).",
        (
            f"Delete {path or 'the damaged file'} and run the installer again to fetch a fresh copy.",
            "If this repeats, check the disk for errors and the network for a proxy that alters downloads.",
        ),
    )


def _integrity(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = file_of(ctx)
    return (
        f"{path or 'A model file'} does not match its expected checksum.",
        (
            f"Run the installer again: {path or 'the file'} is fetched again and checked before it is used.",
            "If this repeats, check the disk and the network (a proxy altering downloads).",
        ),
    )


def _version(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    repo = repo_of(ctx) or "the model"
    return (
        f"The requested revision of {repo} does not exist.",
        ("Check the revision (branch, tag or commit) in the installer's models[].revision.",),
    )


def _missing(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    module = getattr(ctx.error, "name", None)
    if not module:
        found = _MODULE.search(str(d.get("raw_message", "")))
        module = found.group(1) if found is not None else None
    if isinstance(module, str) and module:
        return (
            f"The Python module {module} is missing.",
            (f"Install the package that provides {module} (add it to the installer's requirements) and run again.",),
        )
    project = _PIP_PROJECT.search(f"{d.get('raw_message', '')}\n{getattr(ctx.error, 'output', '') or ''}")
    name = project.group(1) if project is not None else "a requirement"
    return (
        f"pip found no version of {name} for this Python and platform.",
        (
            f"Check the spelling and version pin of {name} in the installer's requirements.",
            f"Check that --index-url (index_url in the installer's config) serves {name}"
            + (f" ({host_label(d)})." if "host" in d else "."),
            "Check the Python version and platform the package supports.",
        ),
    )


def _install(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    if d.get("rule") == "pip-hash-mismatch":
        return (
            "A downloaded package did not match its pinned hash.",
            (
                "Retry: an interrupted download shows up as a hash mismatch.",
                (
                    "If it repeats, the index serves other files than the hashes pin: check --index-url "
                    "(index_url in the installer's config) and the requirement's --hash."
                ),
            ),
        )
    tail = str(getattr(ctx.error, "stderr", "") or getattr(ctx.error, "output", "") or "").strip().splitlines()
    last = f" pip said: {tail[-1][:200]}" if tail else ""
    return (
        "pip failed to install the requirements." + last,
        (
            "Read pip's error above for the package that failed.",
            "Check --index-url (index_url in the installer's config) and the requirement pins, then run again.",
        ),
    )


def _lock(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    found = _LOCK_PATH.search(str(d.get("raw_message", "")))
    path = file_of(ctx) or (found.group(1) if found else "a lock file")
    return (
        f"Another process holds {path}.",
        (
            "Wait for the other installer to finish, or stop it.",
            f"If none runs, delete {path}; locks older than recovery.stale_lock_age_seconds are removed automatically.",
        ),
    )


def _invalid(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    field = getattr(ctx.error, "field", "")
    if isinstance(field, str) and field:
        value = getattr(ctx.error, "value", None)
        source = getattr(ctx.error, "source", "") or "the configuration"
        allowed = getattr(ctx.error, "allowed", "")
        return (
            f"The setting {field}={value!r} from {source} is invalid.",
            (f"Set {field} to {allowed}." if allowed else f"Fix {field} in {source}.",),
        )
    return ("A setting is invalid.", (f"Fix the setting named here and run again: {d.get('raw_message', '')}",))


def _system(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    if d.get("errno") in (errno.EMFILE, errno.ENFILE):
        return (
            "The process ran out of file handles (too many open files).",
            ("Raise the open-file limit (`ulimit -n 4096`) and run the installer again.",),
        )
    path = file_of(ctx)
    return (
        f"The disk reported a hardware I/O error{' on ' + path if path else ''}.",
        (
            "Stop and check the disk (SMART status, system log) before retrying; nothing further was written.",
            "Or choose an install folder on another disk (install_dir in the installer's config).",
        ),
    )


def _unsupported(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    what = str(d.get("raw_message", "")).strip().rstrip(".")
    return (
        f"This operation is not supported here{': ' + what if what else ''}.",
        ("Choose another option (precision, device, model revision) or update the application.",),
    )


def _hardware(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    text = str(d.get("raw_message", ""))
    if "not compiled with CUDA" in text:
        return (
            "This PyTorch build has no CUDA support, so the GPU cannot be used.",
            (
                (
                    "Install a CUDA build of torch from PyTorch's index (pip install torch --index-url "
                    "https://download.pytorch.org/whl/cu121, matching your driver)."
                ),
            ),
        )
    if d.get("rule") == "gpu-lost":
        return (
            "The GPU stopped responding (it fell off the bus).",
            ("Save your work and restart the computer; check `nvidia-smi` and the system log before retrying.",),
        )
    return (
        "The GPU could not be used: no NVIDIA driver or management library was found.",
        ("Install or update the NVIDIA driver until `nvidia-smi` lists the GPU, then run again.",),
    )


def _unknown(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = file_of(ctx)
    if d.get("errno") in (errno.ENOENT, errno.ENOTDIR) and path:
        return (
            f"The file {path} does not exist.",
            (
                f"Check the path {path} in the installer's config (install_dir, models, a local file).",
                "If it was a downloaded file, run the installer again to fetch it.",
            ),
        )
    raw = f"{d.get('raw_type', '')}: {str(d.get('raw_message', ''))[:200]}".strip(": ").rstrip(".")
    return (
        f"An unexpected error happened: {raw}.",
        ("Retry the installation.", "If it fails again, report this error together with the log file."),
    )


_BUILDERS: Mapping[FailureType, Callable[[ErrorContext, Mapping[str, Any]], Advice]] = {
    F.NETWORK_CONNECTIVITY_LOSS: network_advice,
    F.NETWORK_TIMEOUT: network_advice,
    F.BANDWIDTH_LIMITATION: http_advice,
    F.HTTP_ERROR: http_advice,
    F.PERMISSION_DENIED: permission_advice,
    F.STORAGE_SPACE_INSUFFICIENT: _disk,
    F.VRAM_EXHAUSTION: _memory,
    F.RAM_EXHAUSTION: _memory,
    F.MODEL_DOWNLOAD_FAILURE: _download,
    F.MODEL_CORRUPTION_DETECTED: _corrupt,
    F.MODEL_INTEGRITY_FAILURE: _integrity,
    F.MODEL_VERSION_MISMATCH: _version,
    F.DEPENDENCY_MISSING: _missing,
    F.DEPENDENCY_INSTALL_FAILURE: _install,
    F.LOCK_CONTENTION: _lock,
    F.INVALID_PARAMETERS: _invalid,
    F.SYSTEM_RESOURCE_ERROR: _system,
    F.UNSUPPORTED_OPERATION: _unsupported,
    F.HARDWARE_OPTIMIZATION_FAILURE: _hardware,
    F.UNKNOWN: _unknown,
}
