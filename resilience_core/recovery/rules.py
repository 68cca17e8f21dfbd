"""The built-in categorization rules: one table, ordered by priority (higher wins across the cause chain).

Bands: 100-85 traps that must win over everything (disk full wrapped anywhere, our own IntegrityError, TLS
(93-91, in :mod:`.rules_network`), permission, EINVAL from ``torch.load``); 80-70 resources and HTTP status;
65-55 pip, imports, corruption; 52-40 network and timeouts (:mod:`.rules_network`); below 30 wrappers that only
speak when their cause says nothing (``LocalEntryNotFoundError`` hides its cause). Names only: no framework is
imported here.
"""

from __future__ import annotations

import errno
import re

from resilience_core.recovery.matching import Rule, safe_getattr
from resilience_core.recovery.rules_network import build_network_rules
from resilience_core.recovery.taxonomy import FailureType as F
from resilience_core.recovery.taxonomy import Severity as S

__all__ = ["build_default_rules"]

_HTTP_RETRYABLE = (408, 429, *range(500, 600))
_HTTP_AUTH = (401, 403)
_HTTP_OTHER_4XX = tuple(c for c in range(400, 500) if c not in (408, 429, 401, 403))

_VRAM_MESSAGE = (
    r"(CUDA|HIP|XPU|NPU) out of memory|MPS backend out of memory|CUDA error: out of memory"
    r"|CUBLAS_STATUS_ALLOC_FAILED|RESOURCE_EXHAUSTED|OOM when allocating|PT_DEVMEM Allocation failed"
    r"|Ran out of memory in memory space|out of memory allocating|out of memory to allocate"
)
_CORRUPTION_MESSAGE = (
    r"header too (large|small)|HeaderTooLarge|HeaderTooSmall|incomplete metadata|invalid header"
    r"|Error while deserializing|PytorchStreamReader failed|failed finding central directory"
    r"|Weights only load failed|legacy \.tar format|is not a valid JSON file|invalid load key"
    r"|unexpected EOF, expected \d+ more bytes|The file might be corrupted"
)
_PIP_NETWORK = (
    r"NewConnectionError|Connection refused|Read timed out|Max retries exceeded|connection broken"
    r"|Temporary failure in name resolution|Network is unreachable|ConnectTimeoutError|Connection reset"
    # pip >= 25 reports a broken wheel download as error `incomplete-download`, not as a urllib3 error.
    r"|Connection interrupted while downloading|incomplete-download|issue with network connectivity"
    r"|IncompleteRead|ProtocolError|ReadTimeoutError|ProxyError|Network is unreachable"
)


def _is_pip_failure(error: BaseException) -> bool:
    cmd = safe_getattr(error, "cmd")
    if isinstance(cmd, (list, tuple)):
        cmd = " ".join(str(part) for part in cmd)
    return isinstance(cmd, str) and re.search(r"\bpip\d*(\.\d+)?\b|-m\s+pip\b", cmd) is not None


