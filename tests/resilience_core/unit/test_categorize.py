"""categorize(): details (status, errno, path, sizes, network cause, host), the cause chain, custom rules.

The table of exceptions and their types lives in test_categorize_table.py.
"""

from __future__ import annotations

import errno
import socket
import ssl
import subprocess

import httpx
import httpx2
import huggingface_hub.errors as hf
import pytest
import requests
import safetensors
import safetensors.numpy

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


TORCH_OOM = fake("torch", "OutOfMemoryError")
CUPY_OOM = fake("cupy.cuda.memory", "OutOfMemoryError", MemoryError)
XLA = fake("jaxlib.xla_extension", "XlaRuntimeError")

TORCH_MESSAGE = (
    "CUDA out of memory. Tried to allocate 576.00 MiB. GPU 0 has a total capacity of 31.36 GiB of which "
    "370.69 MiB is free."
)


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


def test_network_cause_tells_dns_refused_reset_unreachable_and_timeout_apart() -> None:
    """details["network_cause"] says which network failure it was, from an errno, a type or the words."""
    causes = {
        "dns": socket.gaierror(-3, "Temporary failure in name resolution"),
        "refused": RuntimeError("Connection refused"),
        "reset": RuntimeError("Connection reset by peer"),
        "unreachable": OSError(errno.ENETUNREACH, "Network is unreachable"),
        "timeout": RuntimeError("Read timed out"),
        "proxy": requests.exceptions.ProxyError("Cannot connect to proxy."),
    }
    found = {cause: categorize(error).details.get("network_cause") for cause, error in causes.items()}
    assert found == {cause: cause for cause in causes}


def test_a_wrapped_network_error_is_retryable() -> None:
    """A RuntimeError that only says "Connection reset by peer" is network loss, and retryable."""
    ctx = categorize(RuntimeError("Connection reset by peer"))
    assert (ctx.failure_type, ctx.details["retryable"], ctx.details["rule"]) == (
        F.NETWORK_CONNECTIVITY_LOSS,
        True,
        "network-message",
    )


def test_certificate_errors_are_tls_not_permission_and_not_retried() -> None:
    """ssl.SSLCertVerificationError carries errno 1 (EPERM's number): it is a TLS failure, never retried blindly."""
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed")
    ctx = categorize(error)
    assert ctx.failure_type is F.NETWORK_CONNECTIVITY_LOSS
    assert (ctx.details["network_cause"], ctx.details["tls"], ctx.details["retryable"]) == ("tls", "untrusted", False)
    expired = categorize(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired (_ssl.c:1006)"))
    assert expired.details["tls"] == "expired"


def test_host_and_port_come_from_the_url_or_the_clients_words() -> None:
    """The host is read from the URL when there is one, else from "host='...', port=N" or a resolver message."""
    from_url = categorize(hf_http(hf.HfHubHTTPError, 500)).details
    assert (from_url["host"], from_url["port"]) == ("127.0.0.1", 9)
    words = requests.ConnectionError("HTTPSConnectionPool(host='huggingface.co', port=443): Read timed out.")
    assert (categorize(words).details["host"], categorize(words).details["port"]) == ("huggingface.co", 443)
    resolver = RuntimeError("Failed to resolve 'cdn-lfs.hf.co' ([Errno -2] Name or service not known)")
    details = categorize(resolver).details
    assert (details["host"], details["network_cause"]) == ("cdn-lfs.hf.co", "dns")
    assert "port" not in details


def test_a_hung_command_is_not_a_network_timeout() -> None:
    """subprocess's "timed out after N seconds" for a command that is not pip says nothing about the network."""
    error = subprocess.TimeoutExpired(["ffmpeg", "-i", "x.mp4"], 600)
    assert categorize(error).failure_type is F.UNKNOWN


def test_vram_messages_give_bytes_free() -> None:
    """torch's "of which X is free" and the older "; X free;" both land in details["bytes_free"]."""
    assert categorize(TORCH_OOM(TORCH_MESSAGE)).details["bytes_free"] == int(370.69 * 2**20)
    old = RuntimeError("CUDA out of memory. Tried to allocate 2.00 MiB (GPU 0; 4 GiB total capacity; 1.50 GiB free; x)")
    assert categorize(old).details["bytes_free"] == int(1.5 * 2**30)


def test_a_remembered_message_gives_the_same_verdict_and_the_memory_is_bounded() -> None:
    """The per-message memo changes nothing (same type, rule and details) and never grows past its limit."""
    import importlib

    module = importlib.import_module("resilience_core.recovery.categorize")

    cat = Categorizer()
    first = cat.categorize(RuntimeError("Connection reset by peer"))
    again = cat.categorize(RuntimeError("Connection reset by peer"))
    assert (first.failure_type, dict(first.details)) == (again.failure_type, dict(again.details))
    pip = subprocess.CalledProcessError(1, ["git", "fetch"], output="fatal: Connection reset by peer")
    assert cat.categorize(pip).details["rule"] == "network-message"  # same words, but the predicate still runs
    for index in range(module._MEMO_LIMIT + 50):
        cat.categorize(RuntimeError(f"odd failure number {index}"))
    assert len(cat._memo) <= module._MEMO_LIMIT
