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
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from resilience_core.config import TimeoutsConfig
from resilience_core.recovery.taxonomy import ErrorContext, FailureType

__all__ = ["advice_for", "format_bytes"]

F = FailureType
Advice = tuple[str, tuple[str, ...]]

_TIMEOUT_FIELDS = frozenset(f.name for f in fields(TimeoutsConfig) if f.name.endswith("_seconds"))
_RETRIES = "raise retry.max_retries (RESILIENCE_RETRY_MAX_RETRIES) in the reliability config to keep trying longer"
_MIRROR = "add a mirror to recovery.alternative_sources so the installer can switch to it"
_REPO_IN_URL = re.compile(r"https?://[^/]+/(?:api/models/|models/)?([\w.-]+/[\w.-]+)/(?:resolve|revision|tree)/")
_REPO_IN_TEXT = re.compile(r"(?:Access to model|Repo model|gated repo[^.]*?for url \S+?/)\s*([\w.-]+/[\w.-]+)")
_MODULE = re.compile(r"No module named '([^']+)'")
_PIP_PROJECT = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")
_LOCK_PATH = re.compile(r"lock '([^']+)'")


def format_bytes(count: int) -> str:
    """``1610612736`` -> ``'1.5 GiB'``: binary units, one decimal, bytes below 1 KiB.

    >>> format_bytes(576 << 20), format_bytes(12)
    ('576.0 MiB', '12 bytes')
    """
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover -- the loop returns at TiB


def advice_for(ctx: ErrorContext) -> Advice | None:
    """The specific message and steps for ``ctx``, or None when nothing more than the generic text is known."""
    build = _BUILDERS.get(ctx.failure_type)
    return build(ctx, ctx.details) if build is not None else None


# --- what the advice names ---------------------------------------------------------------------------------


def _host(details: Mapping[str, Any], default: str = "the server") -> str:
    host = details.get("host")
    if not isinstance(host, str) or not host:
        return default
    port = details.get("port")
    return f"{host}:{port}" if isinstance(port, int) else host