def build_default_rules() -> list[Rule]:
    """A fresh list of the default rules (callers may extend or reorder it)."""
    return [
        # --- traps first -----------------------------------------------------------------------------
        Rule(
            F.STORAGE_SPACE_INSUFFICIENT,
            S.HIGH,
            errnos=(errno.ENOSPC, errno.EDQUOT, errno.EFBIG),
            priority=100,
            name="disk-full-errno",
        ),
        # safetensors wraps ENOSPC as "SafetensorError ... (os error 28)"; pip prints it in its output.
        Rule(
            F.STORAGE_SPACE_INSUFFICIENT,
            S.HIGH,
            message=r"No space left on device|\bos error (28|122)\b|\bcode: 28\b|StorageFull|Disk quota exceeded",
            priority=99,
            name="disk-full-message",
            keywords=("no space", "os error 28", "os error 122", "code: 28", "storagefull", "quota"),
        ),
        Rule(
            F.MODEL_INTEGRITY_FAILURE,
            S.HIGH,
            types=("resilience_core.errors.IntegrityError",),
            priority=95,
            name="integrity-error",
        ),
        Rule(
            F.INVALID_PARAMETERS,
            S.HIGH,
            types=("resilience_core.errors.ConfigError",),
            priority=94,
            retryable=False,
            name="config-error",
        ),
        Rule(
            F.PERMISSION_DENIED,
            S.HIGH,
            errnos=(errno.EACCES, errno.EPERM, errno.EROFS),
            priority=90,
            retryable=False,
            name="permission-errno",
        ),
        Rule(
            F.PERMISSION_DENIED,
            S.HIGH,
            types=("safetensors.SafetensorError",),
            message=r"Permission denied|\bos error (13|1|30)\b|Read-only file system",
            priority=89,
            retryable=False,
            name="permission-message",
            keywords=("permission", "os error", "read-only"),
        ),
        Rule(
            F.HARDWARE_OPTIMIZATION_FAILURE,
            S.CRITICAL,
            types=("pynvml.NVMLError_GpuIsLost",),
            priority=88,
            retryable=False,
            name="gpu-lost",
        ),
        Rule(
            F.SYSTEM_RESOURCE_ERROR,
            S.CRITICAL,
            errnos=(errno.EIO,),
            priority=88,
            retryable=False,
            name="io-error",
        ),
        # torch.load on a truncated zip raises OSError(EINVAL): the file is corrupt, the disk is fine.
        Rule(
            F.MODEL_CORRUPTION_DETECTED,
            S.HIGH,
            types=("OSError",),
            errnos=(errno.EINVAL,),
            priority=85,
            name="einval-truncated-file",
        ),
        Rule(F.LOCK_CONTENTION, S.LOW, types=("filelock.Timeout",), priority=82, name="filelock-timeout"),
        # --- memory ----------------------------------------------------------------------------------
        Rule(
            F.VRAM_EXHAUSTION,
            S.HIGH,
            types=(
                "torch.OutOfMemoryError",
                "torch.cuda.OutOfMemoryError",
                "cupy.cuda.memory.OutOfMemoryError",
                "cupy.OutOfMemoryError",
                "tensorflow.python.framework.errors_impl.ResourceExhaustedError",
                "tensorflow.ResourceExhaustedError",
            ),
            priority=80,
            name="vram-oom-type",
        ),
        Rule(
            F.VRAM_EXHAUSTION,
            S.HIGH,
            message=_VRAM_MESSAGE,
            priority=79,
            name="vram-oom-message",
            keywords=("out of memory", "alloc_failed", "resource_exhausted", "oom when", "pt_devmem"),
        ),
        Rule(
            F.RAM_EXHAUSTION,
            S.HIGH,
            message=r"DefaultCPUAllocator: (can't allocate memory|not enough memory)|posix_memalign\(",
            priority=78,
            name="ram-oom-message",
            keywords=("defaultcpuallocator", "posix_memalign"),
        ),
        Rule(F.RAM_EXHAUSTION, S.HIGH, types=("MemoryError",), priority=75, name="memory-error"),
        Rule(F.RAM_EXHAUSTION, S.HIGH, errnos=(errno.ENOMEM,), priority=75, name="enomem"),
        # --- Hugging Face Hub --------------------------------------------------------------------------
        Rule(
            F.MODEL_DOWNLOAD_FAILURE,
            S.MEDIUM,
            types=("OSError",),
            message=r"Consistency check failed",
            priority=74,
            name="hf-consistency-check",
            keywords=("consistency check",),
        ),
        Rule(
            F.PERMISSION_DENIED,
            S.HIGH,
            types=("huggingface_hub.GatedRepoError", "huggingface_hub.errors.GatedRepoError"),
            priority=73,
            retryable=False,
            name="hf-gated-repo",
        ),
        Rule(
            F.MODEL_DOWNLOAD_FAILURE,
            S.HIGH,
            types=("huggingface_hub.RepositoryNotFoundError", "huggingface_hub.RemoteEntryNotFoundError"),
            priority=72,
            retryable=False,
            name="hf-not-found",
        ),
        Rule(
            F.MODEL_VERSION_MISMATCH,
            S.HIGH,
            types=("huggingface_hub.RevisionNotFoundError",),
            priority=72,
            retryable=False,
            name="hf-revision-not-found",
        ),
        # --- HTTP status (duck-typed from .response.status_code / .status_code / .status) ----------------
        Rule(F.PERMISSION_DENIED, S.HIGH, statuses=_HTTP_AUTH, priority=70, retryable=False, name="http-auth"),
        Rule(F.HTTP_ERROR, S.MEDIUM, statuses=_HTTP_RETRYABLE, priority=70, retryable=True, name="http-retryable"),
        Rule(F.HTTP_ERROR, S.HIGH, statuses=_HTTP_OTHER_4XX, priority=70, retryable=False, name="http-client"),
        # --- pip -----------------------------------------------------------------------------------------
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=("subprocess.CalledProcessError",),
            message=_PIP_NETWORK,
            predicate=_is_pip_failure,
            priority=65,
            name="pip-network",
            keywords=(
                "connection",
                "timed out",
                "max retries",
                "name resolution",
                "unreachable",
                "timeouterror",
                "incomplete-download",
                "connectivity",
                "incompleteread",
                "protocolerror",
                "proxyerror",
            ),
        ),
        Rule(
            F.DEPENDENCY_INSTALL_FAILURE,
            S.MEDIUM,
            types=("subprocess.CalledProcessError",),
            message=r"DO NOT MATCH THE HASHES|hash mismatch|Expected sha256",
            predicate=_is_pip_failure,
            priority=64,
            retryable=True,
            name="pip-hash-mismatch",
            keywords=("hash", "sha256"),
        ),
        Rule(
            F.DEPENDENCY_MISSING,
            S.HIGH,
            types=("subprocess.CalledProcessError",),
            message=r"No matching distribution found|Could not find a version that satisfies",
            predicate=_is_pip_failure,
            priority=63,
            retryable=False,
            name="pip-no-distribution",
            keywords=("no matching distribution", "could not find a version"),
        ),
        Rule(
            F.DEPENDENCY_INSTALL_FAILURE,
            S.HIGH,
            types=("subprocess.CalledProcessError",),
            predicate=_is_pip_failure,
            priority=60,
            retryable=False,
            name="pip-failed",
        ),
        Rule(
            F.NETWORK_TIMEOUT,
            S.MEDIUM,
            types=("subprocess.TimeoutExpired",),
            predicate=_is_pip_failure,
            priority=60,
            name="pip-timeout",
        ),
        Rule(
            F.DEPENDENCY_MISSING,
            S.HIGH,
            types=("ImportError", "ModuleNotFoundError"),
            priority=60,
            retryable=False,
            name="import-error",
        ),
        Rule(
            F.HARDWARE_OPTIMIZATION_FAILURE,
            S.MEDIUM,
            types=("pynvml.NVMLError_LibraryNotFound", "pynvml.NVMLError_DriverNotLoaded"),
            priority=60,
            retryable=False,
            name="nvml-unavailable",
        ),
        Rule(
            F.HARDWARE_OPTIMIZATION_FAILURE,
            S.MEDIUM,
            message=r"Torch not compiled with CUDA enabled|Found no NVIDIA driver|no CUDA-capable device",
            priority=60,
            retryable=False,
            name="no-gpu-driver",
            keywords=("not compiled with cuda", "nvidia driver", "cuda-capable"),
        ),
        # --- corruption ----------------------------------------------------------------------------------
        Rule(
            F.MODEL_CORRUPTION_DETECTED,
            S.HIGH,
            types=("safetensors.SafetensorError",),
            priority=58,
            name="safetensors-error",
        ),
        Rule(
            F.MODEL_CORRUPTION_DETECTED,
            S.HIGH,
            message=_CORRUPTION_MESSAGE,
            priority=57,
            name="corrupt-file",
            keywords=(
                "header",
                "pytorchstreamreader",
                "central directory",
                "weights only",
                "legacy .tar",
                "valid json",
                "invalid load key",
                "incomplete metadata",
                "deserializ",
                "unexpected eof",
                "might be corrupted",
            ),
        ),
        Rule(
            F.MODEL_CORRUPTION_DETECTED,
            S.HIGH,
            types=("pickle.UnpicklingError", "_pickle.UnpicklingError"),
            priority=57,
            name="unpickling-error",
        ),
        Rule(
            F.MODEL_CORRUPTION_DETECTED,
            S.MEDIUM,
            types=("json.JSONDecodeError", "json.decoder.JSONDecodeError"),
            priority=55,
            name="json-decode",
        ),
        *build_network_rules(),
        # --- weaker, generic -----------------------------------------------------------------------------
        Rule(F.MODEL_CORRUPTION_DETECTED, S.MEDIUM, types=("UnicodeDecodeError",), priority=35, name="bad-text"),
        Rule(F.MODEL_CORRUPTION_DETECTED, S.MEDIUM, types=("EOFError",), priority=30, name="eof"),
        Rule(F.LOCK_CONTENTION, S.LOW, errnos=(errno.EAGAIN,), priority=30, name="would-block"),
        Rule(
            F.SYSTEM_RESOURCE_ERROR,
            S.HIGH,
            errnos=(errno.EMFILE, errno.ENFILE),
            priority=30,
            retryable=False,
            name="too-many-files",
        ),
        Rule(
            F.UNSUPPORTED_OPERATION,
            S.MEDIUM,
            types=("NotImplementedError",),
            priority=30,
            retryable=False,
            name="not-implemented",
        ),
        # Wrappers: they only decide when nothing in their cause chain does.
        Rule(
            F.MODEL_DOWNLOAD_FAILURE,
            S.MEDIUM,
            types=("huggingface_hub.IncompleteSnapshotError", "huggingface_hub.FileMetadataError"),
            priority=21,
            name="hf-incomplete",
        ),
        Rule(
            F.NETWORK_CONNECTIVITY_LOSS,
            S.MEDIUM,
            types=("huggingface_hub.LocalEntryNotFoundError",),
            priority=20,
            name="hf-local-entry-not-found",
        ),
    ]
