"""resilience_core.hub: resumable, verified Hugging Face downloads (the runbook's ``models ensure / verify / gc /
status``). Install the extra: ``pip install 'resilience-chaos[hub]'``.

huggingface_hub supplies the metadata and the cache layout; the bytes move through our own resumable,
hash-checked transfer, and every failure goes through :class:`resilience_core.recovery.runtime.Runtime`.

>>> from resilience_core.hub import ensure_model, verify_model
>>> result = ensure_model("acme/wan-mini", "main", sources=[hub, mirror], cache_dir=cache)  # doctest: +SKIP
>>> verify_model("acme/wan-mini", "main", cache_dir=cache).ok  # doctest: +SKIP
True

Facade only; importing it loads neither huggingface_hub nor filelock.
"""

from __future__ import annotations

from resilience_core.hub.ensure import EnsureResult, ensure_model, hub_runtime
from resilience_core.hub.errors import ChecksumMismatch, HubHTTPError, HubProtocolError, ModelNotFoundError
from resilience_core.hub.maintenance import GcReport, ModelState, ModelStatus, gc, status
from resilience_core.hub.transfer import DownloadStats, RemoteFile, download_blob
from resilience_core.hub.verify import ModelVerification, verify_model

__all__ = [
    "ChecksumMismatch",
    "DownloadStats",
    "EnsureResult",
    "GcReport",
    "HubHTTPError",
    "HubProtocolError",
    "ModelNotFoundError",
    "ModelState",
    "ModelStatus",
    "ModelVerification",
    "RemoteFile",
    "download_blob",
    "ensure_model",
    "gc",
    "hub_runtime",
    "status",
    "verify_model",
]
