"""categorize(): real exceptions from the real libraries (and same-named fakes for GPU frameworks) map right."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import subprocess
import urllib.error
from collections.abc import Callable
from email.message import Message

import filelock
import httpx
import httpx2
import huggingface_hub.errors as hf
import pytest
import requests
import safetensors
import safetensors.numpy
import urllib3.exceptions

from resilience_core.errors import ConfigError, IntegrityError
from resilience_core.recovery.categorize import Categorizer, Rule, categorize, mro_names
from resilience_core.recovery.taxonomy import FailureType as F
from resilience_core.recovery.taxonomy import Severity as S

URL = "http://127.0.0.1:9/acme/tiny/resolve/main/model.bin"


def fake(module: str, qualname: str, base: type[BaseException] = RuntimeError) -> type[BaseException]:
    """A class with a framework's module and qualname, so rules see what the real one shows."""
    cls = type(qualname.rsplit(".", 1)[-1], (base,), {})
    cls.__module__ = module
    cls.__qualname__ = qualname
    return cls


def caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def hf_http(cls: type[hf.HfHubHTTPError], status: int, headers: dict[str, str] | None = None) -> BaseException:
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("GET", URL))
    return cls(f"{status} error for url {URL}", response=response)


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

CASES: list[tuple[str, Callable[[], BaseException], F, S]] = [
    # --- Hugging Face Hub 2.4 ---------------------------------------------------------------------
    ("hf 500", lambda: hf_http(hf.HfHubHTTPError, 500), F.HTTP_ERROR, S.MEDIUM),
    ("hf 404 bare", lambda: hf_http(hf.HfHubHTTPError, 404), F.HTTP_ERROR, S.HIGH),
    ("hf 401", lambda: hf_http(hf.HfHubHTTPError, 401), F.PERMISSION_DENIED, S.HIGH),
    ("hf 429", lambda: hf_http(hf.HfHubHTTPError, 429, {"Retry-After": "2"}), F.HTTP_ERROR, S.MEDIUM),
    ("hf 416", lambda: hf_http(hf.HfHubHTTPError, 416), F.HTTP_ERROR, S.HIGH),
    ("hf repo missing", lambda: hf_http(hf.RepositoryNotFoundError, 404), F.MODEL_DOWNLOAD_FAILURE, S.HIGH),
    ("hf gated", lambda: hf_http(hf.GatedRepoError, 403), F.PERMISSION_DENIED, S.HIGH),
    ("hf revision", lambda: hf_http(hf.RevisionNotFoundError, 404), F.MODEL_VERSION_MISMATCH, S.HIGH),
    ("hf entry", lambda: hf_http(hf.RemoteEntryNotFoundError, 404), F.MODEL_DOWNLOAD_FAILURE, S.HIGH),
    (
        "hf LENF from ConnectError",
        lambda: caused(hf.LocalEntryNotFoundError("cannot find"), httpx2.ConnectError("[Errno 111] refused")),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
    ),
    (
        "hf LENF from HTTP 500",
        lambda: caused(hf.LocalEntryNotFoundError("cannot find"), hf_http(hf.HfHubHTTPError, 500)),
        F.HTTP_ERROR,
        S.MEDIUM,
    ),
    ("hf LENF alone", lambda: hf.LocalEntryNotFoundError("cannot find"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    (
        "hf incomplete snapshot",
        lambda: hf.IncompleteSnapshotError("1 file(s) are missing", "/tmp/snap"),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
    ),
    ("hf offline", lambda: hf.OfflineModeIsEnabled("offline"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    (
        "hf consistency",
        lambda: OSError("Consistency check failed: file should be of size 20971520 but has size 10485760 (x)."),
        F.MODEL_DOWNLOAD_FAILURE,
        S.MEDIUM,
    ),
    ("hf metadata", lambda: hf.FileMetadataError("missing X-Repo-Commit"), F.MODEL_DOWNLOAD_FAILURE, S.MEDIUM),
    # --- httpx2 / httpx ----------------------------------------------------------------------------------
    ("httpx2 read", lambda: httpx2.ReadError("[Errno 104] reset"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("httpx2 fin", lambda: httpx2.RemoteProtocolError("peer closed"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("httpx2 connect", lambda: httpx2.ConnectError("refused"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("httpx2 read timeout", lambda: httpx2.ReadTimeout("timed out"), F.NETWORK_TIMEOUT, S.MEDIUM),
    ("httpx2 connect timeout", lambda: httpx2.ConnectTimeout("timed out"), F.NETWORK_TIMEOUT, S.MEDIUM),
    ("httpx2 503", lambda: httpx_status(httpx2, 503), F.HTTP_ERROR, S.MEDIUM),
    ("httpx read", lambda: httpx.ReadError("reset"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("httpx pool timeout", lambda: httpx.PoolTimeout("pool"), F.NETWORK_TIMEOUT, S.MEDIUM),
    ("httpx 404", lambda: httpx_status(httpx, 404), F.HTTP_ERROR, S.HIGH),
    ("httpx 408", lambda: httpx_status(httpx, 408), F.HTTP_ERROR, S.MEDIUM),
    # --- requests / urllib3 ----------------------------------------------------------------------------
    ("requests conn", lambda: requests.ConnectionError("refused"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("requests connect timeout", lambda: requests.ConnectTimeout("slow"), F.NETWORK_TIMEOUT, S.MEDIUM),
    ("requests read timeout", lambda: requests.ReadTimeout("slow"), F.NETWORK_TIMEOUT, S.MEDIUM),
    (
        "requests chunked",
        lambda: requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
    ),
    ("requests 502", lambda: requests_http(502), F.HTTP_ERROR, S.MEDIUM),
    ("urllib3 protocol", lambda: urllib3.exceptions.ProtocolError("broken"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    (
        "urllib3 read timeout",
        lambda: urllib3.exceptions.ReadTimeoutError(None, URL, "Read timed out."),  # type: ignore[arg-type]
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
    ),
    (
        "urllib3 max retries",
        lambda: urllib3.exceptions.MaxRetryError(None, URL, None),  # type: ignore[arg-type]
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
    ),
    # --- stdlib ----------------------------------------------------------------------------------------
    ("enospc", lambda: OSError(errno.ENOSPC, "No space left on device"), F.STORAGE_SPACE_INSUFFICIENT, S.HIGH),
    ("edquot", lambda: OSError(errno.EDQUOT, "Disk quota exceeded"), F.STORAGE_SPACE_INSUFFICIENT, S.HIGH),
    ("efbig", lambda: OSError(errno.EFBIG, "File too large"), F.STORAGE_SPACE_INSUFFICIENT, S.HIGH),
    ("eacces", lambda: PermissionError(errno.EACCES, "Permission denied", "/x"), F.PERMISSION_DENIED, S.HIGH),
    ("eperm", lambda: OSError(errno.EPERM, "Operation not permitted"), F.PERMISSION_DENIED, S.HIGH),
    ("torch.load einval", lambda: OSError(errno.EINVAL, "Invalid argument"), F.MODEL_CORRUPTION_DETECTED, S.HIGH),
    ("eio", lambda: OSError(errno.EIO, "Input/output error"), F.SYSTEM_RESOURCE_ERROR, S.CRITICAL),
    ("reset", lambda: ConnectionResetError(errno.ECONNRESET, "reset"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("refused", lambda: ConnectionRefusedError(errno.ECONNREFUSED, "refused"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("broken pipe", lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("timeout", lambda: TimeoutError("timed out"), F.NETWORK_TIMEOUT, S.MEDIUM),
    ("socket.timeout", lambda: socket.timeout("timed out"), F.NETWORK_TIMEOUT, S.MEDIUM),  # noqa: UP041 -- the alias old clients raise
    ("gaierror", lambda: socket.gaierror(-2, "Name or service not known"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("incomplete read", lambda: http.client.IncompleteRead(b"abc", 10), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("url error", lambda: urllib.error.URLError("down"), F.NETWORK_CONNECTIVITY_LOSS, S.MEDIUM),
    ("urllib 503", lambda: urllib.error.HTTPError(URL, 503, "busy", Message(), None), F.HTTP_ERROR, S.MEDIUM),
    ("json", lambda: json_error('{"a": '), F.MODEL_CORRUPTION_DETECTED, S.MEDIUM),
    ("bad utf8", lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid"), F.MODEL_CORRUPTION_DETECTED, S.MEDIUM),
    ("empty torch file", lambda: EOFError("Ran out of input"), F.MODEL_CORRUPTION_DETECTED, S.MEDIUM),
    ("memory", MemoryError, F.RAM_EXHAUSTION, S.HIGH),
    ("import", lambda: ModuleNotFoundError("No module named 'xformers'"), F.DEPENDENCY_MISSING, S.HIGH),
    ("not implemented", lambda: NotImplementedError("fp8"), F.UNSUPPORTED_OPERATION, S.MEDIUM),
    ("would block", lambda: BlockingIOError(errno.EAGAIN, "busy"), F.LOCK_CONTENTION, S.LOW),
    ("filelock", lambda: filelock.Timeout("/cache/.locks/x.lock"), F.LOCK_CONTENTION, S.LOW),
    # --- safetensors (real) ------------------------------------------------------------------------------
    ("st header", lambda: safetensors_error(b"<html>not weights</html>"), F.MODEL_CORRUPTION_DETECTED, S.HIGH),
    ("st tiny", lambda: safetensors_error(b"abc"), F.MODEL_CORRUPTION_DETECTED, S.HIGH),
    (
        "st enospc trap",
        lambda: safetensors.SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        ),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
    ),
    # --- pip -----------------------------------------------------------------------------------------------
    (
        "pip missing",
        lambda: pip_error("ERROR: No matching distribution found for tinypkg"),
        F.DEPENDENCY_MISSING,
        S.HIGH,
    ),
    (
        "pip hash",
        lambda: pip_error("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."),
        F.DEPENDENCY_INSTALL_FAILURE,
        S.MEDIUM,
    ),
    (
        "pip offline",
        lambda: pip_error(
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...)'\n"
            "ERROR: Could not find a version that satisfies the requirement tinypkg"
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
    ),
    (
        "pip 26 incomplete download",
        lambda: pip_error(
            "error: incomplete-download\n\n"
            "x Download failed because not enough bytes were received (64 kB/1.2 MB)\n"
            "note: This is an issue with network connectivity, not pip."
        ),
        F.NETWORK_CONNECTIVITY_LOSS,
        S.MEDIUM,
    ),
    (
        "pip disk",
        lambda: pip_error("OSError: [Errno 28] No space left on device"),
        F.STORAGE_SPACE_INSUFFICIENT,
        S.HIGH,
    ),
    ("pip other", lambda: pip_error("error: subprocess-exited-with-error"), F.DEPENDENCY_INSTALL_FAILURE, S.HIGH),
    ("not pip", lambda: pip_error("fatal: not a git repository", ("git", "status")), F.UNKNOWN, S.MEDIUM),
    (
        "pip hangs",
        lambda: subprocess.TimeoutExpired(["pip", "install", "tinypkg"], 600),
        F.NETWORK_TIMEOUT,
        S.MEDIUM,
    ),
    # --- GPU frameworks (same module and qualname as the real classes) --------------------------------
    ("torch oom", lambda: TORCH_OOM(TORCH_MESSAGE), F.VRAM_EXHAUSTION, S.HIGH),
    ("torch oom empty", lambda: TORCH_OOM(""), F.VRAM_EXHAUSTION, S.HIGH),
    ("torch 1.13 oom", lambda: OLD_TORCH_OOM("CUDA out of memory."), F.VRAM_EXHAUSTION, S.HIGH),
    (
        "torch legacy",
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 376.00 MiB"),
        F.VRAM_EXHAUSTION,
        S.HIGH,
    ),
    ("accelerator", lambda: ACCELERATOR("CUDA error: out of memory"), F.VRAM_EXHAUSTION, S.HIGH),
    ("mps", lambda: RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"), F.VRAM_EXHAUSTION, S.HIGH),
    ("cpu alloc", lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory"), F.RAM_EXHAUSTION, S.HIGH),
    (
        "cupy oom is vram not ram",
        lambda: CUPY_OOM("Out of memory allocating 25,600,000 bytes (allocated so far: 3,635,267,072 bytes)."),
        F.VRAM_EXHAUSTION,
        S.HIGH,
    ),
    (
        "jaxlib oom",
        lambda: XLA("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 7406166528 bytes."),
        F.VRAM_EXHAUSTION,
        S.HIGH,
    ),
    ("jax oom", lambda: JAX("RESOURCE_EXHAUSTED: Ran out of memory in memory space hbm"), F.VRAM_EXHAUSTION, S.HIGH),
    ("jax other", lambda: XLA("INTERNAL: failed to compile"), F.UNKNOWN, S.MEDIUM),
    ("tf oom", lambda: TF_OOM("OOM when allocating tensor with shape[8,3,1024,1024]"), F.VRAM_EXHAUSTION, S.HIGH),
    ("gpu lost", lambda: GPU_LOST("GPU is lost"), F.HARDWARE_OPTIMIZATION_FAILURE, S.CRITICAL),
    ("no nvml", lambda: NVML_MISSING("NVML Shared Library Not Found"), F.HARDWARE_OPTIMIZATION_FAILURE, S.MEDIUM),
    (
        "cpu torch",
        lambda: AssertionError("Torch not compiled with CUDA enabled"),
        F.HARDWARE_OPTIMIZATION_FAILURE,
        S.MEDIUM,
    ),
    (
        "torch zip",
        lambda: RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
    ),
    (
        "unpickling",
        lambda: fake("_pickle", "UnpicklingError", Exception)("Weights only load failed"),
        F.MODEL_CORRUPTION_DETECTED,
        S.HIGH,
    ),
    # --- ours and the rest -----------------------------------------------------------------------------
    ("integrity", lambda: IntegrityError("sha256 mismatch", entry="model.bin"), F.MODEL_INTEGRITY_FAILURE, S.HIGH),
    ("config", lambda: ConfigError("bad"), F.INVALID_PARAMETERS, S.HIGH),
    ("value error", lambda: ValueError("something odd"), F.UNKNOWN, S.MEDIUM),
]


def test_the_table_is_large_enough() -> None:
    """The acceptance criterion asks for at least 40 real exception objects."""
    assert len(CASES) >= 40


@pytest.mark.parametrize(("label", "build", "failure_type", "severity"), CASES, ids=[c[0] for c in CASES])
def test_exception_maps_to_type_and_severity(
    label: str, build: Callable[[], BaseException], failure_type: F, severity: S
) -> None:
    """Each exception gets its expected FailureType and Severity, and details keep the raw type and message."""
    error = build()
    ctx = categorize(error, operation="model_download")
    assert (ctx.failure_type, ctx.severity) == (failure_type, severity), ctx.details
    assert ctx.details["raw_type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert ctx.details["raw_message"] == str(error)[:500]
    assert ctx.operation == "model_download"
    assert ctx.error is error


def test_http_status_and_retry_after_land_in_details() -> None:
    """HTTP status is found duck-typed on .response; Retry-After is parsed; 4xx other than 408/429 is final."""
    ctx = categorize(hf_http(hf.HfHubHTTPError, 429, {"Retry-After": "3"}))
    assert ctx.details["http_status"] == 429
    assert ctx.details["retry_after_s"] == 3.0
    assert ctx.details["retryable"] is True
    assert ctx.details["url"] == URL
    assert categorize(httpx_status(httpx, 404)).details["retryable"] is False


def test_errno_and_path_land_in_details() -> None:
    """OSError errno and filename are copied into details."""
    ctx = categorize(OSError(errno.ENOSPC, "No space left on device", "/models/model.bin"))
    assert ctx.details["errno"] == errno.ENOSPC
    assert ctx.details["path"] == "/models/model.bin"


def test_oom_messages_give_bytes_needed() -> None:
    """torch, CuPy and JAX OOM messages give the allocation size in bytes."""
    assert categorize(TORCH_OOM(TORCH_MESSAGE)).details["bytes_needed"] == 576 * 2**20
    cupy = CUPY_OOM("Out of memory allocating 25,600,000 bytes (allocated so far: 3 bytes).")
    assert categorize(cupy).details["bytes_needed"] == 25_600_000
    jax = XLA("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 7406166528 bytes.")
    assert categorize(jax).details["bytes_needed"] == 7406166528


def test_consistency_check_sizes_are_parsed() -> None:
    """The hub's size check message gives expected and received sizes."""
    ctx = categorize(OSError("Consistency check failed: file should be of size 20 but has size 10 (x)."))
    assert ctx.details["expected_size_bytes"] == 20
    assert ctx.details["received_size_bytes"] == 10


def test_disk_full_wins_over_corruption_anywhere_in_the_chain() -> None:
    """An ENOSPC cause beats the corruption reading of its SafetensorError wrapper."""
    outer = caused(safetensors.SafetensorError("Error while serializing"), OSError(errno.ENOSPC, "No space left"))
    ctx = categorize(outer)
    assert ctx.failure_type is F.STORAGE_SPACE_INSUFFICIENT
    assert ctx.details["matched_type"] == "builtins.OSError"
    assert ctx.details["causes"] == ("builtins.OSError",)


def test_implicit_context_is_walked() -> None:
    """An exception raised while handling another is categorized through __context__."""
    try:
        try:
            raise httpx2.ReadTimeout("timed out")
        except httpx2.ReadTimeout:
            raise hf.LocalEntryNotFoundError("cannot find the requested files") from None
    except hf.LocalEntryNotFoundError as exc:
        error = exc
    assert categorize(error).failure_type is F.NETWORK_TIMEOUT


def test_cause_cycles_terminate() -> None:
    """A cycle in __cause__/__context__ neither loops nor crashes."""
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__context__ = b, a
    assert categorize(a).failure_type is F.UNKNOWN


def test_long_chains_are_bounded() -> None:
    """Only the first links of a very long chain are inspected."""
    head: BaseException = ValueError("0")
    current = head
    for i in range(1, 200):
        nxt = ValueError(str(i))
        current.__cause__ = nxt
        current = nxt
    current.__cause__ = OSError(errno.ENOSPC, "deep")
    assert categorize(head).failure_type is F.UNKNOWN
    assert len(categorize(head).details["causes"]) < 10


def test_unknown_keeps_raw_type_and_message() -> None:
    """An unrecognised exception is unknown, not retryable, and keeps what it said."""
    ctx = categorize(KeyError("steps"))
    assert ctx.failure_type is F.UNKNOWN
    assert ctx.details["raw_type"] == "builtins.KeyError"
    assert ctx.details["raw_message"] == "'steps'"
    assert ctx.details["retryable"] is False


def test_custom_rule_with_higher_priority_wins() -> None:
    """A user rule can claim an exception the defaults already know."""
    cat = Categorizer()
    cat.add_rule(Rule(F.BANDWIDTH_LIMITATION, S.LOW, types=("httpx2.ReadError",), priority=200, name="mine"))
    ctx = cat.categorize(httpx2.ReadError("x"))
    assert (ctx.failure_type, ctx.details["rule"]) == (F.BANDWIDTH_LIMITATION, "mine")


def test_rule_without_condition_is_refused() -> None:
    """A rule that would match everything is a mistake and is refused at construction."""
    with pytest.raises(ValueError, match="no condition"):
        Rule(F.UNKNOWN)


def test_mro_names_include_short_and_bare_forms() -> None:
    """Rules may say httpx2.ReadError for httpx2._exceptions.ReadError, and MemoryError for builtins."""
    names = mro_names(httpx2.ReadError)
    assert "httpx2.ReadError" in names
    assert "httpx2.NetworkError" in names
    assert "MemoryError" in mro_names(MemoryError)
    assert "safetensors.SafetensorError" in mro_names(safetensors.SafetensorError)


def test_raising_property_does_not_break_categorization() -> None:
    """An exception whose .response property raises is still categorized."""

    class Odd(ConnectionError):
        @property
        def response(self) -> object:
            raise RuntimeError("no response here")

    assert categorize(Odd("x")).failure_type is F.NETWORK_CONNECTIVITY_LOSS
