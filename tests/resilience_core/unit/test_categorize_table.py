"""The categorizer's table: real exceptions (and same-named fakes for GPU frameworks) get their failure type and
severity, and the guidance a person reads names the thing to change (a host, a file, a size, a setting).

The first part is the original table; the second part is reconstructed from real reports in the issue trackers of
huggingface_hub, requests, urllib3, httpx/httpcore, pip and torch, each row citing its source.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
import ssl
import subprocess
import urllib.error
from collections.abc import Callable
from email.message import Message
from typing import NamedTuple

import filelock
import httpcore
import httpx
import httpx2
import huggingface_hub.errors as hf
import pytest
import requests
import safetensors
import safetensors.numpy
import urllib3
import urllib3.exceptions

from resilience_core.errors import ConfigError, IntegrityError
from resilience_core.recovery.categorize import categorize
from resilience_core.recovery.strategies.guidance import guidance_for
from resilience_core.recovery.taxonomy import FailureType as F
from resilience_core.recovery.taxonomy import Severity as S

URL = "http://127.0.0.1:9/acme/tiny/resolve/main/model.bin"
RETRIES = "retry.max_retries"
DOWNLOAD_TIMEOUT = "timeouts.model_download_seconds"
SOURCE = re.compile(
    r"^(huggingface/huggingface_hub|psf/requests|urllib3/urllib3|encode/httpx|encode/httpcore|pypa/pip"
    r"|pytorch/pytorch)#\d+$|^https://github\.com/[\w.-]+/[\w.-]+/issues/\d+ \((torch|huggingface_hub)\b"
)


class Case(NamedTuple):
    """One row: how to build the exception, what it is, what the guidance must name, where it was reported."""

    label: str
    build: Callable[[], BaseException]
    failure_type: F
    severity: S
    names: tuple[str, ...]
    source: str = ""


def fake(module: str, qualname: str, base: type[BaseException] = RuntimeError) -> type[BaseException]:
    """A class with a framework's module and qualname, so rules see what the real one shows."""
    cls = type(qualname.rsplit(".", 1)[-1], (base,), {})
    cls.__module__ = module
    cls.__qualname__ = qualname
    return cls


def caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def during(outer: BaseException, context: BaseException) -> BaseException:
    """``outer`` raised while handling ``context`` (the implicit ``__context__`` link)."""
    outer.__context__ = context
    return outer


def hf_http(
    cls: type[hf.HfHubHTTPError], status: int, headers: dict[str, str] | None = None, url: str = URL, text: str = ""
) -> BaseException:
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("GET", url))
    return cls(text or f"{status} error for url {url}", response=response)


def httpx_status(module: object, status: int) -> BaseException:
    request = module.Request("GET", URL)  # type: ignore[attr-defined]
    response = module.Response(status, request=request)  # type: ignore[attr-defined]
    return module.HTTPStatusError(f"{status}", request=request, response=response)  # type: ignore[attr-defined]


def requests_http(status: int) -> BaseException:
    response = requests.Response()
    response.status_code = status
    response.url = URL
    return requests.HTTPError(f"{status} Server Error", response=response)


def safetensors_error(data: bytes) -> BaseException:
    try:
        safetensors.numpy.load(data)
    except safetensors.SafetensorError as exc:
        return exc
    raise AssertionError("safetensors accepted garbage")


def json_error(text: str) -> BaseException:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("json accepted garbage")


def pip_error(output: str, cmd: tuple[str, ...] = ("python", "-m", "pip", "install", "tinypkg")) -> BaseException:
    return subprocess.CalledProcessError(1, list(cmd), output=output)


def max_retries(host: str, port: int, url: str, reason: BaseException, *, https: bool = True) -> BaseException:
    """urllib3's MaxRetryError as a real connection pool words it, caused by ``reason``."""
    pool_cls = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    return caused(urllib3.exceptions.MaxRetryError(pool_cls(host, port), url, reason), reason)


def requests_wrapping(cls: type[BaseException], inner: BaseException) -> BaseException:
    """What requests' adapter raises: its own exception built from urllib3's, raised while handling it."""
    return during(cls(inner), inner)


def dns_chain(host: str, code: int, text: str) -> BaseException:
    gai = socket.gaierror(code, text)
    resolution = caused(urllib3.exceptions.NameResolutionError(host, None, gai), gai)  # type: ignore[arg-type]
    return requests_wrapping(requests.ConnectionError, max_retries(host, 443, "/api/models/x", resolution))


def refused_chain(host: str, port: int, url: str) -> BaseException:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    message = "Failed to establish a new connection: [Errno 111] Connection refused"
    new = during(urllib3.exceptions.NewConnectionError(None, message), refused)  # type: ignore[arg-type]
    return max_retries(host, port, url, new, https=False)


def incomplete_chain(read: int, more: int) -> BaseException:
    short = urllib3.exceptions.IncompleteRead(read, more)
    broken = caused(urllib3.exceptions.ProtocolError(f"Connection broken: {short!r}", short), short)
    return requests_wrapping(requests.exceptions.ChunkedEncodingError, broken)


def reset_chain() -> BaseException:
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    aborted = during(urllib3.exceptions.ProtocolError("Connection aborted.", reset), reset)
    return requests_wrapping(requests.ConnectionError, aborted)