def _is_pip(ctx: ErrorContext) -> bool:
    rule = str(ctx.details.get("rule", ""))
    if rule.startswith("pip-") or ctx.operation == "dependency_install":
        return True
    cmd = getattr(ctx.error, "cmd", None)
    return "pip" in (" ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd or ""))


def _source_setting(ctx: ErrorContext) -> str:
    """The setting that says where to download from, for this operation."""
    if _is_pip(ctx):
        return "--index-url (index_url in the installer's config)"
    if ctx.operation is not None and ctx.operation.startswith("model"):
        return "HF_ENDPOINT (or the installer's model sources)"
    return "HF_ENDPOINT (models) or --index-url (packages)"


def _timeout_setting(ctx: ErrorContext) -> str:
    name = f"{ctx.operation}_seconds" if ctx.operation else ""
    if name in _TIMEOUT_FIELDS:
        return f"timeouts.{name} (RESILIENCE_TIMEOUTS_{name.upper()})"
    if _is_pip(ctx):
        return "timeouts.dependency_install_seconds and pip's --timeout"
    return "timeouts.<operation>_seconds (for example timeouts.model_download_seconds)"


def _repo(ctx: ErrorContext) -> str | None:
    for text in (str(ctx.details.get("url", "")), str(ctx.details.get("raw_message", ""))):
        match = _REPO_IN_URL.search(text) or _REPO_IN_TEXT.search(text)
        if match is not None:
            return match.group(1)
    return None


def _path(ctx: ErrorContext) -> str | None:
    path = ctx.details.get("path")
    if isinstance(path, str) and path:
        return path
    for attr in ("entry", "lock_file", "filename"):
        value = getattr(ctx.error, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def _free_bytes_near(path: str) -> int | None:
    where = os.path.abspath(path)
    while where and not os.path.isdir(where):
        parent = os.path.dirname(where)
        if parent == where:
            return None
        where = parent
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


# --- per failure type --------------------------------------------------------------------------------------


def _network(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    host = _host(d)
    source = _source_setting(ctx)
    cause = d.get("network_cause")
    if cause == "tls":
        return _tls(ctx, d, host)
    if cause == "dns":
        name = d.get("host")
        check = f"Check that {name} is spelled right in {source}" if name else f"Check the host name in {source}"
        return (
            f"The name {name} could not be resolved (the DNS lookup failed)."
            if name
            else "A server name could not be resolved (the DNS lookup failed).",
            (
                f"{check}, and that this computer can resolve it (`nslookup {name or '<host>'}`).",
                "Check the internet connection, VPN and DNS settings; behind a proxy set HTTPS_PROXY.",
                f"Retry when the network is back, or {_RETRIES}.",
            ),
        )
    if cause == "refused":
        return (
            f"{_cap(host)} refused the connection: nothing is listening on that address and port.",
            (
                f"Check that {host} is running, or point {source} at one that is.",
                "A firewall may block the port; behind a proxy set HTTPS_PROXY (and NO_PROXY for local servers).",
                f"Or {_MIRROR}.",
            ),
        )
    if cause == "unreachable":
        return (
            f"The network path to {host} is down (no route to the host).",
            (
                "Check the network connection (cable, Wi-Fi, VPN) and that the address is reachable from here.",
                f"Or point {source} at a server this machine can reach.",
                f"Retry when the network is back, or {_RETRIES}.",
            ),
        )
    if cause == "proxy":
        return (
            f"The proxy failed the connection to {host}.",
            (
                (
                    "Check HTTPS_PROXY / HTTP_PROXY: address, port, and credentials (a 407 answer means the proxy "
                    "wants user:password in its URL); list local servers in NO_PROXY."
                ),
                f"Or point {source} at a server reachable without the proxy.",
            ),
        )
    if cause == "timeout" or ctx.failure_type is F.NETWORK_TIMEOUT:
        return (
            f"{_cap(host)} did not answer within the time limit.",
            (
                f"Raise {_timeout_setting(ctx)} in the reliability config if the connection is just slow.",
                f"Check the connection speed and retry later, or {_RETRIES}.",
                f"Or {_MIRROR}.",
            ),
        )
    if cause == "closed":
        what = f"{_cap(host)} closed the connection before the transfer finished."
    elif cause == "reset":
        what = f"The connection to {host} was reset during the transfer."
    else:
        what = f"The connection to {host} was lost."
    steps = [
        "Retry: finished files are kept and partial downloads resume where they stopped.",
        f"If this repeats, {_RETRIES}, or {_MIRROR}.",
        "A proxy or firewall that cuts long transfers causes this too: check HTTPS_PROXY.",
    ]
    if _is_pip(ctx):
        steps.insert(1, "pip >= 25.1 resumes an interrupted download itself with --resume-retries N.")
    return what, tuple(steps)


def _tls(ctx: ErrorContext, d: Mapping[str, Any], host: str) -> Advice:
    reason = d.get("tls")
    pip = " (pip: --cert or PIP_CERT)" if _is_pip(ctx) else ""
    bundle = (
        "If a corporate proxy or antivirus inspects HTTPS, export its root CA as a PEM file and point "
        f"REQUESTS_CA_BUNDLE and SSL_CERT_FILE at it{pip}; do not turn verification off."
    )
    clock = "Check the system clock, date and time zone: a wrong date makes valid certificates look expired."
    update = "Update the trusted CA certificates (pip install -U certifi, or the system's ca-certificates package)."
    if reason == "ca_bundle":
        path = d.get("path") or "the configured file"
        return (
            f"The CA bundle {path} does not exist, so no TLS certificate can be checked.",
            (f"Point REQUESTS_CA_BUNDLE / SSL_CERT_FILE at an existing PEM file, or unset them ({path}).", update),
        )
    if reason == "expired":
        return (f"The TLS certificate of {host} is expired or not yet valid.", (clock, bundle, update))
    if reason == "hostname":
        return (
            f"The TLS certificate of {host} is for another name.",
            (f"Check the host name in {_source_setting(ctx)}.", bundle),
        )
    if reason == "untrusted":
        return (
            f"The TLS certificate of {host} is not trusted (self-signed or an unknown issuer).",
            (bundle, clock, update),
        )
    if reason in ("protocol", "no_ssl_module"):
        return (
            (
                f"A secure (TLS) connection to {host} could not be set up: this Python or the server speaks an "
                "unsupported protocol."
            ),
            (
                f"Check that {_source_setting(ctx)} uses https:// only where the server speaks TLS.",
                "Update Python and pip (an old OpenSSL cannot speak TLS 1.2+), then retry.",
                bundle,
            ),
        )
    return (
        f"The secure (TLS) connection to {host} was broken off.",
        (
            bundle,
            clock,
            f"Retry: a dropped handshake is often transient; if it repeats, {_RETRIES}.",
        ),
    )


def _http(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    status = d.get("http_status")
    host = _host(d)
    source = _source_setting(ctx)
    if status == 429 or (status is None and ctx.failure_type is F.BANDWIDTH_LIMITATION):
        wait = d.get("retry_after_s")
        pause = (
            f"Wait {wait:g} s (the server's Retry-After) and retry."
            if isinstance(wait, float)
            else ("Wait a few minutes and retry.")
        )
        return (
            f"{_cap(host)} is rate-limiting requests" + (" (HTTP 429)." if status else "."),
            (pause, "Set HF_TOKEN to an access token: signed-in requests get a higher rate limit.", f"Or {_MIRROR}."),
        )
    if isinstance(status, int) and status >= 500:
        return (
            f"{_cap(host)} had a server error (HTTP {status}).",
            (f"Retry later; if it lasts, {_RETRIES}.", f"Or {_MIRROR}, or point {source} at one."),
        )
    if status == 404:
        target = d.get("url") or host
        return (
            f"{target} was not found (HTTP 404).",
            (
                "Check the repository id, revision and file name in the installer's config.",
                "For a private repository set HF_TOKEN to a token that can read it.",
                f"Check that {source} points at the right server.",
            ),
        )
    if status == 416:
        return (
            f"{_cap(host)} refused to resume a partial download (HTTP 416).",
            ("Delete the partial file (*.part, *.incomplete) named in the log and run the installer again.",),
        )
    return (
        f"{_cap(host)} answered with an error (HTTP {status}).",
        (f"Check that {source} points at the right server, and the repository id and revision.",),
    )


def _permission(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    status = d.get("http_status")
    if isinstance(status, int) or str(d.get("rule", "")).startswith("hf-gated"):
        repo = _repo(ctx)
        what = repo or d.get("url") or "the model"
        page = f" on {_origin(d)}/{repo}" if repo else ""
        return (
            f"{_cap(_host(d))} refused access to {what}" + (f" (HTTP {status})." if status else "."),
            (
                f"Set HF_TOKEN to an access token that can read {what} (`huggingface-cli login` stores one).",
                f"For a gated model, accept its terms{page} with the same account.",
                "Check that the token has not expired or been revoked.",
            ),
        )
    path = _path(ctx) or "the install folder"
    if d.get("errno") == errno.EROFS:
        return (
            f"{path} is on a read-only file system.",
            ("Choose an install folder on a writable disk (install_dir in the installer's config).",),
        )
    parent = os.path.dirname(path) or path
    return (
        f"Permission was denied on {path}.",
        (
            f"Make {parent} writable for this user, or run the installer as the folder's owner.",
            "Or choose another install folder (install_dir in the installer's config).",
        ),
    )


def _disk(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = _path(ctx)
    needed = d.get("bytes_needed")
    free = d.get("bytes_free")
    if free is None and path is not None:
        free = _free_bytes_near(path)
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
                f"If it repeats, a proxy may be cutting the transfer: check HTTPS_PROXY, or {_MIRROR}.",
            ),
        )
    repo = _repo(ctx)
    if d.get("http_status") == 404 or str(d.get("rule", "")) == "hf-not-found":
        what = repo or d.get("url") or "The repository or file"
        return (
            f"{what} does not exist on {_host(d)}.",
            (
                "Check the repository id and file name in the installer's config.",
                "For a private repository set HF_TOKEN to a token that can read it.",
            ),
        )
    return (
        f"A model file could not be downloaded from {_host(d)}.",
        (f"Retry: finished files are kept; if it repeats, {_MIRROR}.", f"Check {_source_setting(ctx)}."),
    )


def _corrupt(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = _path(ctx)
    what = f"The model file {path}" if path else "A model file"
    return (
        f"{what} is damaged (truncated or not what it claims to be).",
        (
            f"Delete {path or 'the damaged file'} and run the installer again to fetch a fresh copy.",
            "If this repeats, check the disk for errors and the network for a proxy that alters downloads.",
        ),
    )


def _integrity(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = _path(ctx)
    return (
        f"{path or 'A model file'} does not match its expected checksum.",
        (
            f"Run the installer again: {path or 'the file'} is fetched again and checked before it is used.",
            "If this repeats, check the disk and the network (a proxy altering downloads).",
        ),
    )


def _version(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    repo = _repo(ctx) or "the model"
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
            + (f" ({_host(d)})." if "host" in d else "."),
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
    path = _path(ctx) or (found.group(1) if found else "a lock file")
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
    path = _path(ctx)
    return (
        f"The disk reported a hardware I/O error{' on ' + path if path else ''}.",
        (
            "Stop and check the disk (SMART status, system log) before retrying; nothing further was written.",
            "Or choose an install folder on another disk (install_dir in the installer's config).",
        ),
    )


def _unknown(ctx: ErrorContext, d: Mapping[str, Any]) -> Advice:
    path = _path(ctx)
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


def _origin(details: Mapping[str, Any]) -> str:
    url = details.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return "https://huggingface.co"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_BUILDERS: Mapping[FailureType, Callable[[ErrorContext, Mapping[str, Any]], Advice]] = {
    F.NETWORK_CONNECTIVITY_LOSS: _network,
    F.NETWORK_TIMEOUT: _network,
    F.BANDWIDTH_LIMITATION: _http,
    F.HTTP_ERROR: _http,
    F.PERMISSION_DENIED: _permission,
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
    F.UNKNOWN: _unknown,
}