def cert_error(detail: str) -> ssl.SSLCertVerificationError:
    return ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {detail}")


TORCH_OOM = fake("torch", "OutOfMemoryError")
OLD_TORCH_OOM = fake("torch.cuda", "OutOfMemoryError")
ACCELERATOR = fake("torch", "AcceleratorError")
CUPY_OOM = fake("cupy.cuda.memory", "OutOfMemoryError", MemoryError)
XLA = fake("jaxlib.xla_extension", "XlaRuntimeError")
JAX = fake("jax.errors", "JaxRuntimeError")
TF_OOM = fake("tensorflow.python.framework.errors_impl", "ResourceExhaustedError", Exception)
GPU_LOST = fake("pynvml", "NVMLError_GpuIsLost", Exception)
NVML_MISSING = fake("pynvml", "NVMLError_LibraryNotFound", Exception)

TORCH_MESSAGE = (
    "CUDA out of memory. Tried to allocate 576.00 MiB. GPU 0 has a total capacity of 31.36 GiB of which "
    "370.69 MiB is free."
)
DAMAGED = "Delete the damaged file"

ORIGINAL: list[Case] = [
    # --- Hugging Face Hub 2.4 ---------------------------------------------------------------------
    Case("hf 500", lambda: hf_http(hf.HfHubHTTPError, 500), F.HTTP_ERROR, S.MEDIUM, ("127.0.0.1:9", RETRIES)),
    Case("hf 404 bare", lambda: hf_http(hf.HfHubHTTPError, 404), F.HTTP_ERROR, S.HIGH, (URL, "HF_TOKEN")),
    Case("hf 401", lambda: hf_http(hf.HfHubHTTPError, 401), F.PERMISSION_DENIED, S.HIGH, ("HF_TOKEN", "acme/tiny")),
    Case(
        "hf 429",
        lambda: hf_http(hf.HfHubHTTPError, 429, {"Retry-After": "2"}),
        F.HTTP_ERROR,
        S.MEDIUM,
        ("Wait 2 s", "HF_TOKEN"),
    ),
    Case("hf 416", lambda: hf_http(hf.HfHubHTTPError, 416), F.HTTP_ERROR, S.HIGH, ("*.part",)),
    Case(
        "hf repo missing",
        lambda: hf_http(hf.RepositoryNotFoundError, 404),
        F.MODEL_DOWNLOAD_FAILURE,
        S.HIGH,
        ("acme/tiny", "HF_TOKEN"),
    ),
    Case("hf gated", lambda: hf_http(hf.GatedRepoError, 403), F.PERMISSION_DENIED, S.HIGH, ("HF_TOKEN",)),
    Case(
        "hf revision",
        lambda: hf_http(hf.RevisionNotFoundError, 404),
        F.MODEL_VERSION_MISMATCH,
        S.HIGH,
        ("models[].revision",),
    ),
    Case(
        "hf entry", lambda: hf_http(hf.RemoteEntryNotFoundError, 404), F.MODEL_DOWNLOAD_FAILURE, S.HIGH, ("acme/tiny",)
    ),
    Case(
        "hf LENF from ConnectError",
        lambda: caused(hf.LocalEntryNotFoundError("cannot find"), httpx2.ConnectError("[Errno 111] refused")),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    Case(
        "hf LENF from HTTP 500",
        lambda: caused(hf.LocalEntryNotFoundError("cannot find"), hf_http(hf.HfHubHTTPError, 500)),
        F.HTTP_ERROR,
        S.MEDIUM,
        ("127.0.0.1:9",),
    ),
    Case(
        "hf LENF alone",
        lambda: hf.LocalEntryNotFoundError("cannot find"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case(
        "hf incomplete snapshot",
        lambda: hf.IncompleteSnapshotError("1 file(s) are missing", "/tmp/snap"),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    Case(
        "hf offline",
        lambda: hf.OfflineModeIsEnabled("offline"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HF_HUB_OFFLINE",),
    ),
    Case(
        "hf consistency",
        lambda: OSError("Consistency check failed: file should be of size 20971520 but has size 10485760 (x)."),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
        ("10485760 of 20971520 bytes",),
    ),
    Case(
        "hf metadata",
        lambda: hf.FileMetadataError("missing X-Repo-Commit"),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    # --- httpx2 / httpx ----------------------------------------------------------------------------------
    Case(
        "httpx2 read", lambda: httpx2.ReadError("[Errno 104] reset"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM, (RETRIES,)
    ),
    Case(
        "httpx2 fin",
        lambda: httpx2.RemoteProtocolError("peer closed"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case("httpx2 connect", lambda: httpx2.ConnectError("refused"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM, (RETRIES,)),
    Case(
        "httpx2 read timeout",
        lambda: httpx2.ReadTimeout("timed out"),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        (DOWNLOAD_TIMEOUT,),
    ),
    Case(
        "httpx2 connect timeout",
        lambda: httpx2.ConnectTimeout("timed out"),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        (DOWNLOAD_TIMEOUT,),
    ),
    Case("httpx2 503", lambda: httpx_status(httpx2, 503), F.HTTP_ERROR, S.MEDIUM, ("127.0.0.1:9",)),
    Case("httpx read", lambda: httpx.ReadError("reset"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM, (RETRIES,)),
    Case("httpx pool timeout", lambda: httpx.PoolTimeout("pool"), F.NETWORK_TIMEOUT, S.MEDIUM, (DOWNLOAD_TIMEOUT,)),
    Case("httpx 404", lambda: httpx_status(httpx, 404), F.HTTP_ERROR, S.HIGH, ("HF_TOKEN",)),
    Case("httpx 408", lambda: httpx_status(httpx, 408), F.HTTP_ERROR, S.MEDIUM, (DOWNLOAD_TIMEOUT,)),
    # --- requests / urllib3 ----------------------------------------------------------------------------
    Case(
        "requests conn", lambda: requests.ConnectionError("refused"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM, (RETRIES,)
    ),
    Case(
        "requests connect timeout",
        lambda: requests.ConnectTimeout("slow"),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        (DOWNLOAD_TIMEOUT,),
    ),
    Case(
        "requests read timeout",
        lambda: requests.ReadTimeout("slow"),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        (DOWNLOAD_TIMEOUT,),
    ),
    Case(
        "requests chunked",
        lambda: requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case("requests 502", lambda: requests_http(502), F.HTTP_ERROR, S.MEDIUM, ("127.0.0.1:9",)),
    Case(
        "urllib3 protocol",
        lambda: urllib3.exceptions.ProtocolError("broken"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case(
        "urllib3 read timeout",
        lambda: urllib3.exceptions.ReadTimeoutError(None, URL, "Read timed out."),  # type: ignore[arg-type]
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        ("127.0.0.1:9", DOWNLOAD_TIMEOUT),
    ),
    Case(
        "urllib3 max retries",
        lambda: urllib3.exceptions.MaxRetryError(None, URL, None),  # type: ignore[arg-type]
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("127.0.0.1:9", RETRIES),
    ),
    # --- stdlib ----------------------------------------------------------------------------------------
    Case(
        "enospc",
        lambda: OSError(errno.ENOSPC, "No space left on device"),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
        ("install_dir",),
    ),
    Case(
        "edquot",
        lambda: OSError(errno.EDQUOT, "Disk quota exceeded"),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
        ("install_dir",),
    ),
    Case(
        "efbig",
        lambda: OSError(errno.EFBIG, "File too large"),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
        ("install_dir",),
    ),
    Case(
        "eacces",
        lambda: PermissionError(errno.EACCES, "Permission denied", "/x"),
        F.PERMISSION_DENIED,
        S.HIGH,
        ("Permission was denied on /x.",),
    ),
    Case(
        "eperm",
        lambda: OSError(errno.EPERM, "Operation not permitted"),
        F.PERMISSION_DENIED,
        S.HIGH,
        ("install_dir",),
    ),
    Case(
        "torch.load einval",
        lambda: OSError(errno.EINVAL, "Invalid argument"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
    ),
    Case(
        "eio",
        lambda: OSError(errno.EIO, "Input/output error"),
        F.SYSTEM_RESOURCE_ERROR,
        S.CRITICAL,
        ("install_dir",),
    ),
    Case(
        "reset",
        lambda: ConnectionResetError(errno.ECONNRESET, "reset"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case(
        "refused",
        lambda: ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    Case(
        "broken pipe",
        lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case("timeout", lambda: TimeoutError("timed out"), F.NETWORK_TIMEOUT, S.MEDIUM, (DOWNLOAD_TIMEOUT,)),
    Case(
        "socket.timeout",
        lambda: socket.timeout("timed out"),  # noqa: UP041 -- the alias old clients raise
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        (DOWNLOAD_TIMEOUT,),
    ),
    Case(
        "gaierror",
        lambda: socket.gaierror(-2, "Name or service not known"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    Case(
        "incomplete read",
        lambda: http.client.IncompleteRead(b"abc", 10),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case("url error", lambda: urllib.error.URLError("down"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM, (RETRIES,)),
    Case(
        "urllib 503",
        lambda: urllib.error.HTTPError(URL, 503, "busy", Message(), None),
        F.HTTP_ERROR,
        S.MEDIUM,
        ("127.0.0.1:9",),
    ),
    Case("json", lambda: json_error('{"a": '), F.MODEL_CORRUPTION_DETECTED, S.MEDIUM, (DAMAGED,)),
    Case(
        "bad utf8",
        lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid"),
        F.MODEL_CORRUPTION_DETECTED,
        S.MEDIUM,
        (DAMAGED,),
    ),
    Case("empty torch file", lambda: EOFError("Ran out of input"), F.MODEL_CORRUPTION_DETECTED, S.MEDIUM, (DAMAGED,)),
    Case("memory", MemoryError, F.RAM_EXHAUSTION, S.HIGH, ("batch_size",)),
    Case(
        "import",
        lambda: ModuleNotFoundError("No module named 'xformers'"),
        F.DEPENDENCY_MISSING,
        S.HIGH,
        ("xformers", "requirements"),
    ),
    Case("not implemented", lambda: NotImplementedError("fp8"), F.UNSUPPORTED_OPERATION, S.MEDIUM, ("fp8",)),
    Case(
        "would block",
        lambda: BlockingIOError(errno.EAGAIN, "busy"),
        F.LOCK_CONTENTION,
        S.LOW,
        ("recovery.stale_lock_age_seconds",),
    ),
    Case(
        "filelock",
        lambda: filelock.Timeout("/cache/.locks/x.lock"),
        F.LOCK_CONTENTION,
        S.LOW,
        ("/cache/.locks/x.lock",),
    ),
    # --- safetensors (real) ------------------------------------------------------------------------------
    Case(
        "st header",
        lambda: safetensors_error(b"<html>not weights</html>"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
    ),
    Case("st tiny", lambda: safetensors_error(b"abc"), F.MODEL_CORRUPTION_DETECTED, S.HIGH, (DAMAGED,)),
    Case(
        "st enospc trap",
        lambda: safetensors.SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        ),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
        ("install_dir",),
    ),
    # --- pip -----------------------------------------------------------------------------------------------
    Case(
        "pip missing",
        lambda: pip_error("ERROR: No matching distribution found for tinypkg"),
        F.DEPENDENCY_MISSING,
        S.HIGH,
        ("--index-url", "tinypkg"),
    ),
    Case(
        "pip hash",
        lambda: pip_error("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."),
        F.DEPENDENCY_INSTALL_FAILURE,
        S.MEDIUM,
        ("--index-url",),
    ),
    Case(
        "pip offline",
        lambda: pip_error(
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...)'\n"
            "ERROR: Could not find a version that satisfies the requirement tinypkg"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES, "--resume-retries"),
    ),
    Case(
        "pip 26 incomplete download",
        lambda: pip_error(
            "error: incomplete-download\n\n"
            "x Download failed because not enough bytes were received (64 kB/1.2 MB)\n"
            "note: This is an issue with network connectivity, not pip."
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("--resume-retries",),
    ),
    Case(
        "pip disk",
        lambda: pip_error("OSError: [Errno 28] No space left on device"),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
        ("install_dir",),
    ),
    Case(
        "pip other",
        lambda: pip_error("error: subprocess-exited-with-error"),
        F.DEPENDENCY_INSTALL_FAILURE,
        S.HIGH,
        ("--index-url", "subprocess-exited-with-error"),
    ),
    Case(
        "not pip",
        lambda: pip_error("fatal: not a git repository", ("git", "status")),
        F.UNKNOWN,
        S.MEDIUM,
        ("subprocess.CalledProcessError",),
    ),
    Case(
        "pip hangs",
        lambda: subprocess.TimeoutExpired(["pip", "install", "tinypkg"], 600),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        ("--timeout",),
    ),
    # --- GPU frameworks (same module and qualname as the real classes) --------------------------------
    Case("torch oom", lambda: TORCH_OOM(TORCH_MESSAGE), F.VRAM_EXHAUSTION, S.HIGH, ("576.0 MiB", "batch_size")),
    Case("torch oom empty", lambda: TORCH_OOM(""), F.VRAM_EXHAUSTION, S.HIGH, ("batch_size",)),
    Case("torch 1.13 oom", lambda: OLD_TORCH_OOM("CUDA out of memory."), F.VRAM_EXHAUSTION, S.HIGH, ("batch_size",)),
    Case(
        "torch legacy",
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 376.00 MiB"),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("376.0 MiB",),
    ),
    Case("accelerator", lambda: ACCELERATOR("CUDA error: out of memory"), F.VRAM_EXHAUSTION, S.HIGH, ("batch_size",)),
    Case(
        "mps",
        lambda: RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("batch_size",),
    ),
    Case(
        "cpu alloc",
        lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory"),
        F.RAM_EXHAUSTION,
        S.HIGH,
        ("batch_size",),
    ),
    Case(
        "cupy oom is vram not ram",
        lambda: CUPY_OOM("Out of memory allocating 25,600,000 bytes (allocated so far: 3,635,267,072 bytes)."),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("24.4 MiB",),
    ),
    Case(
        "jaxlib oom",
        lambda: XLA("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 7406166528 bytes."),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("6.9 GiB",),
    ),
    Case(
        "jax oom",
        lambda: JAX("RESOURCE_EXHAUSTED: Ran out of memory in memory space hbm"),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("batch_size",),
    ),
    Case("jax other", lambda: XLA("INTERNAL: failed to compile"), F.UNKNOWN, S.MEDIUM, ("XlaRuntimeError",)),
    Case(
        "tf oom",
        lambda: TF_OOM("OOM when allocating tensor with shape[8,3,1024,1024]"),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("batch_size",),
    ),
    Case("gpu lost", lambda: GPU_LOST("GPU is lost"), F.HARDWARE_OPTIMIZATION_FAILURE, S.CRITICAL, ("nvidia-smi",)),
    Case(
        "no nvml",
        lambda: NVML_MISSING("NVML Shared Library Not Found"),
        F.HARDWARE_OPTIMIZATION_FAILURE,
        S.MEDIUM,
        ("nvidia-smi",),
    ),
    Case(
        "cpu torch",
        lambda: AssertionError("Torch not compiled with CUDA enabled"),
        F.HARDWARE_OPTIMIZATION_FAILURE,
        S.MEDIUM,
        ("--index-url https://download.pytorch.org/whl/",),
    ),
    Case(
        "torch zip",
        lambda: RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
    ),
    Case(
        "unpickling",
        lambda: fake("_pickle", "UnpicklingError", Exception)("Weights only load failed"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
    ),
    # --- ours and the rest -----------------------------------------------------------------------------
    Case(
        "integrity",
        lambda: IntegrityError("sha256 mismatch", entry="model.bin"),
        F.MODEL_INTEGRITY_FAILURE,
        S.HIGH,
        ("model.bin",),
    ),
    Case(
        "config",
        lambda: ConfigError("bad", field="retry.max_retries", value=50, source="app.toml", allowed="0..10"),
        F.INVALID_PARAMETERS,
        S.HIGH,
        ("Set retry.max_retries to 0..10.",),
    ),
    Case("value error", lambda: ValueError("something odd"), F.UNKNOWN, S.MEDIUM, ("ValueError: something odd",)),
    # --- issue 10's own examples --------------------------------------------------------------------------
    Case(
        "wrapped reset",
        lambda: RuntimeError("Connection reset by peer"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
    ),
    Case(
        "wrapped read timeout", lambda: RuntimeError("Read timed out"), F.NETWORK_TIMEOUT, S.MEDIUM, (DOWNLOAD_TIMEOUT,)
    ),
    Case(
        "wrapped refused",
        lambda: RuntimeError("Connection refused"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HF_ENDPOINT",),
    ),
    Case(
        "missing file with a path",
        lambda: FileNotFoundError(errno.ENOENT, "No such file or directory", "/opt/app/models/config.json"),
        F.UNKNOWN,
        S.MEDIUM,
        ("The file /opt/app/models/config.json does not exist.",),
    ),
]

HF_BASE = "https://huggingface.co"

REPORTED: list[Case] = [
    # --- huggingface_hub ---------------------------------------------------------------------------------
    Case(
        "read timeout wrapped in ConnectionError",
        lambda: requests.ConnectionError(
            "HTTPSConnectionPool(host='cdn-lfs.huggingface.co', port=443): Read timed out."
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("cdn-lfs.huggingface.co:443", DOWNLOAD_TIMEOUT),
        "huggingface/huggingface_hub#1718",
    ),
    Case(
        "ReadTimeout from the CDN",
        lambda: requests.exceptions.ReadTimeout(
            "(ReadTimeoutError(\"HTTPSConnectionPool(host='cdn-lfs-us-1.hf.co', port=443): Read timed out. (read "
            "timeout=10)\"), '(Request ID: 835293f3-08b9-4ec4-bbf1-4f9d8c1eaf61)')"
        ),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
        ("cdn-lfs-us-1.hf.co:443", DOWNLOAD_TIMEOUT),
        "huggingface/huggingface_hub#2568",
    ),
    Case(
        "DNS down behind requests and urllib3",
        lambda: dns_chain("huggingface.co", -3, "Temporary failure in name resolution"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("The name huggingface.co could not be resolved", "HF_ENDPOINT"),
        "huggingface/huggingface_hub#1689",
    ),
    Case(
        "Windows getaddrinfo failed",
        lambda: socket.gaierror(11001, "getaddrinfo failed"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("DNS lookup failed", "HF_ENDPOINT"),
        "huggingface/huggingface_hub#3020",
    ),
    Case(
        "IncompleteRead mid-shard",
        lambda: requests.exceptions.ChunkedEncodingError(
            "('Connection broken: IncompleteRead(158145050 bytes read, 968064663 more expected)', "
            "IncompleteRead(158145050 bytes read, 968064663 more expected))"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("closed the connection before the transfer finished", RETRIES),
        "huggingface/huggingface_hub#2199",
    ),
    Case(
        "IncompleteRead through ProtocolError",
        lambda: incomplete_chain(22154112, 34162245),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
        "huggingface/huggingface_hub#3437",
    ),
    Case(
        "429 on many small files",
        lambda: hf_http(
            hf.HfHubHTTPError, 429, url=f"{HF_BASE}/api/models/acme/tiny/revision/main", text="429 Client Error"
        ),
        F.HTTP_ERROR,
        S.MEDIUM,
        ("server at huggingface.co is rate-limiting", "HF_TOKEN"),
        "huggingface/huggingface_hub#3342",
    ),
    Case(
        "gated repo without a token",
        lambda: hf_http(
            hf.GatedRepoError,
            401,
            url=f"{HF_BASE}/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors",
            text=(
                "401 Client Error. Cannot access gated repo for url "
                f"{HF_BASE}/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors.\nAccess to model "
                "black-forest-labs/FLUX.1-dev is restricted. You must have access to it and be authenticated."
            ),
        ),
        F.PERMISSION_DENIED,
        S.HIGH,
        ("HF_TOKEN", "black-forest-labs/FLUX.1-dev", f"{HF_BASE}/black-forest-labs/FLUX.1-dev"),
        "huggingface/huggingface_hub#1012",
    ),
    Case(
        "consistency check on a 9.8 GB shard",
        lambda: OSError(
            "Consistency check failed: file should be of size 9860464979 but has size 4277965032 "
            "((…)l-00006-of-00007.bin).\nWe are sorry for the inconvenience. Please retry download and pass "
            "`force_download=True, resume_download=False` as argument."
        ),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
        ("4277965032 of 9860464979 bytes", "HTTPS_PROXY"),
        "huggingface/huggingface_hub#1498",
    ),
    Case(
        "consistency check on an error page",
        lambda: OSError(
            "Consistency check failed: file should be of size 133466304 but has size 635 "
            "((…)pEIFb0BUQ6A__&Key-Pair-Id=K3RPWS32NSSJCE).\nWe are sorry for the inconvenience. Please retry "
            "with `force_download=True`."
        ),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
        ("635 of 133466304 bytes",),
        "huggingface/huggingface_hub#2589",
    ),
    Case(
        "LocalEntryNotFoundError on a connection error",
        lambda: hf.LocalEntryNotFoundError(
            "Connection error, and we cannot find the requested files in the disk cache. Please try again or make "
            "sure your Internet connection is on."
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
        "huggingface/huggingface_hub#985",
    ),
    Case(
        "zscaler self-signed chain",
        lambda: requests_wrapping(
            requests.exceptions.SSLError,
            max_retries(
                "huggingface.co",
                443,
                "/bert-base-uncased/resolve/main/config.json",
                caused(
                    urllib3.exceptions.SSLError(cert_error("self-signed certificate in certificate chain")),
                    cert_error("self-signed certificate in certificate chain"),
                ),
            ),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("server at huggingface.co:443 is not trusted", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "system clock"),
        "huggingface/huggingface_hub#1271",
    ),
    Case(
        "certificate behind a corporate firewall",
        lambda: cert_error("unable to get local issuer certificate (_ssl.c:1007)"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("corporate proxy", "SSL_CERT_FILE"),
        "huggingface/huggingface_hub#2222",
    ),
    # --- requests ------------------------------------------------------------------------------------------
    Case(
        "Connection aborted, reset by peer",
        reset_chain,
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("was reset during the transfer", RETRIES),
        "psf/requests#5574",
    ),
    Case(
        "reset by peer, macOS errno 54",
        lambda: requests.ConnectionError("('Connection aborted.', error(54, 'Connection reset by peer'))"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("was reset during the transfer", RETRIES),
        "psf/requests#4395",
    ),
    Case(
        "proxy tunnel 400",
        lambda: requests.exceptions.ProxyError(
            "HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: /simple/numpy/ (Caused "
            "by ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: 400 Bad Request')))"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("pypi.org:443", "HTTPS_PROXY"),
        "psf/requests#6585",
    ),
    Case(
        "proxy wants authentication",
        lambda: requests.exceptions.ProxyError(
            "HTTPSConnectionPool(host='login.microsoftonline.com', port=443): Max retries exceeded with url: "
            "/common/oauth2/v2.0/token (Caused by ProxyError('Cannot connect to proxy.', OSError('Tunnel "
            "connection failed: 407 authenticationrequired')))"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HTTPS_PROXY", "407"),
        "psf/requests#5332",
    ),
    Case(
        "CA bundle path does not exist",
        lambda: OSError(
            "Could not find a suitable TLS CA certificate bundle, invalid path: "
            "/tmp/spark-7b66/userFiles-bc90/google-cloud-storage.zip/certifi/cacert.pem"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("/tmp/spark-7b66/userFiles-bc90/google-cloud-storage.zip/certifi/cacert.pem", "REQUESTS_CA_BUNDLE"),
        "psf/requests#4340",
    ),
    Case(
        "EOF in violation of protocol",
        lambda: during(
            requests.exceptions.SSLError("EOF occurred in violation of protocol (_ssl.c:645)"),
            ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:645)"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("SSL_CERT_FILE", RETRIES),
        "psf/requests#3608",
    ),
    Case(
        "Name or service not known through NewConnectionError",
        lambda: requests.ConnectionError(
            "HTTPConnectionPool(host='api.svc.internal', port=80): Max retries exceeded with url: / (Caused by "
            "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f17543ea908>: Failed to establish "
            "a new connection: [Errno -2] Name or service not known'))"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("The name api.svc.internal could not be resolved",),
        "psf/requests#6591",
    ),
    Case(
        "No route to host",
        lambda: requests.ConnectionError(
            "HTTPConnectionPool(host='10.20.0.7', port=9000): Max retries exceeded with url: /Upload (Caused by "
            "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f79f9c9c1d0>: Failed to establish "
            "a new connection: [Errno 113] No route to host',))"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("The network path to the server at 10.20.0.7:9000 is down",),
        "psf/requests#4189",
    ),
    Case(
        "Windows refusal through urllib3",
        lambda: urllib3.exceptions.NewConnectionError(
            None,  # type: ignore[arg-type]
            "Failed to establish a new connection: [WinError 10061] No connection could be made because the target "
            "machine actively refused it",
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("refused the connection", "HF_ENDPOINT"),
        "psf/requests#4963",
    ),
    # --- urllib3 -------------------------------------------------------------------------------------------
    Case(
        "refused local index",
        lambda: refused_chain("127.0.0.1", 8080, "/simple/wan-app/"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("The server at 127.0.0.1:8080 refused the connection",),
        "urllib3/urllib3#2031",
    ),
    Case(
        "SSLEOFError behind MaxRetryError",
        lambda: max_retries(
            "api.openai.com",
            443,
            "/v1/models",
            caused(
                urllib3.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:1131)")),
                ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:1131)"),
            ),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("api.openai.com:443", "REQUESTS_CA_BUNDLE"),
        "urllib3/urllib3#2944",
    ),
    Case(
        "urllib3 SSLError on a large upload",
        lambda: urllib3.exceptions.SSLError("EOF occurred in violation of protocol (_ssl.c:2426)"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("SSL_CERT_FILE",),
        "urllib3/urllib3#3120",
    ),
    Case(
        "urllib3 ProxyError 407",
        lambda: urllib3.exceptions.ProxyError(
            "Cannot connect to proxy.", OSError("Tunnel connection failed: 407 Proxy Authentication Required")
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("HTTPS_PROXY",),
        "urllib3/urllib3#1917",
    ),
    Case(
        "bare SSLEOFError on Python 3.10",
        lambda: ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2426)"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("SSL_CERT_FILE",),
        "urllib3/urllib3#2733",
    ),
    # --- httpx / httpcore ----------------------------------------------------------------------------------
    Case(
        "httpx ConnectError with an untrusted issuer",
        lambda: httpx.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate "
            "(_ssl.c:1007)"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"),
        "encode/httpx#430",
    ),
    Case(
        "server disconnected without a response",
        lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("closed the connection", RETRIES),
        "encode/httpx#1478",
    ),
    Case(
        "httpx DNS failure",
        lambda: httpx.ConnectError("[Errno -2] Name or service not known"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("DNS lookup failed", "HF_ENDPOINT"),
        "encode/httpx#1311",
    ),
    Case(
        "h11 ConnectionClosed",
        lambda: httpx.RemoteProtocolError(
            "can't handle event type ConnectionClosed when role=SERVER and state=SEND_RESPONSE"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        (RETRIES,),
        "encode/httpx#96",
    ),
    Case(
        "httpcore early disconnect",
        lambda: httpcore.RemoteProtocolError("Server disconnected without sending a response."),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("closed the connection", RETRIES),
        "encode/httpcore#313",
    ),
    # --- pip -------------------------------------------------------------------------------------------
    Case(
        "pip cannot confirm the certificate",
        lambda: pip_error(
            "Could not fetch URL https://pypi.python.org/simple/flake8/: There was a problem confirming the ssl "
            "certificate: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed (_ssl.c:645) - skipping\n"
            "Could not find a version that satisfies the requirement flake8 (from versions: )\n"
            "No matching distribution found for flake8",
            ("pip", "install", "flake8"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("pypi.python.org", "PIP_CERT"),
        "pypa/pip#3883",
    ),
    Case(
        "pip behind an inspecting proxy",
        lambda: pip_error(
            "Could not fetch URL https://pypi.python.org/simple/pip/: There was a problem confirming the ssl "
            "certificate: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: /simple/pip/ "
            "(Caused by SSLError(SSLError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed "
            "(_ssl.c:777)'),)) - skipping",
            ("pip", "install", "--upgrade", "pip"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("pypi.org:443", "--cert"),
        "pypa/pip#5548",
    ),
    Case(
        "pip and an old TLS version",
        lambda: pip_error(
            "Could not fetch URL https://pypi.python.org/simple/pip/: There was a problem confirming the ssl "
            "certificate: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:646) - skipping",
            ("pip", "list", "-o"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("Update Python and pip",),
        "pypa/pip#5226",
    ),
    Case(
        "pip without the ssl module",
        lambda: pip_error(
            "pip is configured with locations that require TLS/SSL, however the ssl module in Python is not "
            "available.\nCould not fetch URL https://pypi.org/simple/numpy/: There was a problem confirming the ssl "
            "certificate: Can't connect to HTTPS URL because the SSL module is not available. - skipping",
            ("pip3", "install", "numpy"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.HIGH,
        ("built without its ssl module",),
        "pypa/pip#5776",
    ),
    Case(
        "truncated download reported as a hash failure",
        lambda: pip_error(
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the "
            "package versions, please update the hashes.\n    flask==2.3.2 from http://127.0.0.1:5000/files/Flask-2.3.2"
            "-py3-none-any.whl:\n        Expected sha256 c5b9...\n             Got        e3b0..."
        ),
        F.DEPENDENCY_INSTALL_FAILURE,
        S.MEDIUM,
        ("interrupted download", "--index-url"),
        "pypa/pip#11153",
    ),
    Case(
        "IncompleteRead crashes pip",
        lambda: pip_error(
            "Downloading test_package-1.0.0-py3-none-any.whl (104.9 MB)\nERROR: Exception:\n"
            "pip._vendor.urllib3.exceptions.IncompleteRead: IncompleteRead(10485760 bytes read, 94371840 more "
            "expected)",
            ("pip", "download", "test-package", "--index-url", "http://127.0.0.1:8080/simple/"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("--resume-retries",),
        "pypa/pip#14079",
    ),
    Case(
        "pip read timeout on a torch wheel",
        lambda: pip_error(
            "TimeoutError: The read operation timed out\n\nDuring handling of the above exception, another exception "
            "occurred:\n\npip._vendor.urllib3.exceptions.ReadTimeoutError: "
            "HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out.",
            ("pip", "install", "torch"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("files.pythonhosted.org:443", "--timeout"),
        "pytorch/pytorch#124566",
    ),
    # --- torch -------------------------------------------------------------------------------------------
    Case(
        "CUDA OOM, old message",
        lambda: RuntimeError(
            "CUDA out of memory. Tried to allocate 2.26 GiB (GPU 0; 6.00 GiB total capacity; 781.59 MiB already "
            "allocated; 3.03 GiB free; 1.24 GiB reserved in total by PyTorch)"
        ),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("2.3 GiB more were needed", "3.0 GiB free", "batch_size"),
        "pytorch/pytorch#59778",
    ),
    Case(
        "CUDA OOM, torch 2 message",
        lambda: TORCH_OOM(
            "CUDA out of memory. Tried to allocate 22.00 MiB. GPU 0 has a total capacity of 23.65 GiB of which "
            "11.06 MiB is free. Including non-PyTorch memory, this process has 23.60 GiB memory in use."
        ),
        F.VRAM_EXHAUSTION,
        S.HIGH,
        ("22.0 MiB more were needed", "11.1 MiB free", "PYTORCH_CUDA_ALLOC_CONF"),
        "pytorch/pytorch#16417",
    ),
    Case(
        "CPU allocator, not enough memory",
        lambda: RuntimeError(
            "[enforce fail at CPUAllocator.cpp:79] data. DefaultCPUAllocator: not enough memory: you tried to "
            "allocate 280166432 bytes."
        ),
        F.RAM_EXHAUSTION,
        S.HIGH,
        ("267.2 MiB more were needed", "batch_size"),
        "pytorch/pytorch#74155",
    ),
    Case(
        "CPU allocator, can't allocate",
        lambda: RuntimeError(
            "[enforce fail at CPUAllocator.cpp:65] . DefaultCPUAllocator: can't allocate memory: you tried to "
            "allocate 4000000000000000 bytes. Error code 12 (Cannot allocate memory)"
        ),
        F.RAM_EXHAUSTION,
        S.HIGH,
        ("3638.0 TiB",),
        "pytorch/pytorch#20618",
    ),
    Case(
        "posix_memalign failed",
        lambda: RuntimeError(
            "[enforce fail at CPUAllocator.cpp:56] posix_memalign(&data, gAlignment, nbytes) == 0. 12 vs 0"
        ),
        F.RAM_EXHAUSTION,
        S.HIGH,
        ("batch_size",),
        "pytorch/pytorch#31302",
    ),
    Case(
        "dataset download timed out",
        lambda: during(
            urllib.error.URLError(TimeoutError(errno.ETIMEDOUT, "Connection timed out")),
            TimeoutError(errno.ETIMEDOUT, "Connection timed out"),
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
        ("did not answer within the time limit", DOWNLOAD_TIMEOUT),
        "pytorch/pytorch#101873",
    ),
    Case(
        "torch.hub weights answer 403",
        lambda: urllib.error.HTTPError(
            "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth", 403, "Forbidden", Message(), None
        ),
        F.PERMISSION_DENIED,
        S.HIGH,
        ("The server at download.pytorch.org refused access",),
        "pytorch/pytorch#33233",
    ),
    Case(
        "torch.load of a truncated checkpoint",
        lambda: RuntimeError("unexpected EOF, expected 1880922 more bytes. The file might be corrupted."),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
        "https://github.com/YuvalNirkin/fsgan/issues/18 (torch.load)",
    ),
    Case(
        "torch.load of a truncated hub download",
        lambda: RuntimeError("unexpected EOF, expected 1056959984 more bytes. The file might be corrupted."),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
        (DAMAGED,),
        "https://github.com/brianhie/efficient-evolution/issues/26 (torch.hub.load_state_dict_from_url)",
    ),
]

CASES = ORIGINAL + REPORTED


def test_the_table_is_large_enough_and_cites_its_sources() -> None:
    """At least 120 exceptions; at least 30 reconstructed from cited issue reports, each citation well-formed."""
    assert len(CASES) >= 120
    assert len(REPORTED) >= 30
    assert all(SOURCE.match(case.source) for case in REPORTED), [
        c.source for c in REPORTED if not SOURCE.match(c.source)
    ]
    assert len({case.label for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_exception_maps_to_type_severity_and_guidance(case: Case) -> None:
    """Each exception gets its FailureType and Severity, keeps its raw type and message, and the guidance a person
    reads names what to change."""
    error = case.build()
    ctx = categorize(error, operation="model_download")
    assert (ctx.failure_type, ctx.severity) == (case.failure_type, case.severity), ctx.details
    assert ctx.details["raw_type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert ctx.details["raw_message"] == str(error)[:500]
    assert ctx.operation == "model_download"
    assert ctx.error is error
    advice = guidance_for(ctx)
    text = "\n".join((advice.user_message, *advice.actionable_steps))
    for name in case.names:
        assert name in text, text
    if case.failure_type is not F.UNKNOWN:
        assert not advice.user_message.startswith("An unexpected error happened"), text
